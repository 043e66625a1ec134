package natstest

import (
	"errors"
	"fmt"
)

// Sentinel errors. The typed errors below match one of them with errors.Is,
// so a test can tell a mistake of its own (a name the cluster has no server
// for, stopping a server twice) from a server that failed.
var (
	// ErrInvalidOptions: Start was given options it cannot run; nothing
	// was started.
	ErrInvalidOptions = errors.New("natstest: invalid options")
	// ErrUnknownServer: a name that is no server of the cluster (not
	// "<ServerNamePrefix><Name>-<ordinal>" with an ordinal below Routes).
	ErrUnknownServer = errors.New("natstest: no such server")
	// ErrNotRunning: the operation needs a running server and this one is
	// stopped.
	ErrNotRunning = errors.New("natstest: server not running")
	// ErrRunning: the operation needs a stopped server (Wipe) and this one
	// runs.
	ErrRunning = errors.New("natstest: server running")
	// ErrNotFollowing: the operation needs Follow running (WaitRollout).
	ErrNotFollowing = errors.New("natstest: not following a StatefulSet")
)

// OptionsError says which field of Options Start refused and why. It
// matches ErrInvalidOptions.
type OptionsError struct {
	Field  string
	Reason string
}

func (e *OptionsError) Error() string {
	return fmt.Sprintf("natstest: Options.%s: %s", e.Field, e.Reason)
}

// Is reports ErrInvalidOptions.
func (e *OptionsError) Is(target error) bool { return target == ErrInvalidOptions }

// ServerError is a refused operation on one server. Err is ErrUnknownServer,
// ErrNotRunning or ErrRunning, which errors.Is reaches.
type ServerError struct {
	// Op is the operation: "stop", "wipe", "restart", "reload", ...
	Op string
	// Server is the name the operation was given.
	Server string
	// Cluster is the StatefulSet-like name of the cluster
	// ("<ServerNamePrefix><Name>").
	Cluster string
	Err     error
}

func (e *ServerError) Error() string {
	switch e.Err {
	case ErrUnknownServer:
		return fmt.Sprintf("natstest: %s: %q is not a server of cluster %s", e.Op, e.Server, e.Cluster)
	case ErrNotRunning:
		return fmt.Sprintf("natstest: %s: %s is not running", e.Op, e.Server)
	case ErrRunning:
		return fmt.Sprintf("natstest: %s: %s is running; stop it first", e.Op, e.Server)
	}
	return fmt.Sprintf("natstest: %s %s: %v", e.Op, e.Server, e.Err)
}

// Unwrap returns Err.
func (e *ServerError) Unwrap() error { return e.Err }
