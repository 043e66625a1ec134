package scale

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
)

// The names of this package's guards (GuardResult.Name).
const (
	GuardClustering       = "clustering"
	GuardHPA              = "hpa"
	GuardQuota            = "quota"
	GuardCapacity         = scaling.GuardCapacity
	GuardConnectionBudget = "connection-budget"
	GuardValuePath        = "value-path"
	GuardReleaseStatus    = helmplan.GuardReleaseStatus
	GuardPDB              = "pdb"
	GuardNATSData         = "nats-data"
	GuardPostgresData     = "postgres-data"
	GuardResourceRequests = "resource-requests"
	GuardReplicasReset    = "replicas-reset"
	// GuardLimitsBelowRequests blocks resources whose limit is below the
	// request once merged with the chart's (scale.Resources).
	GuardLimitsBelowRequests = "limits-below-requests"
	// GuardBlastRadius is the guard every Helm write carries.
	GuardBlastRadius = scaling.GuardBlastRadius
)

// Sentinels of the typed guard errors below, for errors.Is. A blocked
// plan's Apply returns a *scaling.GuardBlockedError whose causes (errors.As)
// are these typed errors, with their numbers.
var (
	ErrClustering       = errors.New("scale: more than one replica without clustering")
	ErrHPA              = errors.New("scale: an HPA owns the replica count")
	ErrQuota            = errors.New("scale: the extra pods do not fit the ResourceQuota")
	ErrConnectionBudget = errors.New("scale: the pods' database connections exceed max_connections")
	ErrValuePath        = errors.New("scale: the value path drives no workload")
	ErrData             = errors.New("scale: a template move would drop NATS servers or PostgreSQL instances")
	ErrPDB              = errors.New("scale: a PodDisruptionBudget allows no disruption")
	// ErrStatePerInstance: a scale-out of an app that keeps state per
	// instance (local storage, a ReadWriteOnce volume, an embedded database).
	ErrStatePerInstance = errors.New("scale: more than one replica of an app that keeps state per instance")
	// ErrLimitsBelowRequests: a container's limit below its request, which
	// the API server refuses.
	ErrLimitsBelowRequests = errors.New("scale: a container's limit is below its request")
	// ErrCapacity is scaling.ErrCapacity: the capacity guard is shared.
	ErrCapacity = scaling.ErrCapacity
)

// guardKinds registers each guard's typed error, so a stored plan's causes
// decode into them (opkit.Refuse).
var guardKinds = opkit.Kinds{
	GuardClustering:          func() error { return &ClusteringError{} },
	GuardHPA:                 func() error { return &HPAError{} },
	GuardQuota:               func() error { return &QuotaError{} },
	GuardConnectionBudget:    func() error { return &ConnectionBudgetError{} },
	GuardValuePath:           func() error { return &ValuePathError{} },
	GuardNATSData:            func() error { return &DataError{} },
	GuardPostgresData:        func() error { return &DataError{} },
	GuardPDB:                 func() error { return &PDBError{} },
	GuardScaleOutState:       func() error { return &StatePerInstanceError{} },
	GuardCapacity:            func() error { return &scaling.CapacityError{} },
	GuardLimitsBelowRequests: func() error { return &LimitsBelowRequestsError{} },
	GuardBlastRadius:         func() error { return &scaling.BlastRadiusError{} },
}

// ClusteringError: more than one replica of an app whose clustering value is
// off would run as independent instances.
type ClusteringError struct {
	Replicas int32  `json:"replicas"`
	Path     string `json:"path"`
}

func (e *ClusteringError) Error() string {
	return fmt.Sprintf("scale: %d replicas with %s=false run as independent instances that do not share state", e.Replicas, e.Path)
}

// Is reports ErrClustering.
func (e *ClusteringError) Is(target error) bool { return target == ErrClustering }

// HPAError: an HorizontalPodAutoscaler owns the workload's count, so a fixed
// count would be undone (or, for Down, the HPA cannot go to 0).
type HPAError struct {
	HPA      string            `json:"hpa"`
	Workload scaling.ObjectRef `json:"workload"`
	Min      int32             `json:"min"`
	Max      int32             `json:"max"`
	Replicas int32             `json:"replicas"`
}

func (e *HPAError) Error() string {
	return fmt.Sprintf("scale: HPA %s owns the replica count of %s (range [%d, %d]); %d would be overridden", e.HPA, e.Workload, e.Min, e.Max, e.Replicas)
}

// Is reports ErrHPA.
func (e *HPAError) Is(target error) bool { return target == ErrHPA }

// QuotaShortfall is one quota resource the extra pods do not fit in.
type QuotaShortfall struct {
	Quota    string `json:"quota"`
	Resource string `json:"resource"`
	Pods     int32  `json:"pods"`
	Need     string `json:"need"`
	Left     string `json:"left"`
	Hard     string `json:"hard"`
	Used     string `json:"used"`
}

// QuotaError: the extra pods need more than the namespace's ResourceQuotas
// leave (hard - used), per resource. For a change of the pods' resources
// (Rollout set), Pods is how many pods run at a resource's peak and Need
// what that peak asks beyond Used.
type QuotaError struct {
	Namespace string           `json:"namespace"`
	Short     []QuotaShortfall `json:"short"`
	// Rollout is the rollout of new pod resources that does not fit.
	Rollout *QuotaRollout `json:"rollout,omitempty"`
}

// QuotaRollout is a workload's rollout as the quota guard of
// scale.Resources counts it: Current pods now (in Used), Replicas after,
// Surge more at once during the rollout.
type QuotaRollout struct {
	Workload scaling.ObjectRef `json:"workload"`
	Current  int32             `json:"current"`
	Replicas int32             `json:"replicas"`
	Surge    int32             `json:"surge"`
}

func (e *QuotaError) Error() string {
	parts := make([]string, len(e.Short))
	for i, s := range e.Short {
		parts[i] = quotaShortText(s, e.Rollout != nil)
	}
	if r := e.Rollout; r != nil {
		return fmt.Sprintf("scale: rolling out %s (%d replicas + %d surge): %s", r.Workload, r.Replicas, r.Surge, strings.Join(parts, "; "))
	}
	return "scale: " + strings.Join(parts, "; ")
}

func quotaShortText(s QuotaShortfall, rollout bool) string {
	if rollout {
		return fmt.Sprintf("%s %s: the peak of %d pods adds %s, %s left (hard %s, used %s)", s.Quota, s.Resource, s.Pods, s.Need, s.Left, s.Hard, s.Used)
	}
	return fmt.Sprintf("%s %s: %d more pods need %s, %s left (hard %s, used %s)", s.Quota, s.Resource, s.Pods, s.Need, s.Left, s.Hard, s.Used)
}

// Is reports ErrQuota.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// LimitInversion is one container resource whose limit is below its
// request.
type LimitInversion struct {
	Container string `json:"container"`
	Resource  string `json:"resource"`
	Request   string `json:"request"`
	Limit     string `json:"limit"`
}

// LimitsBelowRequestsError: the planned pod template has a container whose
// limit is below its request (a request raised above the chart's limit),
// which the API server refuses, failing the upgrade halfway.
type LimitsBelowRequestsError struct {
	Workload   scaling.ObjectRef `json:"workload"`
	Inversions []LimitInversion  `json:"inversions"`
}

func (e *LimitsBelowRequestsError) Error() string {
	parts := make([]string, len(e.Inversions))
	for i, v := range e.Inversions {
		parts[i] = fmt.Sprintf("container %s %s limit %s is below its request %s", v.Container, v.Resource, v.Limit, v.Request)
	}
	return fmt.Sprintf("scale: %s: %s", e.Workload, strings.Join(parts, "; "))
}

// Is reports ErrLimitsBelowRequests.
func (e *LimitsBelowRequestsError) Is(target error) bool { return target == ErrLimitsBelowRequests }

// ConnectionBudgetError: during the rollout (replicas + surge) pods hold
// their pools at once, more than max_connections leaves; or, behind a
// Pooler, the pooler's own pools are more than it leaves, or the pods'
// connections more than PgBouncer accepts (ClientLimit).
type ConnectionBudgetError struct {
	Replicas       int32  `json:"replicas"`
	Surge          int32  `json:"surge"`
	Pool           int64  `json:"pool"`
	Others         int64  `json:"others"`
	Peak           int64  `json:"peak"`
	Usable         int64  `json:"usable"`
	MaxConnections int    `json:"maxConnections"`
	Reserved       int    `json:"reserved"`
	Source         string `json:"source"`
	// Recommended is the smallest max_connections that would hold Peak.
	Recommended int64 `json:"recommended,omitempty"`
	// Pooler names the PgBouncer Pooler whose pools Peak counts;
	// ClientLimit is what it accepts of the pods (instances x
	// max_client_conn).
	Pooler      string `json:"pooler,omitempty"`
	ClientLimit int64  `json:"clientLimit,omitempty"`
}

func (e *ConnectionBudgetError) Error() string {
	if e.Pooler != "" {
		return fmt.Sprintf("scale: behind Pooler %s: %d server connections, max_connections %d (%s) - %d reserved = %d; clients (%d replicas + %d surge) x pool %d = %d, PgBouncer accepts %d",
			e.Pooler, e.Peak, e.MaxConnections, e.Source, e.Reserved, e.Usable, e.Replicas, e.Surge, e.Pool, (int64(e.Replicas)+int64(e.Surge))*e.Pool, e.ClientLimit)
	}
	return fmt.Sprintf("scale: (%d replicas + %d surge) x pool %d + %d others = %d connections; max_connections %d (%s) - %d reserved = %d (max_connections %d would hold it)",
		e.Replicas, e.Surge, e.Pool, e.Others, e.Peak, e.MaxConnections, e.Source, e.Reserved, e.Usable, e.Recommended)
}

// Is reports ErrConnectionBudget.
func (e *ConnectionBudgetError) Is(target error) bool { return target == ErrConnectionBudget }

// ValuePathError: the value path sets spec.replicas of no Deployment or
// StatefulSet the chart renders.
type ValuePathError struct {
	Path string `json:"path"`
}

func (e *ValuePathError) Error() string {
	return fmt.Sprintf("scale: %s does not set spec.replicas of any Deployment or StatefulSet the chart renders", e.Path)
}

// Is reports ErrValuePath.
func (e *ValuePathError) Is(target error) bool { return target == ErrValuePath }

// DataError: a template move would drop NATS servers or PostgreSQL
// instances the release still runs, and the data only they hold.
type DataError struct {
	Part     string `json:"part"` // "NATS" or "PostgreSQL"
	Template string `json:"template"`
	Running  int64  `json:"running"`
	Keeps    int32  `json:"keeps"`
}

func (e *DataError) Error() string {
	return fmt.Sprintf("scale: the %s template runs %d %s member(s) but the release runs %d", e.Template, e.Keeps, e.Part, e.Running)
}

// Is reports ErrData.
func (e *DataError) Is(target error) bool { return target == ErrData }

// PDBError: a PodDisruptionBudget covering the pods allows no disruption now.
type PDBError struct {
	PDB           string `json:"pdb"`
	Healthy       int32  `json:"healthy"`
	DesiredHealth int32  `json:"desiredHealthy"`
}

func (e *PDBError) Error() string {
	return fmt.Sprintf("scale: PodDisruptionBudget %s allows no disruption now (%d healthy, %d desired)", e.PDB, e.Healthy, e.DesiredHealth)
}

// Is reports ErrPDB.
func (e *PDBError) Is(target error) bool { return target == ErrPDB }

// ClaimAccess is a PersistentVolumeClaim the pods mount and its access
// modes.
type ClaimAccess struct {
	Claim       string   `json:"claim"`
	AccessModes []string `json:"accessModes"`
}

// StatePerInstanceError: more than one replica of an app that keeps state
// in each instance, which the other replicas never see (the Fluxbase guide:
// to scale horizontally, all state must be externalized). Reasons says each
// in words; Storage, Claims and EmbeddedDB are the same findings as data.
type StatePerInstanceError struct {
	Workload scaling.ObjectRef `json:"workload"`
	// Replicas is the planned count (an HPA's maxReplicas for Autoscale).
	Replicas int32    `json:"replicas"`
	Reasons  []string `json:"reasons"`
	// Storage is the local storage provider's value ("local"), if set.
	Storage string `json:"storage,omitempty"`
	// Claims are the ReadWriteOnce(Pod) claims the pods mount.
	Claims []ClaimAccess `json:"claims,omitempty"`
	// EmbeddedDB: the embedded database is on and no external one is set.
	EmbeddedDB bool `json:"embeddedDB,omitempty"`
}

func (e *StatePerInstanceError) Error() string {
	return fmt.Sprintf("scale: %d replicas of %s keep state per instance: %s", e.Replicas, e.Workload, strings.Join(e.Reasons, "; "))
}

// Is reports ErrStatePerInstance.
func (e *StatePerInstanceError) Is(target error) bool { return target == ErrStatePerInstance }
