package tenants

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/postgres"
	"github.com/ironflow/scaling/scale"
)

// The names of this package's guards (GuardResult.Name).
const (
	// GuardTenantNamespace: the namespace carries the tenant's label.
	GuardTenantNamespace = "tenant-namespace"
	// GuardTenantScope: the release renders nothing outside the tenant's
	// namespace.
	GuardTenantScope = "tenant-scope"
	// GuardQuotaOwner: the live ResourceQuota is the tenant's release's.
	GuardQuotaOwner = "quota-owner"
	// GuardBelowUsage: no new hard limit is below what the tenant uses.
	GuardBelowUsage = "below-usage"
	// GuardOvercommit: the tenants' quotas against the nodes' allocatable.
	GuardOvercommit = "overcommit"
	// GuardQuotaDrift: the live quota is what the release rendered.
	GuardQuotaDrift = "quota-drift"
	// GuardValuePath: the value path drives the tenant's ResourceQuota.
	GuardValuePath = "value-path"
	// GuardReleaseStatus warns about a failed newest revision.
	GuardReleaseStatus = helmplan.GuardReleaseStatus
	// GuardBlastRadius is the guard every Helm write carries.
	GuardBlastRadius = scaling.GuardBlastRadius
)

// Sentinels of the typed guard errors below, for errors.Is. A blocked
// plan's Apply returns a *scaling.GuardBlockedError whose causes (errors.As)
// are these typed errors, with their objects and numbers.
var (
	// ErrOwnership: the operation would write an object that is not the
	// tenant's (a namespace of no tenant or of another, an object outside
	// the tenant's namespace, a quota another release owns).
	ErrOwnership = errors.New("tenants: not the tenant's object")
	// ErrBelowUsage: a new hard limit is below the tenant's current usage.
	ErrBelowUsage = errors.New("tenants: a hard limit below current usage")
	// ErrValuePath: the value path drives no ResourceQuota of the release.
	ErrValuePath = errors.New("tenants: the value path drives no ResourceQuota")
)

// guardKinds registers each guard's typed error, so a stored plan's causes
// decode into them (opkit.Refuse).
var guardKinds = opkit.Kinds{
	GuardTenantNamespace: func() error { return &OwnershipError{} },
	GuardTenantScope:     func() error { return &OwnershipError{} },
	GuardQuotaOwner:      func() error { return &OwnershipError{} },
	GuardBelowUsage:      func() error { return &BelowUsageError{} },
	GuardValuePath:       func() error { return &ValuePathError{} },
	GuardBlastRadius:     func() error { return &scaling.BlastRadiusError{} },
}

// scaleKinds and storageKinds are the typed errors of the guards the
// plans Resources and Storage wrap can block on (scale.Resources's,
// postgres's and nats's ExpandStorage's), so a stored tenant plan blocked
// by one of them is refused with its cause, as the package's own plan is.
// postgres and nats name their shrink and expansion guards alike, with
// types of their own: which applies is the request's volume.
var (
	scaleKinds = opkit.Kinds{
		scale.GuardLimitsBelowRequests: func() error { return &scale.LimitsBelowRequestsError{} },
		scale.GuardQuota:               func() error { return &scale.QuotaError{} },
		scaling.GuardCapacity:          func() error { return &scaling.CapacityError{} },
	}
	storageKinds = map[Volume]opkit.Kinds{
		PostgreSQL: {
			postgres.GuardShrink:    func() error { return &postgres.ShrinkError{} },
			postgres.GuardExpansion: func() error { return &postgres.NotExpandableError{} },
			scaling.GuardStorage:    func() error { return &scaling.StorageError{} },
		},
		NATS: {
			nats.GuardShrink:      func() error { return &nats.ShrinkError{} },
			nats.GuardExpansion:   func() error { return &nats.NotExpandableError{} },
			nats.GuardResync:      func() error { return &nats.UnreplicatedError{} },
			nats.GuardQuorum:      func() error { return &nats.QuorumError{} },
			nats.GuardHealth:      func() error { return &nats.UnhealthyError{} },
			scaling.GuardStorage:  func() error { return &scaling.StorageError{} },
			scaling.GuardCapacity: func() error { return &scaling.CapacityError{} },
		},
	}
)

// OwnershipError: an object the operation would write, or the namespace it
// writes into, is not the tenant's.
type OwnershipError struct {
	Tenant string `json:"tenant"`
	// Namespace is the tenant's namespace.
	Namespace string `json:"namespace"`
	// Objects are the objects that are not the tenant's.
	Objects []scaling.ObjectRef `json:"objects"`
	// Reason says why, e.g. "labelled ironflow.io/tenant=globex".
	Reason string `json:"reason"`
}

func (e *OwnershipError) Error() string {
	names := make([]string, len(e.Objects))
	for i, o := range e.Objects {
		names[i] = o.String()
	}
	return fmt.Sprintf("tenants: %s not tenant %s's: %s", strings.Join(names, ", "), e.Tenant, e.Reason)
}

// Is reports ErrOwnership.
func (e *OwnershipError) Is(target error) bool { return target == ErrOwnership }

// BelowUsage is one resource whose new hard limit is below its use.
type BelowUsage struct {
	Resource string `json:"resource"`
	Hard     string `json:"hard"`
	Used     string `json:"used"`
}

// BelowUsageError: new hard limits below what the tenant uses now, per
// resource. The API server accepts such a quota; the tenant's next pods
// (a rollout's surge, a restarted pod) are then refused.
type BelowUsageError struct {
	Tenant    string       `json:"tenant"`
	Namespace string       `json:"namespace"`
	Quota     string       `json:"quota"`
	Resources []BelowUsage `json:"resources"`
}

func (e *BelowUsageError) Error() string {
	parts := make([]string, len(e.Resources))
	for i, r := range e.Resources {
		parts[i] = fmt.Sprintf("%s hard %s below used %s", r.Resource, r.Hard, r.Used)
	}
	return fmt.Sprintf("tenants: tenant %s's quota %s/%s: %s", e.Tenant, e.Namespace, e.Quota, strings.Join(parts, "; "))
}

// Is reports ErrBelowUsage.
func (e *BelowUsageError) Is(target error) bool { return target == ErrBelowUsage }

// ValuePathError: setting the value path changes no ResourceQuota the
// release renders (resourceQuota.enabled false and not settable, or a chart
// with other value names).
type ValuePathError struct {
	Path    string `json:"path"`
	Release string `json:"release"`
}

func (e *ValuePathError) Error() string {
	return fmt.Sprintf("tenants: %s does not drive the spec.hard of a ResourceQuota release %s renders", e.Path, e.Release)
}

// Is reports ErrValuePath.
func (e *ValuePathError) Is(target error) bool { return target == ErrValuePath }
