package postgres

import (
	"errors"
	"fmt"
	"strings"
)

// The guards of a switchover. A blocking one carries its typed error below.
const (
	GuardInstances = "instances"
	GuardInFlight  = "in-flight"
	GuardFenced    = "fenced"
	GuardHibernate = "hibernated"
	GuardReplica   = "replica-cluster"
	GuardTarget    = "target"
	GuardLag       = "lag"
	GuardPooler    = "pooler"
)

// Sentinels of the guard errors, for errors.Is.
var (
	// ErrSingleInstance: the cluster has one instance: there is nothing to
	// switch over to.
	ErrSingleInstance = errors.New("postgres: a single-instance cluster has no replica to switch over to")
	// ErrInFlight: a switchover or failover is already under way, or the
	// cluster is not healthy.
	ErrInFlight = errors.New("postgres: the cluster is already changing its primary or is not healthy")
	// ErrUnavailable: the cluster is fenced, hibernated or a replica
	// cluster: its primary cannot change here.
	ErrUnavailable = errors.New("postgres: the cluster's primary cannot be changed now")
	// ErrTarget: the target is not a ready replica of this cluster.
	ErrTarget = errors.New("postgres: the target is not a ready replica of the cluster")
	// ErrLag: the target is too far behind the primary.
	ErrLag = errors.New("postgres: the target lags the primary")
)

// SingleInstanceError: a switchover needs a replica; the small template
// runs one instance. Draining its node stops the database until the pod
// runs on another node and its volume follows.
type SingleInstanceError struct {
	Cluster string `json:"cluster"`
	Primary string `json:"primary"`
}

func (e *SingleInstanceError) Error() string {
	return fmt.Sprintf("postgres: cluster %s runs one instance (%s): failover is not available, and draining its node stops the database until %s runs elsewhere; add a replica first (postgresql.instances)",
		e.Cluster, e.Primary, e.Primary)
}

// Is reports ErrSingleInstance.
func (e *SingleInstanceError) Is(target error) bool { return target == ErrSingleInstance }

// InFlightError: the primary is already changing (currentPrimary differs
// from targetPrimary), or the phase is not one a switchover may start
// from.
type InFlightError struct {
	Cluster        string `json:"cluster"`
	CurrentPrimary string `json:"currentPrimary"`
	TargetPrimary  string `json:"targetPrimary"`
	Phase          string `json:"phase"`
}

func (e *InFlightError) Error() string {
	if e.CurrentPrimary != e.TargetPrimary {
		return fmt.Sprintf("postgres: cluster %s is already moving its primary from %s to %s (phase %q): wait for it to finish", e.Cluster, e.CurrentPrimary, e.TargetPrimary, e.Phase)
	}
	return fmt.Sprintf("postgres: cluster %s is in phase %q, not healthy: a switchover starts from a healthy cluster", e.Cluster, e.Phase)
}

// Is reports ErrInFlight.
func (e *InFlightError) Is(target error) bool { return target == ErrInFlight }

// UnavailableError: the cluster is fenced (Fenced lists the instances),
// hibernated, or a replica cluster, whose primary follows another cluster.
type UnavailableError struct {
	Cluster string   `json:"cluster"`
	Why     string   `json:"why"`
	Fenced  []string `json:"fenced,omitempty"`
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("postgres: cluster %s %s", e.Cluster, e.Why)
}

// Is reports ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// TargetError: the named target is not a ready replica of the cluster, or
// none of its replicas is, when the plan picks one.
type TargetError struct {
	Cluster string `json:"cluster"`
	Target  string `json:"target,omitempty"`
	Reason  string `json:"reason"`
}

func (e *TargetError) Error() string {
	if e.Target == "" {
		return fmt.Sprintf("postgres: cluster %s has no replica to switch over to: %s", e.Cluster, e.Reason)
	}
	return fmt.Sprintf("postgres: %s cannot become the primary of %s: %s", e.Target, e.Cluster, e.Reason)
}

// Is reports ErrTarget.
func (e *TargetError) Is(target error) bool { return target == ErrTarget }

// LagError: the target's replay is LagBytes behind the primary's write
// position, more than MaxLagBytes: the switch would wait that long, the
// database unwritable meanwhile. Unreadable says why the lag could not be
// read at all, which blocks as well: a guard that cannot see the lag does
// not pass it.
type LagError struct {
	Target      string `json:"target"`
	LagBytes    int64  `json:"lagBytes,omitempty"`
	MaxLagBytes int64  `json:"maxLagBytes"`
	// Primary and Replay are the two positions.
	Primary    string `json:"primary,omitempty"`
	Replay     string `json:"replay,omitempty"`
	Unreadable string `json:"unreadable,omitempty"`
}

func (e *LagError) Error() string {
	if e.Unreadable != "" {
		return fmt.Sprintf("postgres: the lag of %s cannot be read: %s", e.Target, e.Unreadable)
	}
	return fmt.Sprintf("postgres: %s replays at %s, %d bytes behind the primary's %s (the limit is %d)", e.Target, e.Replay, e.LagBytes, e.Primary, e.MaxLagBytes)
}

// Is reports ErrLag.
func (e *LagError) Is(target error) bool { return target == ErrLag }

func joinNames(names []string) string { return strings.Join(names, ", ") }
