package nats

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels of the guard errors below, for errors.Is. A blocked plan's Apply
// returns a *scaling.GuardBlockedError whose causes are these typed errors.
var (
	// ErrQuorum: the target size cannot keep a JetStream meta quorum.
	ErrQuorum = errors.New("nats: the target size cannot keep a meta quorum")
	// ErrUnhealthy: the cluster is not healthy enough to change its size.
	ErrUnhealthy = errors.New("nats: the cluster is not healthy")
	// ErrStreamReplicas: streams want more replicas than the target size.
	ErrStreamReplicas = errors.New("nats: streams want more replicas than servers")
	// ErrDataOnLeavingServers: data lives only on servers the plan removes.
	ErrDataOnLeavingServers = errors.New("nats: data lives only on leaving servers")
	// ErrNoAccountConnection: a stream's replicas must change, and Options.Accounts
	// has no connection for its account.
	ErrNoAccountConnection = errors.New("nats: no connection for a stream's account")
	// ErrConfigRoll: the chart would roll every server on each resize step,
	// and the meta group would lose its quorum doing so.
	ErrConfigRoll = errors.New("nats: resizing would roll the servers into a lost quorum")
)

// ConfigRollError: the chart rolls every server on each nats.conf change
// (checksum/config) and a resize step's roll would leave the meta group
// without a quorum: with Members peers, one leaving and one restarting, the
// rest are not a majority.
type ConfigRollError struct {
	From, To, Members int
}

func (e *ConfigRollError) Error() string {
	return fmt.Sprintf("nats: resizing %d -> %d servers changes nats.conf (the routes) at every step, and this chart rolls every server on a config change: with %d meta peers, one leaving and one restarting, %d of %d answer, below the quorum of %d",
		e.From, e.To, e.Members, e.Members-2, e.Members, e.Members/2+1)
}

// Is reports ErrConfigRoll.
func (e *ConfigRollError) Is(target error) bool { return target == ErrConfigRoll }

// StreamRef names one stream and its replicas.
type StreamRef struct {
	Account  string   `json:"account"`
	Name     string   `json:"name"`
	Replicas int      `json:"replicas"`
	Peers    []string `json:"peers,omitempty"`
}

func (s StreamRef) String() string { return fmt.Sprintf("%s/%s (R%d)", s.Account, s.Name, s.Replicas) }

func streamList(ss []StreamRef) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
		if len(s.Peers) > 0 {
			parts[i] += " on " + strings.Join(s.Peers, ",")
		}
	}
	return strings.Join(parts, ", ")
}

// QuorumError: a clustered meta group of fewer than two servers. One server
// is only reachable by turning clustering off.
type QuorumError struct {
	Current, Target int
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("nats: scaling a clustered JetStream from %d to %d servers: a meta group below 2 servers has no fault tolerance and, while the last peers leave, no quorum", e.Current, e.Target)
}

// Is reports ErrQuorum.
func (e *QuorumError) Is(target error) bool { return target == ErrQuorum }

// UnhealthyError: the meta group has no leader, or peers are offline or
// lagging. Changing the size then risks the quorum.
type UnhealthyError struct {
	Leader string `json:"leader"`
	// Size is the meta group's size; Answering the servers that replied.
	Size      int      `json:"size"`
	Answering int      `json:"answering"`
	Offline   []string `json:"offline,omitempty"`
	Lagging   []string `json:"lagging,omitempty"`
	// Leaderless streams have no leader.
	Leaderless []StreamRef `json:"leaderless,omitempty"`
}

func (e *UnhealthyError) Error() string {
	var parts []string
	if e.Leader == "" {
		parts = append(parts, fmt.Sprintf("no meta leader (%d of %d servers answer)", e.Answering, e.Size))
	}
	if len(e.Offline) > 0 {
		parts = append(parts, "offline peers "+strings.Join(e.Offline, ","))
	}
	if len(e.Lagging) > 0 {
		parts = append(parts, "lagging peers "+strings.Join(e.Lagging, ","))
	}
	if len(e.Leaderless) > 0 {
		parts = append(parts, "streams without a leader "+streamList(e.Leaderless))
	}
	return "nats: the cluster is not healthy: " + strings.Join(parts, "; ")
}

// Is reports ErrUnhealthy.
func (e *UnhealthyError) Is(target error) bool { return target == ErrUnhealthy }

// StreamReplicasError: streams whose replicas exceed the target size. After
// the scale-down they could not place every replica; nats-server would keep
// them under-replicated without saying so.
type StreamReplicasError struct {
	Target  int         `json:"target"`
	Streams []StreamRef `json:"streams"`
}

func (e *StreamReplicasError) Error() string {
	return fmt.Sprintf("nats: %d stream(s) want more replicas than the %d servers left: %s", len(e.Streams), e.Target, streamList(e.Streams))
}

// Is reports ErrStreamReplicas.
func (e *StreamReplicasError) Is(target error) bool { return target == ErrStreamReplicas }

// DataOnLeavingServersError: streams whose every current replica is on a
// server the plan removes (R1 streams, or under-replicated ones). Removing
// the servers would lose them unless they are moved first, which needs
// nats-server 2.15 or newer on every server (the EVACUATE request).
type DataOnLeavingServersError struct {
	Leaving []string    `json:"leaving"`
	Streams []StreamRef `json:"streams"`
	// Unsupported names the servers too old to evacuate ("name version"),
	// when that is why the data cannot be moved.
	Unsupported []string `json:"unsupported,omitempty"`
}

func (e *DataOnLeavingServersError) Error() string {
	s := fmt.Sprintf("nats: %d stream(s) live only on leaving servers %s: %s", len(e.Streams), strings.Join(e.Leaving, ","), streamList(e.Streams))
	if len(e.Unsupported) > 0 {
		s += "; moving them needs nats-server >= 2.15 (EVACUATE), but " + strings.Join(e.Unsupported, ", ")
	}
	return s
}

// Is reports ErrDataOnLeavingServers.
func (e *DataOnLeavingServersError) Is(target error) bool { return target == ErrDataOnLeavingServers }

// AccountConnectionError: the plan must change streams of accounts that
// Options.Accounts has no connection for; the system account cannot update
// another account's streams.
type AccountConnectionError struct {
	Accounts []string    `json:"accounts"`
	Streams  []StreamRef `json:"streams"`
}

func (e *AccountConnectionError) Error() string {
	return fmt.Sprintf("nats: changing %s needs a connection in account(s) %s (Options.Accounts)", streamList(e.Streams), strings.Join(e.Accounts, ","))
}

// Is reports ErrNoAccountConnection.
func (e *AccountConnectionError) Is(target error) bool { return target == ErrNoAccountConnection }

// APIError is an error answer of the JetStream API, e.g. 10202 "cluster
// member change is in progress" or 10044 "server is not a member".
type APIError struct {
	Subject     string `json:"subject"`
	Code        int    `json:"code"`
	ErrCode     uint16 `json:"errCode"`
	Description string `json:"description"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("nats: %s: %s (%d)", e.Subject, e.Description, e.ErrCode)
}

// JetStream API error codes this package reacts to.
const (
	errCodeNotMember        = 10044
	errCodeMemberChange     = 10202
	errCodeClusterNotActive = 10008
	errCodeNoPlacement      = 10005
)

// WaitError: a step's effect did not show before the deadline. Last is the
// newest reading of the cluster, for the reason.
type WaitError struct {
	What string
	Last *Report
	Err  error
}

func (e *WaitError) Error() string {
	msg := fmt.Sprintf("nats: waiting for %s: %v", e.What, e.Err)
	if r := e.Last; r != nil {
		// What the cluster looked like last: the reason a wait never ended.
		peers := make([]string, 0, len(r.Meta.Peers))
		for _, p := range r.Meta.Peers {
			peers = append(peers, p.Name+" "+p.state())
		}
		msg += fmt.Sprintf(" (last seen: meta leader %s, size %d, peers [%s], %d servers answering)", orDash(r.Meta.Leader), r.Meta.Size, strings.Join(peers, ", "), len(r.Servers))
	}
	return msg
}

func (e *WaitError) Unwrap() error { return e.Err }
