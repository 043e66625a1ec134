package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
)

// Helm's ownership metadata on every object a release applies: who owns a
// live object, which a rendered manifest does not say.
const (
	helmReleaseName      = "meta.helm.sh/release-name"
	helmReleaseNamespace = "meta.helm.sh/release-namespace"
)

// aspectLabel is the fingerprint aspect of the tenant label on a namespace:
// a namespace relabelled between plan and apply is another tenant's.
const aspectLabel = "tenant label"

// tenantState is one tenant as every operation of this package finds it,
// read once: its namespace, the newest revision of its release, and the
// ownership verdicts on what was read. The operations that change a tenant
// (UpdateQuota, and later ones wrapping scale, postgres and nats) start from
// it, so they all refuse another tenant's objects the same way.
type tenantState struct {
	Name      string
	Namespace string
	// Label is the tenant label's value on the namespace ("" without it).
	Label   string
	Release *scaling.Release
	// Deployed is the release's deployed manifest by object.
	Deployed map[string]manifest.Object
	labelKey string
}

// tenant resolves a tenant by name: its namespace (Options.NamespacePrefix
// + name) and the newest revision of its release in it (Options.ReleaseName).
// A missing namespace or release is a *scaling.NotFoundError and a pending
// release a *scaling.ReleasePendingError, after one request each. A
// namespace that is not the tenant's is not an error: the ownership guards
// (tenantState.ownership) block the plan, which can still be shown.
func (c *Client) tenant(ctx context.Context, name string) (*tenantState, error) {
	ns := c.opts.NamespacePrefix + name
	live, err := c.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "Namespace", Name: ns},
			Detail: fmt.Sprintf("tenant %s's namespace: kubectl create namespace %s && kubectl label namespace %s %s=%s", name, ns, ns, c.opts.TenantLabel, name)}
	case err != nil:
		return nil, fmt.Errorf("reading tenant %s's namespace %s: %w", name, ns, err)
	}
	rel, err := helmplan.Last(ctx, c.releases, ns, c.releaseName(name))
	if err != nil {
		return nil, err
	}
	deployed, err := manifest.Parse(rel.Manifest, ns)
	if err != nil {
		return nil, fmt.Errorf("deployed manifest of %s/%s: %w", ns, rel.Name, err)
	}
	return &tenantState{Name: name, Namespace: ns, Label: live.Labels[c.opts.TenantLabel], Release: rel, Deployed: deployed, labelKey: c.opts.TenantLabel}, nil
}

// validTenant checks a tenant name as a request carries it, before any
// request: a DNS label that makes a namespace name with the prefix.
func (c *Client) validTenant(field, name string) error {
	if name == "" {
		return &scaling.InvalidInputError{Field: field, Value: `""`, Reason: "is required"}
	}
	if errs := validation.IsDNS1123Label(c.opts.NamespacePrefix + name); len(errs) > 0 {
		return &scaling.InvalidInputError{Field: field, Value: name, Reason: "the namespace " + c.opts.NamespacePrefix + name + " is not a valid name: " + errs[0]}
	}
	if errs := validation.IsValidLabelValue(name); len(errs) > 0 {
		return &scaling.InvalidInputError{Field: field, Value: name, Reason: "not a label value: " + errs[0]}
	}
	return nil
}

// ref names the tenant's release.
func (t *tenantState) ref() scaling.ObjectRef { return helmplan.Ref(t.Namespace, t.Release.Name) }

// namespaceRef names the tenant's namespace.
func (t *tenantState) namespaceRef() scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "Namespace", Name: t.Namespace}
}

// fingerprint is what a plan of the tenant depends on: the release's
// revision and the namespace's tenant label.
func (t *tenantState) fingerprint() scaling.Fingerprint {
	return scaling.Fingerprint{
		helmplan.FingerprintKey(t.Namespace, t.Release.Name):  helmplan.Revision(t.Release.Revision),
		scaling.FingerprintKey(t.namespaceRef(), aspectLabel): t.Label,
	}
}

// ownership is the guards every write of a tenant carries, on the
// deployed manifest and the planned one (nil when the operation renders
// none): the namespace is the tenant's, and neither manifest has an object
// outside it.
func (t *tenantState) ownership(planned map[string]manifest.Object) []scaling.GuardResult {
	return []scaling.GuardResult{t.namespaceGuard(), t.scopeGuard(planned)}
}

// namespaceGuard blocks a write into a namespace that does not carry the
// tenant's label: no tenant's (a release whose namespace is not a tenant's)
// or another tenant's.
func (t *tenantState) namespaceGuard() scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardTenantNamespace, Outcome: scaling.Pass,
		Reason: fmt.Sprintf("namespace %s is labelled %s=%s", t.Namespace, t.labelKey, t.Name)}
	if t.Label == t.Name {
		return g
	}
	e := &OwnershipError{Tenant: t.Name, Namespace: t.Namespace, Objects: []scaling.ObjectRef{t.namespaceRef()}}
	if t.Label == "" {
		e.Reason = fmt.Sprintf("the namespace has no %s label: it is no tenant's", t.labelKey)
		g.Remedy = fmt.Sprintf("if %s is tenant %s's, label it: kubectl label namespace %s %s=%s", t.Namespace, t.Name, t.Namespace, t.labelKey, t.Name)
	} else {
		e.Reason = fmt.Sprintf("the namespace is labelled %s=%s: it is tenant %s's", t.labelKey, t.Label, t.Label)
		g.Remedy = "name the tenant the namespace belongs to"
	}
	g.Outcome, g.Cause, g.Reason = scaling.Block, e, fmt.Sprintf("namespace %s: %s", t.Namespace, e.Reason)
	return g
}

// scopeGuard blocks a release that renders any object outside the tenant's
// namespace, in the deployed manifest or the planned one: a namespaced
// object elsewhere (another tenant's namespace) or a cluster-scoped one
// (shared by every tenant). Helm would write them with the tenant's
// upgrade.
func (t *tenantState) scopeGuard(planned map[string]manifest.Object) scaling.GuardResult {
	var outside []scaling.ObjectRef
	seen := map[scaling.ObjectRef]bool{}
	for _, objs := range []map[string]manifest.Object{t.Deployed, planned} {
		for _, o := range manifest.Sorted(objs) {
			if o.Obj.GetNamespace() == t.Namespace {
				continue
			}
			ref := scaling.ObjectRef{Kind: o.Obj.GetKind(), Namespace: o.Obj.GetNamespace(), Name: o.Obj.GetName()}
			if !seen[ref] {
				seen[ref] = true
				outside = append(outside, ref)
			}
		}
	}
	if len(outside) == 0 {
		return scaling.GuardResult{Name: GuardTenantScope, Outcome: scaling.Pass,
			Reason: fmt.Sprintf("release %s renders objects in %s only", t.Release.Name, t.Namespace)}
	}
	slices.SortFunc(outside, func(a, b scaling.ObjectRef) int { return strings.Compare(a.String(), b.String()) })
	e := &OwnershipError{Tenant: t.Name, Namespace: t.Namespace, Objects: outside,
		Reason: fmt.Sprintf("release %s renders them outside namespace %s: the tenant's upgrade would write them", t.Release.Name, t.Namespace)}
	names := make([]string, len(outside))
	for i, o := range outside {
		names[i] = o.String()
	}
	return scaling.GuardResult{Name: GuardTenantScope, Outcome: scaling.Block, Cause: e,
		Reason: fmt.Sprintf("release %s/%s renders %s outside the tenant's namespace", t.Namespace, t.Release.Name, strings.Join(names, ", ")),
		Remedy: "install one release per tenant, rendering only into its namespace (values-multi-tenant.yaml)"}
}

// ownerGuard blocks a change of a live object that is not the tenant's
// release's, by Helm's ownership annotations: Helm refuses to adopt it, or
// would take it from the release that owns it. A missing object passes
// (the upgrade creates it).
func (t *tenantState) ownerGuard(kind string, live *metav1.ObjectMeta) scaling.GuardResult {
	if live == nil {
		return scaling.GuardResult{Name: GuardQuotaOwner, Outcome: scaling.Pass, Reason: fmt.Sprintf("no live %s yet: the upgrade creates it", kind)}
	}
	ref := scaling.ObjectRef{Kind: kind, Namespace: live.Namespace, Name: live.Name}
	rn, rns := live.Annotations[helmReleaseName], live.Annotations[helmReleaseNamespace]
	if rn == t.Release.Name && rns == t.Namespace {
		return scaling.GuardResult{Name: GuardQuotaOwner, Outcome: scaling.Pass, Reason: fmt.Sprintf("%s belongs to release %s/%s", ref, rns, rn)}
	}
	owner := "no release"
	if rn != "" {
		owner = "release " + rns + "/" + rn
	}
	e := &OwnershipError{Tenant: t.Name, Namespace: t.Namespace, Objects: []scaling.ObjectRef{ref},
		Reason: fmt.Sprintf("it belongs to %s (%s, %s), not to the tenant's release %s/%s", owner, helmReleaseName, helmReleaseNamespace, t.Namespace, t.Release.Name)}
	return scaling.GuardResult{Name: GuardQuotaOwner, Outcome: scaling.Block, Cause: e,
		Reason: fmt.Sprintf("%s belongs to %s, not to release %s/%s", ref, owner, t.Namespace, t.Release.Name),
		Remedy: "change the object through the release that owns it, or remove the stray object"}
}

// liveOf finds an object by namespace and name in a list.
func liveOf(quotas []corev1.ResourceQuota, namespace, name string) *corev1.ResourceQuota {
	for i := range quotas {
		if q := &quotas[i]; q.Namespace == namespace && q.Name == name {
			return q
		}
	}
	return nil
}
