package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/verify"
)

// OpExpandStorage is the Plan.Operation of PlanExpandStorage's plans.
const OpExpandStorage = "postgres.ExpandStorage"

// ActionResizeClaim is the step that shows the operator growing an
// instance's claim (it is not run: the upgrade makes the operator do it).
const ActionResizeClaim = "resize-claim"

// The values ExpandStorage writes, under the prefix.
const (
	sizeValue  = "persistence.size"
	classValue = "persistence.storageClass"
)

// ExpandStorage grows the volumes of a CloudNativePG cluster deployed by a
// Helm release (postgresql.persistence.size, the Cluster's
// spec.storage.size). On a StorageClass that allows expansion the operator
// grows every instance's claim in place (resizeInUseVolumes); on one that
// does not, the plan is blocked with the backup-and-restore path in its
// typed error. A smaller size is refused: volumes never shrink.
type ExpandStorage struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Size is the new size of each instance's volume, e.g. "20Gi".
	Size string `json:"size"`
	// ValuePrefix is where the release keeps the PostgreSQL values
	// (default "postgresql"); Standalone says the chart is the PostgreSQL
	// chart itself, its values without a prefix.
	ValuePrefix string `json:"valuePrefix,omitempty"`
	Standalone  bool   `json:"standalone,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	// The plan records the source it used, with the chart's digest.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r ExpandStorage) target() releaseTarget {
	return newReleaseTarget(r.Namespace, r.Release, r.ValuePrefix, r.Standalone)
}

func (r ExpandStorage) validate() (resource.Quantity, error) {
	if err := validateRelease("ExpandStorage", r.Namespace, r.Release, r.ValuePrefix, r.Standalone); err != nil {
		return resource.Quantity{}, err
	}
	q, err := resource.ParseQuantity(r.Size)
	if err != nil || q.Sign() <= 0 {
		return resource.Quantity{}, &scaling.InvalidInputError{Field: "ExpandStorage.Size", Value: r.Size, Reason: `a positive Kubernetes quantity such as "20Gi" is required`}
	}
	return q, nil
}

// expandSpec is an ExpandStorage plan's Spec.
type expandSpec struct {
	Request ExpandStorage `json:"request"`
	Cluster string        `json:"cluster"`
	// Size is the canonical form of Request.Size.
	Size       string   `json:"size"`
	Claims     []string `json:"claims"`
	Class      string   `json:"class"`
	Expandable bool     `json:"expandable"`
	// Revision and Values are the upgrade: the revision read and the
	// complete user values (redacted in a stored plan: Apply derives them
	// again).
	Revision int            `json:"revision"`
	Values   map[string]any `json:"values"`
	Causes   opkit.Causes   `json:"causes,omitempty"`
}

func (s expandSpec) shown(c *Client) expandSpec {
	s.Values = c.red.Values(s.Values)
	return s
}

// volumeState is what an ExpandStorage plan is decided on, read once.
type volumeState struct {
	cluster *apiv1.Cluster
	// current is the live Cluster's spec.storage.size.
	current resource.Quantity
	// claims are the instances' data volumes (not WAL or tablespaces).
	claims     []*corev1.PersistentVolumeClaim
	class      string
	expandable bool
	// resizeInUse is the Cluster's spec.storage.resizeInUseVolumes
	// (default true).
	resizeInUse bool
	quotas      []corev1.ResourceQuota
	limits      []corev1.LimitRange
	maxSize     resource.Quantity
	// valueChanges: the release's computed size differs from the request's.
	valueChanges bool
}

// PlanExpandStorage reads the release, the CloudNativePG Cluster it renders,
// the instances' claims, their StorageClass and the namespace's storage
// quotas and LimitRanges, and plans the growth: one upgrade of the
// release with the new size, after which the operator grows each claim.
// Invalid input is a *scaling.InvalidInputError before anything is read;
// a missing release, Cluster or StorageClass a *scaling.NotFoundError. A
// plan is returned even when guards block it (a shrink, a class that
// cannot expand, a size the quotas, a LimitRange or the backend's largest
// volume cannot hold), so the reasons can be shown; Apply refuses it.
//
// Verify watches the Cluster and the claims until the Cluster's
// spec.storage.size is the new size and every instance's data claim is
// Bound with a capacity of at least that size; a resize the volume
// resizer reports infeasible is Failed (*ResizeFailedError).
func (c *Client) PlanExpandStorage(ctx context.Context, req ExpandStorage) (*scaling.Plan, error) {
	plan, _, err := c.planExpandStorage(ctx, req)
	return plan, err
}

func (c *Client) planExpandStorage(ctx context.Context, req ExpandStorage) (*scaling.Plan, *expandSpec, error) {
	size, err := req.validate()
	if err != nil {
		return nil, nil, err
	}
	if err := c.needReleases("ExpandStorage"); err != nil {
		return nil, nil, err
	}
	t := req.target()
	src, err := req.Chart.For("ExpandStorage.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	rp, err := c.planRelease(ctx, t, src, []helmplan.Set{{Path: t.value(sizeValue), Value: size.String()}})
	if err != nil {
		return nil, nil, err
	}
	hp := rp.hp
	vs, err := c.readVolumes(ctx, t, rp, size)
	if err != nil {
		return nil, nil, err
	}
	d := decideExpand(t, vs, size)
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpExpandStorage, Target: clusterRef(t.Namespace, rp.name), CreatedAt: time.Now().UTC(),
		Summary: fmt.Sprintf("Grow the volumes of PostgreSQL cluster %s/%s from %s to %s through release %s (%s; StorageClass %s, expansion %s).",
			t.Namespace, rp.name, vs.current.String(), size.String(), t.Release, t.value(sizeValue), vs.class, map[bool]string{true: "allowed", false: "not allowed"}[vs.expandable]),
		Guards:      d.guards,
		Fingerprint: expandFingerprint(t, hp, vs),
	}
	if d.holds {
		plan.NoOp = true
	} else {
		plan.Diff = hp.Diff
		plan.Steps = append(c.valueSteps(t.ref(), hp, []string{t.value(sizeValue)}, "sets the Cluster's spec.storage.size; the operator grows the claims (resizeInUseVolumes)"), d.steps...)
		plan.Guards = append(plan.Guards, blastGuard(hp, nil))
	}
	req.Chart = hp.Chart // pinned: Apply plans again from this request
	spec := &expandSpec{Request: req, Cluster: rp.name, Size: size.String(), Class: vs.class, Expandable: vs.expandable, Revision: hp.Release.Revision, Values: hp.Values}
	for _, pvc := range vs.claims {
		spec.Claims = append(spec.Claims, pvc.Name)
	}
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

func expandFingerprint(t releaseTarget, hp *helmplan.Result, vs *volumeState) scaling.Fingerprint {
	fp := releaseFingerprint(t, hp, vs.cluster)
	for _, pvc := range vs.claims {
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		fp[scaling.FingerprintKey(claimRef(t.Namespace, pvc.Name), scaling.AspectRequest)] = string(pvc.UID) + " " + q.String()
	}
	return fp
}

func claimRef(namespace, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: namespace, Name: name}
}

// readVolumes reads the live Cluster, its data claims, their StorageClass
// and the namespace's storage limits.
func (c *Client) readVolumes(ctx context.Context, t releaseTarget, rp *releasePlan, size resource.Quantity) (*volumeState, error) {
	cl, err := c.getCluster(ctx, t.Namespace, rp.name)
	if err != nil {
		return nil, err
	}
	vs := &volumeState{cluster: cl, resizeInUse: cl.Spec.StorageConfiguration.ResizeInUseVolumes == nil || *cl.Spec.StorageConfiguration.ResizeInUseVolumes, maxSize: c.opts.MaxVolumeSize}
	if s := cl.Spec.StorageConfiguration.Size; s != "" {
		if vs.current, err = resource.ParseQuantity(s); err != nil {
			return nil, fmt.Errorf("CNPG Cluster %s/%s: spec.storage.size %q: %w", t.Namespace, rp.name, s, err)
		}
	}
	if vs.claims, err = c.dataClaims(ctx, t.Namespace, rp.name); err != nil {
		return nil, err
	}
	class := ""
	if cl.Spec.StorageConfiguration.StorageClass != nil {
		class = *cl.Spec.StorageConfiguration.StorageClass
	}
	for _, pvc := range vs.claims {
		if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
			class = *pvc.Spec.StorageClassName // admission filled in the default
			break
		}
	}
	if class == "" {
		if class, err = c.defaultClass(ctx); err != nil {
			return nil, err
		}
	}
	sc, err := c.kube.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "StorageClass", Name: class}, Detail: "the class of cluster " + rp.name + "'s volumes"}
	}
	if err != nil {
		return nil, fmt.Errorf("reading StorageClass %s: %w", class, err)
	}
	vs.class, vs.expandable = class, sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
	if vs.quotas, vs.limits, err = c.storageLimits(ctx, t.Namespace); err != nil {
		return nil, err
	}
	vs.valueChanges = true
	if q, ok := quantityAt(rp.hp.Current, t.value(sizeValue)); ok && q.Cmp(size) == 0 {
		vs.valueChanges = false
	}
	return vs, nil
}

// dataClaims lists the instances' data volumes: the claims CloudNativePG
// labels with the cluster, without the WAL and tablespace ones.
func (c *Client) dataClaims(ctx context.Context, namespace, cluster string) ([]*corev1.PersistentVolumeClaim, error) {
	list, err := c.kube.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelCluster + "=" + cluster})
	if err != nil {
		return nil, fmt.Errorf("listing the claims of %s/%s: %w", namespace, cluster, err)
	}
	var out []*corev1.PersistentVolumeClaim
	for i := range list.Items {
		if p := &list.Items[i]; isDataClaim(p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.PersistentVolumeClaim) int { return instanceOrder(a.Name, b.Name) })
	return out, nil
}

// LabelPVCRole is the label CloudNativePG gives each claim: PG_DATA, PG_WAL
// or PG_TABLESPACE.
const LabelPVCRole = "cnpg.io/pvcRole"

func isDataClaim(p *corev1.PersistentVolumeClaim) bool {
	role := p.Labels[LabelPVCRole]
	return p.DeletionTimestamp == nil && (role == "" || role == "PG_DATA")
}

// storageLimits reads what bounds new or grown claims in a namespace.
func (c *Client) storageLimits(ctx context.Context, namespace string) ([]corev1.ResourceQuota, []corev1.LimitRange, error) {
	quotas, err := c.kube.CoreV1().ResourceQuotas(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the ResourceQuotas of %s: %w", namespace, err)
	}
	limits, err := c.kube.CoreV1().LimitRanges(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the LimitRanges of %s: %w", namespace, err)
	}
	return quotas.Items, limits.Items, nil
}

func (c *Client) defaultClass(ctx context.Context) (string, error) {
	list, err := c.kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing StorageClasses: %w", err)
	}
	for _, sc := range list.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return sc.Name, nil
		}
	}
	return "", &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "StorageClass", Name: "(default)"}, Detail: "the Cluster and its claims name no class and the cluster has no default"}
}

// deriveExpandStorage plans a stored ExpandStorage plan again from its
// request, with the chart it pinned.
func (c *Client) deriveExpandStorage(ctx context.Context, spec *expandSpec) (*scaling.Plan, *expandSpec, error) {
	return c.planExpandStorage(ctx, spec.Request)
}

// applyExpandStorage runs a derived plan: the one upgrade.
func (c *Client) applyExpandStorage(ctx context.Context, plan *scaling.Plan, spec *expandSpec) (*scaling.Applied, error) {
	r := spec.Request
	return c.upgradeRelease(ctx, plan, r.target(), spec.Revision, r.Chart, spec.Values)
}

// verifyExpandStorage watches the Cluster and its claims until the size
// holds everywhere.
func (c *Client) verifyExpandStorage(ctx context.Context, plan *scaling.Plan, spec *expandSpec) (*scaling.Verification, error) {
	r := spec.Request
	t := r.target()
	size, err := resource.ParseQuantity(spec.Size)
	if err != nil {
		return nil, &scaling.InvalidPlanError{Reason: "size " + spec.Size + ": " + err.Error()}
	}
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	rel, vals, err := c.releaseValues(ctx, t, r.Chart)
	if err != nil {
		return nil, err
	}
	value := releaseCheck(rel, vals, t.value(sizeValue), size.String())
	if q, ok := quantityAt(vals, t.value(sizeValue)); ok {
		value.Observed, value.Passed = q.String(), q.Cmp(size) == 0
	}
	if !value.Passed {
		return notApplied(v, t, []scaling.Check{value}), nil
	}
	clusters := c.dyn.Resource(clustersGVR).Namespace(t.Namespace)
	pvcs := c.kube.CoreV1().PersistentVolumeClaims(t.Namespace)
	sources := []await.Source{
		await.Typed(c.dyn, "cluster", &unstructured.Unstructured{}, clusters.List, clusters.Watch, await.ByName(spec.Cluster)),
		await.Typed(c.kube, "claims", &corev1.PersistentVolumeClaim{}, pvcs.List, pvcs.Watch, metav1.ListOptions{LabelSelector: LabelCluster + "=" + spec.Cluster}),
	}
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err = await.Until(ctx, sources, func(s await.Stores) (bool, error) {
		now := time.Now()
		u := named(await.List[*unstructured.Unstructured](s[0]), spec.Cluster)
		if u == nil {
			return false, &scaling.NotFoundError{Object: plan.Target, Detail: "deleted while verifying"}
		}
		cl, err := toCluster(u)
		if err != nil {
			return false, err
		}
		checks := []scaling.Check{value, {Name: "cluster-storage", Expected: size.String(), Observed: orEmpty(cl.Spec.StorageConfiguration.Size), ObservedAt: now}}
		if q, err := resource.ParseQuantity(cl.Spec.StorageConfiguration.Size); err == nil {
			checks[1].Observed, checks[1].Passed = q.String(), q.Cmp(size) == 0
		}
		var claims []*corev1.PersistentVolumeClaim
		for _, p := range await.List[*corev1.PersistentVolumeClaim](s[1]) {
			if isDataClaim(p) {
				claims = append(claims, p)
			}
		}
		slices.SortFunc(claims, func(a, b *corev1.PersistentVolumeClaim) int { return instanceOrder(a.Name, b.Name) })
		if len(claims) == 0 {
			checks = append(checks, scaling.Check{Name: "claims", Expected: "the instances' claims", Observed: "none", ObservedAt: now})
		}
		for _, p := range claims {
			if st, failed := resizeFailed(p); failed {
				return false, &ResizeFailedError{Claim: p.Name, Status: st}
			}
			q := p.Status.Capacity[corev1.ResourceStorage]
			ch := scaling.Check{Name: "claim " + p.Name, Expected: ">= " + size.String() + ", Bound", Observed: q.String() + ", " + string(p.Status.Phase),
				Passed: q.Cmp(size) >= 0 && p.Status.Phase == corev1.ClaimBound, ObservedAt: now}
			if conds := claimConditions(p); conds != "" {
				ch.Detail = conds
			}
			checks = append(checks, ch)
		}
		v.Checks = checks
		emitter.Emit(v.Checks)
		return verify.Passed(checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before every volume had grown"), nil
}

// resizeFailed reports a claim whose resizer gave up.
func resizeFailed(p *corev1.PersistentVolumeClaim) (string, bool) {
	switch st := p.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; st {
	case corev1.PersistentVolumeClaimControllerResizeInfeasible, corev1.PersistentVolumeClaimNodeResizeInfeasible:
		return string(st), true
	}
	return "", false
}

// claimConditions shows a claim's resize conditions (Resizing,
// FileSystemResizePending), for a Check's Detail.
func claimConditions(p *corev1.PersistentVolumeClaim) string {
	var parts []string
	for _, c := range p.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			parts = append(parts, string(c.Type))
		}
	}
	return strings.Join(parts, ", ")
}
