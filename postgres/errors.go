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

// The guards of the release operations (ExpandStorage, ScaleInstances,
// ConfigurePooler, Parameters), besides scaling.GuardStorage,
// scaling.GuardBlastRadius and GuardInFlight. The blocking ones carry the
// typed errors below.
const (
	GuardShrink         = "storage-shrink"
	GuardExpansion      = "volume-expansion"
	GuardPrimaryRemoval = "primary-removal"
	GuardPoolerBudget   = "pooler-budget"
	GuardParameters     = "parameters"
	// Warnings only.
	GuardPhase      = "cluster-phase"
	GuardHA         = "high-availability"
	GuardRemoval    = "removal"
	GuardAppRollout = "app-rollout"
	GuardRestart    = "restart"
)

// Sentinels of the release operations' guard errors.
var (
	// ErrShrink: volumes cannot shrink.
	ErrShrink = errors.New("postgres: volumes cannot shrink")
	// ErrNotExpandable: the volumes cannot grow in place.
	ErrNotExpandable = errors.New("postgres: the volumes cannot grow in place")
	// ErrPrimaryRemoval: a scale-down would remove the primary's instance.
	ErrPrimaryRemoval = errors.New("postgres: the scale-down would remove the primary")
	// ErrPoolerBudget: the Pooler's server connections exceed what
	// max_connections leaves, or its clients what it accepts.
	ErrPoolerBudget = errors.New("postgres: the pooler exceeds the connection budget")
	// ErrParameter: a PostgreSQL parameter the plan cannot set.
	ErrParameter = errors.New("postgres: a parameter cannot be set to that value")
	// ErrResize: a volume's resize failed (Verify).
	ErrResize = errors.New("postgres: a volume resize failed")
)

// ShrinkError: the requested size is below the Cluster's storage size or a
// claim's. CloudNativePG's webhook refuses a smaller spec.storage.size and
// volumes never shrink: a smaller database needs a new cluster and a
// migration.
type ShrinkError struct {
	Cluster   string   `json:"cluster"`
	Current   string   `json:"current"`
	Requested string   `json:"requested"`
	Claims    []string `json:"claims,omitempty"` // claims already larger than requested
}

func (e *ShrinkError) Error() string {
	s := fmt.Sprintf("postgres: the volumes of cluster %s are %s; %s would shrink them, which volumes cannot do", e.Cluster, e.Current, e.Requested)
	if len(e.Claims) > 0 {
		s += " (larger claims: " + joinNames(e.Claims) + ")"
	}
	return s
}

// Is reports ErrShrink.
func (e *ShrinkError) Is(target error) bool { return target == ErrShrink }

// NotExpandableError: the claims' StorageClass does not allow expansion
// (allowVolumeExpansion), or the Cluster tells the operator not to resize
// volumes in use (spec.storage.resizeInUseVolumes false). A bigger volume
// then takes moving the data: a new Cluster bootstrapped from a backup
// (bootstrap.recovery) or from this one (bootstrap.pg_basebackup) with the
// larger size, then the app moved over.
type NotExpandableError struct {
	Cluster      string `json:"cluster"`
	StorageClass string `json:"storageClass"`
	// ResizeDisabled: the class allows expansion but resizeInUseVolumes is
	// false.
	ResizeDisabled bool `json:"resizeDisabled,omitempty"`
}

func (e *NotExpandableError) Error() string {
	why := fmt.Sprintf("StorageClass %s does not allow volume expansion", e.StorageClass)
	if e.ResizeDisabled {
		why = fmt.Sprintf("its spec.storage.resizeInUseVolumes is false (StorageClass %s would allow expansion)", e.StorageClass)
	}
	return fmt.Sprintf("postgres: the volumes of cluster %s cannot grow in place: %s; the way is backup and restore: create a new cluster with the larger size from a backup (bootstrap.recovery) "+
		"or from this cluster with pg_basebackup into bigger volumes (bootstrap.pg_basebackup), then move the app to it", e.Cluster, why)
}

// Is reports ErrNotExpandable.
func (e *NotExpandableError) Is(target error) bool { return target == ErrNotExpandable }

// PrimaryRemovalError: the scale-down removes the highest-numbered
// instances, and the current primary is one of them. CloudNativePG keeps
// its primary and removes lower-numbered replicas instead, so the cluster
// would not end up as planned: switch over to an instance that stays
// first.
type PrimaryRemovalError struct {
	Cluster   string   `json:"cluster"`
	Primary   string   `json:"primary"`
	Instances int32    `json:"instances"`
	Removed   []string `json:"removed"`
	// Keep are the instances that stay, the switchover targets.
	Keep []string `json:"keep"`
}

func (e *PrimaryRemovalError) Error() string {
	return fmt.Sprintf("postgres: scaling cluster %s to %d instances removes %s, and %s is the primary: switch over to one of %s first (postgres.Switchover), then scale down",
		e.Cluster, e.Instances, joinNames(e.Removed), e.Primary, joinNames(e.Keep))
}

// Is reports ErrPrimaryRemoval.
func (e *PrimaryRemovalError) Is(target error) bool { return target == ErrPrimaryRemoval }

// PoolerBudgetError: the Pooler's PgBouncer instances, during their own
// rolling update, hold more server connections than max_connections
// leaves ((Instances + Surge) x (DefaultPoolSize + ReservePoolSize) x
// Pairs + Others > MaxConnections - Reserved), or the app's pods more
// client connections than PgBouncer accepts (Clients > ClientLimit).
// Recommended is the smallest max_connections that holds the peak.
type PoolerBudgetError struct {
	Pooler          string `json:"pooler"`
	Instances       int32  `json:"instances"`
	Surge           int32  `json:"surge"`
	DefaultPoolSize int64  `json:"defaultPoolSize"`
	ReservePoolSize int64  `json:"reservePoolSize"`
	Pairs           int    `json:"pairs"`
	Others          int64  `json:"others"`
	Peak            int64  `json:"peak"`
	MaxConnections  int    `json:"maxConnections"`
	Reserved        int    `json:"reserved"`
	Usable          int64  `json:"usable"`
	Source          string `json:"source"`
	Recommended     int64  `json:"recommended"`
	// Clients are the app's connections to PgBouncer at their peak
	// ((replicas + surge) x pool), ClientLimit what it accepts
	// (instances x max_client_conn); both 0 when the app is not counted.
	Clients     int64 `json:"clients,omitempty"`
	ClientLimit int64 `json:"clientLimit,omitempty"`
}

func (e *PoolerBudgetError) Error() string {
	var parts []string
	if e.Peak > e.Usable {
		parts = append(parts, fmt.Sprintf("(%d instances + %d surge) x (default_pool_size %d + reserve %d) x %d user/db pairs + %d others = %d server connections, "+
			"max_connections %d (%s) - %d reserved leaves %d: max_connections must be at least %d",
			e.Instances, e.Surge, e.DefaultPoolSize, e.ReservePoolSize, e.Pairs, e.Others, e.Peak, e.MaxConnections, e.Source, e.Reserved, e.Usable, e.Recommended))
	}
	if e.Clients > e.ClientLimit && e.ClientLimit > 0 {
		parts = append(parts, fmt.Sprintf("the app's pods open %d client connections, PgBouncer accepts %d (instances x max_client_conn)", e.Clients, e.ClientLimit))
	}
	return fmt.Sprintf("postgres: Pooler %s: %s", e.Pooler, joinParts(parts))
}

// Is reports ErrPoolerBudget.
func (e *PoolerBudgetError) Is(target error) bool { return target == ErrPoolerBudget }

// ParameterError: parameters the plan refuses to set, each with why: one
// CloudNativePG fixes itself, an unknown name, or a value outside what
// pg_settings allows (its min and max, its enumvals, its type).
type ParameterError struct {
	Cluster  string           `json:"cluster"`
	Problems []ParameterIssue `json:"problems"`
}

// ParameterIssue is one refused parameter.
type ParameterIssue struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

func (e *ParameterError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = fmt.Sprintf("%s=%q %s", p.Name, p.Value, p.Reason)
	}
	return fmt.Sprintf("postgres: cluster %s: %s", e.Cluster, joinParts(parts))
}

// Is reports ErrParameter.
func (e *ParameterError) Is(target error) bool { return target == ErrParameter }

// ResizeFailedError: the volume resizer reports a claim's expansion
// infeasible (status.allocatedResourceStatuses): it will not grow, and
// Verify stops as Failed.
type ResizeFailedError struct {
	Claim  string `json:"claim"`
	Status string `json:"status"`
}

func (e *ResizeFailedError) Error() string {
	return fmt.Sprintf("postgres: the resize of claim %s failed (%s): the volume will not grow", e.Claim, e.Status)
}

// Is reports ErrResize.
func (e *ResizeFailedError) Is(target error) bool { return target == ErrResize }

func joinParts(parts []string) string { return strings.Join(parts, "; ") }
