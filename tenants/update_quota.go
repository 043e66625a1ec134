package tenants

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/internal/verify"
)

// OpUpdateQuota is the Plan.Operation of UpdateQuota plans.
const OpUpdateQuota = "tenants.UpdateQuota"

// Defaults of UpdateQuota's value paths: the reference chart's.
const (
	DefaultHardPath    = "resourceQuota.hard"
	DefaultEnabledPath = "resourceQuota.enabled"
)

// aspectHard is the fingerprint aspect of a live quota's spec.hard: a hand
// edit of the quota between plan and apply makes the plan stale.
const aspectHard = "spec.hard"

// UpdateQuota changes a tenant's ResourceQuota through the tenant's release:
// the runbook's `helm upgrade acme ... -n tenant-acme -f
// values-multi-tenant.yaml --set resourceQuota.hard...`, planned. Every
// other value of the tenant (ingress.host, ...) is kept: the plan sends the
// deployed user values with the hard map changed, and the diff shows it.
type UpdateQuota struct {
	// Tenant names the tenant: namespace Options.NamespacePrefix + Tenant.
	Tenant string `json:"tenant"`
	// Hard are the new hard limits by quota resource ("requests.cpu",
	// "limits.memory", "requests.storage", "pods"); resources not named
	// keep their deployed limit.
	Hard corev1.ResourceList `json:"hard"`
	// ValuePath is the map value the chart copies into the quota's
	// spec.hard; default "resourceQuota.hard". The whole map is written
	// (merged with the deployed one): quota keys contain dots, which a
	// dotted value path cannot name one by one.
	ValuePath string `json:"valuePath,omitempty"`
	// EnabledPath is the boolean that makes the chart render the quota,
	// set to true when it is not; default "resourceQuota.enabled".
	EnabledPath string `json:"enabledPath,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	// The plan records the source it used, with the chart's digest.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (c *Client) defaults(r *UpdateQuota) error {
	if r.ValuePath == "" {
		r.ValuePath = DefaultHardPath
	}
	if r.EnabledPath == "" {
		r.EnabledPath = DefaultEnabledPath
	}
	if err := c.validTenant("UpdateQuota.Tenant", r.Tenant); err != nil {
		return err
	}
	if len(r.Hard) == 0 {
		return &scaling.InvalidInputError{Field: "UpdateQuota.Hard", Value: "{}", Reason: "name at least one resource"}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Hard)) {
		q := r.Hard[k]
		if errs := validation.IsQualifiedName(string(k)); len(errs) > 0 {
			return &scaling.InvalidInputError{Field: "UpdateQuota.Hard", Value: string(k), Reason: "not a quota resource name: " + errs[0]}
		}
		if q.Sign() < 0 {
			return &scaling.InvalidInputError{Field: "UpdateQuota.Hard[" + string(k) + "]", Value: q.String(), Reason: "must not be negative"}
		}
	}
	for field, p := range map[string]string{"UpdateQuota.ValuePath": r.ValuePath, "UpdateQuota.EnabledPath": r.EnabledPath} {
		if _, err := values.Split(p); err != nil {
			return &scaling.InvalidInputError{Field: field, Value: p, Reason: err.Error()}
		}
	}
	return nil
}

// quotaSpec is what an UpdateQuota plan carries for Apply and Verify.
type quotaSpec struct {
	Request   UpdateQuota    `json:"request"`
	Namespace string         `json:"namespace"`
	Release   string         `json:"release"`
	Revision  int            `json:"revision"`
	Values    map[string]any `json:"values"`
	// Quota is the ResourceQuota the value path drives ("" when none does).
	Quota string `json:"quota"`
	// Hard is the quota's complete planned spec.hard, canonical quantities.
	Hard map[string]string `json:"hard"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// PlanUpdateQuota reads the tenant's namespace and release, every tenant's
// quota and the nodes, and returns the plan. Invalid input is a
// *scaling.InvalidInputError before any request; a missing namespace or
// release a *scaling.NotFoundError and a pending release a
// *scaling.ReleasePendingError. Unsafe changes are not errors: another
// tenant's namespace or objects, a limit below usage, a quota another
// release owns come back as blocking guards, so the plan can be shown.
func (c *Client) PlanUpdateQuota(ctx context.Context, r UpdateQuota) (*scaling.Plan, error) {
	plan, _, err := c.planUpdateQuota(ctx, r)
	return plan, err
}

// quotaState is everything PlanUpdateQuota reads, read once before any
// guard: the guards and steps are pure functions of it and the request.
type quotaState struct {
	t  *tenantState
	hp *helmplan.Result
	// current is the deployed hard map, as the values hold it.
	current map[string]any
	// hard is the planned hard map (the deployed one with the request's
	// changes; an unchanged quantity keeps its deployed spelling).
	hard map[string]any
	// changed are the request's resources whose limit changes, sorted.
	changed []string
	// quota is the ResourceQuota the plan renders with hard; nil when none.
	quota *corev1.ResourceQuota
	// live is that quota as the cluster has it; nil when absent.
	live *corev1.ResourceQuota
	// tenants are the tenant namespaces (by label) and all quotas, for
	// the overcommit guard.
	tenants  map[string]bool
	quotas   []corev1.ResourceQuota
	nodes    []corev1.Node
	nodesErr error
}

func (c *Client) planUpdateQuota(ctx context.Context, r UpdateQuota) (*scaling.Plan, *quotaSpec, error) {
	if err := c.defaults(&r); err != nil {
		return nil, nil, err
	}
	src, err := r.Chart.For("UpdateQuota.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.readQuota(ctx, r, src)
	if err != nil {
		return nil, nil, err
	}
	r.Chart = st.hp.Chart
	plan := quotaPlan(r, st)
	plan.Guards = append(plan.Guards, blast(st.hp))
	if s, ok := helmplan.ChartStep(plan.Target, st.hp); ok && !plan.NoOp {
		plan.Steps = append(plan.Steps, s)
	}
	causes, err := opkit.CausesOf(plan.Guards)
	if err != nil {
		return nil, nil, err
	}
	spec := &quotaSpec{Request: r, Namespace: st.t.Namespace, Release: st.t.Release.Name, Revision: st.t.Release.Revision,
		Values: st.hp.Values, Hard: canonical(st.hard), Causes: causes}
	if st.quota != nil {
		spec.Quota = st.quota.Name
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c.red)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// shown is the spec as a plan stores it: its values redacted. Apply never
// writes a stored spec's values; it derives them again.
func (s quotaSpec) shown(red *redact.Redactor) quotaSpec {
	s.Values = red.Values(s.Values)
	return s
}

func (c *Client) readQuota(ctx context.Context, r UpdateQuota, src scaling.ChartSource) (*quotaState, error) {
	t, err := c.tenant(ctx, r.Tenant)
	if err != nil {
		return nil, err
	}
	st := &quotaState{t: t, current: map[string]any{}}
	// The parent chart's defaults are in Computed; a user map replaces
	// nothing of them but the keys it names (Helm coalesces maps).
	for _, tree := range []map[string]any{t.Release.Computed, t.Release.Values} {
		if m, ok := valueMap(tree, r.ValuePath); ok {
			maps.Copy(st.current, m)
		}
	}
	st.hard = values.Copy(st.current)
	for _, k := range slices.Sorted(maps.Keys(r.Hard)) {
		want := r.Hard[k]
		if q, ok := quantityOf(st.current[string(k)]); ok && q.Cmp(want) == 0 {
			continue
		}
		st.hard[string(k)] = want.String()
		st.changed = append(st.changed, string(k))
	}
	sets := []helmplan.Set{{Path: r.ValuePath, Value: st.hard}}
	if !values.Bool(t.Release.Computed, r.EnabledPath) {
		sets = append(sets, helmplan.Set{Path: r.EnabledPath, Value: true})
	}
	if st.hp, err = helmplan.PlanFrom(ctx, c.releases, t.Release, src, sets, c.red); err != nil {
		return nil, err
	}
	if st.quota, err = drivenQuota(st.hp.After, t.Namespace, st.hard); err != nil {
		return nil, err
	}
	// One list of the tenant namespaces and one of every quota, whatever
	// the number of tenants: the overcommit guard sums them all, and the
	// tenant's own live quota is among them.
	nss, err := c.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: c.opts.TenantLabel})
	if err != nil {
		return nil, fmt.Errorf("listing the tenant namespaces: %w", err)
	}
	st.tenants = map[string]bool{}
	for _, n := range nss.Items {
		st.tenants[n.Name] = true
	}
	qs, err := c.kube.CoreV1().ResourceQuotas(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the ResourceQuotas: %w", err)
	}
	st.quotas = qs.Items
	if st.quota != nil {
		st.live = liveOf(st.quotas, t.Namespace, st.quota.Name)
	}
	nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		st.nodesErr = err
	} else {
		st.nodes = nodes.Items
	}
	return st, nil
}

// drivenQuota finds the ResourceQuota of the planned manifest, in the
// tenant's namespace, whose spec.hard is the planned map: the one the
// value path drives. None is nil.
func drivenQuota(after map[string]manifest.Object, namespace string, hard map[string]any) (*corev1.ResourceQuota, error) {
	want := canonical(hard)
	for _, o := range manifest.Sorted(after) {
		if o.Obj.GetKind() != "ResourceQuota" || o.Obj.GetNamespace() != namespace {
			continue
		}
		var q corev1.ResourceQuota
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &q); err != nil {
			return nil, fmt.Errorf("decoding the rendered %s: %w", o.Key, err)
		}
		if sameHard(q.Spec.Hard, want) {
			return &q, nil
		}
	}
	return nil, nil
}

func quotaPlan(r UpdateQuota, st *quotaState) *scaling.Plan {
	t, hp := st.t, st.hp
	plan := &scaling.Plan{
		Version:     scaling.PlanVersion,
		Operation:   OpUpdateQuota,
		Target:      t.ref(),
		Diff:        hp.Diff,
		CreatedAt:   time.Now().UTC(),
		Fingerprint: t.fingerprint(),
	}
	plan.Guards = t.ownership(hp.After)
	if g, ok := helmplan.StatusGuard(hp.Release, "the quota"); ok {
		plan.Guards = append(plan.Guards, g)
	}
	if st.quota == nil {
		plan.Guards = append(plan.Guards, scaling.GuardResult{Name: GuardValuePath, Outcome: scaling.Block,
			Cause:  &ValuePathError{Path: r.ValuePath, Release: t.Namespace + "/" + t.Release.Name},
			Reason: fmt.Sprintf("%s does not set the spec.hard of any ResourceQuota release %s renders in %s", r.ValuePath, t.Release.Name, t.Namespace),
			Remedy: "name the value the chart copies into its quota's spec.hard (UpdateQuota.ValuePath, EnabledPath)"})
		plan.Summary = fmt.Sprintf("Set %s of tenant %s's release %s/%s.", r.ValuePath, t.Name, t.Namespace, t.Release.Name)
		return plan
	}
	qref := scaling.ObjectRef{Kind: "ResourceQuota", Namespace: t.Namespace, Name: st.quota.Name}
	liveHard := "absent"
	var liveMeta *metav1.ObjectMeta
	if st.live != nil {
		liveHard, liveMeta = hardText(st.live.Spec.Hard), &st.live.ObjectMeta
	}
	plan.Fingerprint[scaling.FingerprintKey(qref, aspectHard)] = liveHard
	plan.Guards = append(plan.Guards,
		t.ownerGuard("ResourceQuota", liveMeta),
		driftGuard(t, qref, st.live),
		belowUsageGuard(t, st),
		overcommitGuard(t, st))

	changes := make([]string, len(st.changed))
	for i, k := range st.changed {
		changes[i] = fmt.Sprintf("%s %s -> %s", k, orNone(st.current[k]), st.hard[k])
	}
	plan.Summary = fmt.Sprintf("Set tenant %s's quota %s: %s, through release %s/%s (%s), keeping its other values.",
		t.Name, qref, orText(strings.Join(changes, ", "), "no change"), t.Namespace, t.Release.Name, r.ValuePath)
	if !hp.Changed() {
		plan.NoOp = true
		return plan
	}
	plan.Steps = []scaling.Step{{Action: "helm upgrade", Object: plan.Target, Field: r.ValuePath,
		Before: mapText(st.current), After: mapText(st.hard),
		Note: "sends the tenant's deployed user values with this one map changed: what -f values-multi-tenant.yaml --set ... would have to repeat by hand"}}
	for _, k := range st.changed {
		plan.Steps = append(plan.Steps, scaling.Step{Action: "set quota", Object: qref, Field: "spec.hard." + k,
			Before: orNone(st.current[k]), After: fmt.Sprint(st.hard[k]), Note: "applied by the upgrade; Verify waits for the quota's status.hard"})
	}
	return plan
}

// driftGuard warns when the live quota's spec.hard is not what the
// deployed revision rendered (edited by hand): the upgrade patches only
// the keys it changes, so the hand edits of the others stay, and Verify
// reports them as an override.
func driftGuard(t *tenantState, ref scaling.ObjectRef, live *corev1.ResourceQuota) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardQuotaDrift, Outcome: scaling.Pass}
	if live == nil {
		g.Reason = "no live quota yet"
		return g
	}
	var deployed corev1.ResourceList
	for _, o := range t.Deployed {
		if o.Obj.GetKind() == "ResourceQuota" && o.Obj.GetNamespace() == ref.Namespace && o.Obj.GetName() == ref.Name {
			var q corev1.ResourceQuota
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &q); err == nil {
				deployed = q.Spec.Hard
			}
		}
	}
	if deployed == nil {
		g.Reason = fmt.Sprintf("revision %d does not render %s yet", t.Release.Revision, ref)
		return g
	}
	if d, l := hardText(deployed), hardText(live.Spec.Hard); d != l {
		g.Outcome = scaling.Warn
		g.Reason = fmt.Sprintf("the live %s has spec.hard %s, revision %d rendered %s: it was edited by hand", ref, l, t.Release.Revision, d)
		g.Remedy = "the upgrade patches only the resources it changes; put the hand edits into the request, or Verify reports them as overriding the plan"
		return g
	}
	g.Reason = fmt.Sprintf("the live %s is what revision %d rendered", ref, t.Release.Revision)
	return g
}

// belowUsageGuard blocks a changed hard limit below what the tenant uses
// now (the live quota's status.used): the API server accepts it, and the
// tenant's next pods are refused.
func belowUsageGuard(t *tenantState, st *quotaState) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardBelowUsage, Outcome: scaling.Pass}
	if st.live == nil {
		g.Reason = "no live quota: nothing is counted against it yet"
		return g
	}
	e := &BelowUsageError{Tenant: t.Name, Namespace: t.Namespace, Quota: st.live.Name}
	var fits []string
	for _, k := range st.changed {
		hard, _ := quantityOf(st.hard[k])
		used, ok := st.live.Status.Used[corev1.ResourceName(k)]
		if !ok {
			continue
		}
		if hard.Cmp(used) < 0 {
			e.Resources = append(e.Resources, BelowUsage{Resource: k, Hard: hard.String(), Used: used.String()})
			continue
		}
		fits = append(fits, fmt.Sprintf("%s %s >= used %s", k, hard.String(), used.String()))
	}
	if len(e.Resources) == 0 {
		g.Reason = "every new limit holds what the tenant uses"
		if len(fits) > 0 {
			g.Reason += ": " + strings.Join(fits, ", ")
		}
		return g
	}
	parts := make([]string, len(e.Resources))
	for i, b := range e.Resources {
		parts[i] = fmt.Sprintf("%s hard %s < used %s", b.Resource, b.Hard, b.Used)
	}
	g.Outcome, g.Cause = scaling.Block, e
	g.Reason = fmt.Sprintf("tenant %s uses more than the new limits: %s; the API server accepts such a quota and the tenant's next pods are refused", t.Name, strings.Join(parts, ", "))
	g.Remedy = "raise the limits to at least the usage, or scale the tenant's workloads down first"
	return g
}

// overcommitGuard sums the cpu and memory requests every tenant's quotas
// allow (this tenant's with the planned limits) against the Ready nodes'
// allocatable: above it, the tenants cannot all use what they were promised
// at once. A warning, since overcommitting quotas is a choice; the ratio
// says how far.
func overcommitGuard(t *tenantState, st *quotaState) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardOvercommit, Outcome: scaling.Pass}
	switch {
	case st.nodesErr != nil:
		g.Outcome, g.Reason = scaling.Warn, "the nodes could not be read, so the tenants' quotas are not compared with them: "+st.nodesErr.Error()
		g.Remedy = "grant list on nodes, or compare by hand (kubectl describe nodes)"
		return g
	}
	capacity := quota.NodeCapacity(st.nodes)
	if capacity.Nodes == 0 {
		g.Outcome, g.Reason = scaling.Warn, fmt.Sprintf("no Ready schedulable node among %d listed: the tenants' quotas are not compared with anything", capacity.Listed)
		g.Remedy = "check the nodes (kubectl get nodes)"
		return g
	}
	sum := corev1.ResourceList{}
	tenants := map[string]bool{t.Namespace: true}
	add := func(hard corev1.ResourceList) {
		for k, q := range hard {
			switch quota.Key(k) {
			case "requests.cpu", "requests.memory":
				cur := sum[quota.Key(k)]
				cur.Add(q)
				sum[quota.Key(k)] = cur
			}
		}
	}
	for _, q := range st.quotas {
		if !st.tenants[q.Namespace] && q.Namespace != t.Namespace {
			continue
		}
		tenants[q.Namespace] = true
		if q.Namespace == t.Namespace && st.quota != nil && q.Name == st.quota.Name {
			continue // counted with the planned limits below
		}
		add(q.Spec.Hard)
	}
	if st.quota != nil {
		add(st.quota.Spec.Hard)
	}
	var parts, over []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		want, ok := sum["requests."+r]
		total := capacity.Total[r]
		if !ok || total.IsZero() {
			continue
		}
		ratio := want.AsApproximateFloat64() / total.AsApproximateFloat64()
		s := fmt.Sprintf("requests.%s %s of %s allocatable (%gx)", r, want.String(), total.String(), math.Round(ratio*10)/10)
		parts = append(parts, s)
		if want.Cmp(total) > 0 {
			over = append(over, s)
		}
	}
	scope := fmt.Sprintf("the quotas of %d tenant(s) against %d Ready node(s)", len(tenants), capacity.Nodes)
	if len(over) == 0 {
		g.Reason = scope + ": " + orText(strings.Join(parts, ", "), "no cpu or memory requests limited")
		return g
	}
	g.Outcome = scaling.Warn
	g.Reason = scope + " overcommit: " + strings.Join(over, ", ") + ": the tenants cannot all use their quotas at once"
	g.Remedy = "add nodes (nodes.AddWorker), or accept the overcommit knowingly"
	return g
}

func blast(hp *helmplan.Result) scaling.GuardResult {
	g, _ := helmplan.BlastRadius(hp, nil)
	return g
}

// deriveUpdateQuota plans a stored plan again from its request, with the
// chart it pinned.
func (c *Client) deriveUpdateQuota(ctx context.Context, spec *quotaSpec) (*scaling.Plan, *quotaSpec, error) {
	return c.planUpdateQuota(ctx, spec.Request)
}

// applyUpdateQuota runs a derived plan: the one upgrade.
func (c *Client) applyUpdateQuota(ctx context.Context, plan *scaling.Plan, spec *quotaSpec) (*scaling.Applied, error) {
	return c.upgrade(ctx, plan, spec.Namespace, spec.Release, spec.Revision, spec.Request.Chart, spec.Values)
}

// errOverridden stops Verify's watch when the quota's spec was changed
// after the upgrade.
var errOverridden = errors.New("overridden")

// verifyUpdateQuota checks that the release carries the planned hard map,
// then watches the ResourceQuota until the quota controller has taken it
// (status.hard equals the plan) and the usage fits (used <= hard).
func (c *Client) verifyUpdateQuota(ctx context.Context, plan *scaling.Plan, spec *quotaSpec) (*scaling.Verification, error) {
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	if spec.Quota == "" {
		return nil, &scaling.InvalidPlanError{Reason: "the plan names no ResourceQuota (it was blocked)"}
	}
	want := spec.Hard
	rel, err := c.releases.Last(ctx, spec.Namespace, spec.Release)
	if err != nil {
		return nil, err
	}
	carried := map[string]any{}
	for _, tree := range []map[string]any{rel.Computed, rel.Values} {
		if m, ok := valueMap(tree, spec.Request.ValuePath); ok {
			maps.Copy(carried, m)
		}
	}
	value := scaling.Check{Name: "release-value " + spec.Request.ValuePath, Expected: hardMapText(want), Observed: hardMapText(canonical(carried)),
		Detail: fmt.Sprintf("revision %d (%s)", rel.Revision, rel.Status), ObservedAt: time.Now()}
	value.Passed = value.Expected == value.Observed
	if !value.Passed {
		v.Checks = []scaling.Check{value}
		return verify.Conclude(ctx, v, fmt.Errorf("release %s/%s revision %d does not carry the planned %s: the plan is not applied, or was rolled back",
			spec.Namespace, spec.Release, rel.Revision, spec.Request.ValuePath), "", ""), nil
	}
	quotas := c.kube.CoreV1().ResourceQuotas(spec.Namespace)
	src := await.Typed(c.kube, "quota", &corev1.ResourceQuota{}, quotas.List, quotas.Watch, await.ByName(spec.Quota))
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	ref := scaling.ObjectRef{Kind: "ResourceQuota", Namespace: spec.Namespace, Name: spec.Quota}
	var overridden string
	err = await.Until(ctx, []await.Source{src}, func(s await.Stores) (bool, error) {
		qs := await.List[*corev1.ResourceQuota](s[0])
		if len(qs) == 0 {
			return false, &scaling.NotFoundError{Object: ref, Detail: "deleted while verifying"}
		}
		q, now := qs[0], time.Now()
		specHard := scaling.Check{Name: "spec-hard", Expected: hardMapText(want), Observed: hardText(q.Spec.Hard), ObservedAt: now}
		specHard.Passed = sameHard(q.Spec.Hard, want)
		statusHard := scaling.Check{Name: "status-hard", Expected: hardMapText(want), Observed: hardText(q.Status.Hard), ObservedAt: now,
			Detail: "the quota controller's copy of spec.hard, which admission enforces"}
		statusHard.Passed = sameHard(q.Status.Hard, want)
		over := exceeded(q)
		fits := scaling.Check{Name: "used-within-hard", Expected: "used <= hard for every resource", Observed: "used " + hardText(q.Status.Used), Passed: len(over) == 0, ObservedAt: now}
		if len(over) > 0 {
			fits.Detail = belowText(over)
		}
		v.Checks = []scaling.Check{value, specHard, statusHard, fits}
		emitter.Emit(v.Checks)
		switch {
		case !specHard.Passed:
			overridden = fmt.Sprintf("%s spec.hard is %s, the plan set %s%s", ref, specHard.Observed, specHard.Expected, lastWriter(q))
			return false, errOverridden
		case statusHard.Passed && len(over) > 0:
			return false, &BelowUsageError{Tenant: spec.Request.Tenant, Namespace: spec.Namespace, Quota: spec.Quota, Resources: over}
		}
		return verify.Passed(v.Checks), nil
	})
	if errors.Is(err, errOverridden) {
		err = nil
	}
	return verify.Conclude(ctx, v, err, overridden, "deadline passed before the quota controller took the new limits"), nil
}

// exceeded lists the resources whose status.used is above status.hard.
func exceeded(q *corev1.ResourceQuota) []BelowUsage {
	var out []BelowUsage
	for _, k := range slices.Sorted(maps.Keys(q.Status.Hard)) {
		hard, used := q.Status.Hard[k], q.Status.Used[k]
		if used.Cmp(hard) > 0 {
			out = append(out, BelowUsage{Resource: string(k), Hard: hard.String(), Used: used.String()})
		}
	}
	return out
}

func belowText(bs []BelowUsage) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%s used %s > hard %s", b.Resource, b.Used, b.Hard)
	}
	return strings.Join(parts, "; ")
}

// lastWriter names who last wrote the quota's spec, from its managed
// fields, for an Overridden reason.
func lastWriter(q *corev1.ResourceQuota) string {
	var last *metav1.ManagedFieldsEntry
	for i := range q.ManagedFields {
		m := &q.ManagedFields[i]
		if m.Subresource != "" || m.Time == nil {
			continue
		}
		if last == nil || m.Time.After(last.Time.Time) {
			last = m
		}
	}
	if last == nil {
		return ""
	}
	return " (last written by " + last.Manager + ")"
}
