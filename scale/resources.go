package scale

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/postgres"
)

// OpResources is the Plan.Operation of Resources plans.
const OpResources = "scale.Resources"

// DefaultResourcesPath is the value holding the app container's resources
// in the reference chart (and in `helm create`'s).
const DefaultResourcesPath = "resources"

// Resources changes the requests and limits of the container a release's
// resources value (or ValuePath) drives: the runbook's vertical scaling,
// `helm upgrade --reuse-values --set resources.requests.cpu=500m`, planned.
// The workload's pods are replaced at its rollout pace.
type Resources struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Requests and Limits are the container's new resources.requests / resources.limits
	// (cpu, memory, ...); a resource not named keeps the chart's value. At least one must be set.
	Requests corev1.ResourceList `json:"requests,omitempty"`
	Limits   corev1.ResourceList `json:"limits,omitempty"`
	// ValuePath is the chart value holding the app's resources; default "resources".
	ValuePath string `json:"valuePath,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	// The plan records the source it used, with the chart's digest.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

// defaults fills ValuePath and refuses what no cluster state can make
// valid: a missing target, no resource, a negative quantity, a name a
// dotted value path cannot hold, and a limit the request itself puts below
// its request. A limit below a request only the chart's values complete
// is the limits-below-requests guard's, since it depends on the release.
func (r *Resources) defaults() error {
	if r.ValuePath == "" {
		r.ValuePath = DefaultResourcesPath
	}
	switch {
	case r.Namespace == "":
		return &scaling.InvalidInputError{Field: "Resources.Namespace", Value: `""`, Reason: "is required"}
	case r.Release == "":
		return &scaling.InvalidInputError{Field: "Resources.Release", Value: `""`, Reason: "is required"}
	case len(r.Requests) == 0 && len(r.Limits) == 0:
		return &scaling.InvalidInputError{Field: "Resources.Requests", Value: "{}", Reason: "set at least one request or limit"}
	}
	if _, err := values.Split(r.ValuePath); err != nil {
		return &scaling.InvalidInputError{Field: "Resources.ValuePath", Value: r.ValuePath, Reason: err.Error()}
	}
	for kind, list := range map[string]corev1.ResourceList{"Requests": r.Requests, "Limits": r.Limits} {
		for name, q := range list {
			field := "Resources." + kind + "." + string(name)
			switch {
			case name == "" || strings.Contains(string(name), "."):
				// A dotted value path has no escape for a dot in a key
				// (nvidia.com/gpu): the name would become two keys.
				return &scaling.InvalidInputError{Field: field, Value: string(name), Reason: "must be a resource name without dots (cpu, memory, ephemeral-storage)"}
			case q.Sign() < 0:
				return &scaling.InvalidInputError{Field: field, Value: q.String(), Reason: "must not be negative"}
			}
		}
	}
	for name, limit := range r.Limits {
		if req, ok := r.Requests[name]; ok && limit.Cmp(req) < 0 {
			return &scaling.InvalidInputError{Field: "Resources.Limits." + string(name), Value: limit.String(),
				Reason: fmt.Sprintf("is below the request %s of the same resource", req.String())}
		}
	}
	return nil
}

// sets is one value per resource the request names whose value (the
// release's computed values: user values over the chart's defaults) is not
// that quantity already, in a stable order: requests, then limits, by name.
// A value that holds in another spelling ("0.5" for 500m) is left as it is,
// so a request that already holds is a no-op.
func (r Resources) sets(computed map[string]any) []helmplan.Set {
	var out []helmplan.Set
	for _, part := range []struct {
		key  string
		list corev1.ResourceList
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for _, name := range slices.Sorted(maps.Keys(part.list)) {
			q := part.list[name]
			path := r.ValuePath + "." + part.key + "." + string(name)
			if cur, ok := values.Get(computed, path); ok && cur != nil {
				if have, err := resource.ParseQuantity(fmt.Sprint(cur)); err == nil && have.Cmp(q) == 0 {
					continue
				}
			}
			out = append(out, helmplan.Set{Path: path, Value: q.String()})
		}
	}
	return out
}

// containerResources is a container the value path drives and the
// resources the plan renders for it: what Verify finds in every new pod.
type containerResources struct {
	Name      string                      `json:"name"`
	Resources corev1.ResourceRequirements `json:"resources"`
}

// resourcesSpec is what a Resources plan carries for Apply and Verify.
type resourcesSpec struct {
	Request    Resources            `json:"request"`
	Revision   int                  `json:"revision"`
	Values     map[string]any       `json:"values"`
	Workload   scaling.ObjectRef    `json:"workload"`
	Containers []containerResources `json:"containers"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// shown is the spec as a plan stores it: its values redacted.
func (s resourcesSpec) shown(red *redact.Redactor) resourcesSpec {
	s.Values = red.Values(s.Values)
	return s
}

// probeCPU is a cpu request no chart defaults to: rendering the chart with
// it at the value path shows which workload's containers it drives.
var probeCPU = resource.MustParse("7919m")

// PlanResources reads the release, the workload whose container resources
// its value path drives (found by rendering), that workload's live pod
// template, the namespace's quotas and HPAs and the nodes, and returns the
// plan. Invalid input is a *scaling.InvalidInputError, a missing release,
// or a chart in which the value path drives no container, a
// *scaling.NotFoundError, and a pending release a
// *scaling.ReleasePendingError; none of them reads or writes anything
// more. Unsafe targets are not errors: they come back as blocking guards
// (limits-below-requests, quota, capacity, blast-radius), so the plan can
// still be shown.
func (c *Client) PlanResources(ctx context.Context, r Resources) (*scaling.Plan, error) {
	plan, _, err := c.planResources(ctx, r)
	return plan, err
}

// resourcesState is everything PlanResources reads, read once before any
// guard: the guards and steps are pure functions of it and the request.
type resourcesState struct {
	hp         *helmplan.Result
	sets       []helmplan.Set
	ref        scaling.ObjectRef
	containers []string
	live       *workload
	// liveTmpl is the pod template the running pods were made from.
	liveTmpl corev1.PodTemplateSpec
	// tmpl and strategy are the workload as the plan renders it.
	tmpl     corev1.PodTemplateSpec
	strategy *appsv1.DeploymentStrategy
	// replicas is the count after the upgrade: the rendered spec.replicas,
	// or the live one when the chart leaves it to an HPA.
	replicas int32
	// hpaName and hpaMax are the HPA that owns the count, if one does.
	hpaName string
	hpaMax  int32
	limits  namespaceLimits
}

func (c *Client) planResources(ctx context.Context, r Resources) (*scaling.Plan, *resourcesSpec, error) {
	if err := r.defaults(); err != nil {
		return nil, nil, err
	}
	src, err := r.Chart.For("Resources.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.readResources(ctx, r, src)
	if err != nil {
		return nil, nil, err
	}
	r.Chart = st.hp.Chart
	plan, spec := resourcesPlan(r, st, c.red)
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c.red)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

func (c *Client) readResources(ctx context.Context, r Resources, src scaling.ChartSource) (*resourcesState, error) {
	rel, err := helmplan.Last(ctx, c.releases, r.Namespace, r.Release)
	if err != nil {
		return nil, err
	}
	st := &resourcesState{sets: r.sets(rel.Computed)}
	if st.hp, err = helmplan.PlanFrom(ctx, c.releases, rel, src, st.sets, c.red); err != nil {
		return nil, err
	}
	ref, containers, err := c.resourcesWorkload(ctx, r, st.hp)
	if err != nil {
		return nil, err
	}
	if ref == nil {
		return nil, &scaling.NotFoundError{Object: helmplan.Ref(r.Namespace, r.Release),
			Detail: fmt.Sprintf("%s.requests.cpu sets the resources of no container of a Deployment or StatefulSet the chart renders", r.ValuePath)}
	}
	st.ref, st.containers = *ref, containers
	if st.live, err = getWorkload(ctx, c.kube, st.ref); err != nil {
		return nil, err
	}
	// The running pods were made from the live template, which a
	// `kubectl set resources` may have moved away from the chart's: the
	// quota's Used counts those.
	liveObj, err := c.workloadObject(ctx, st.ref)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", st.ref, err)
	}
	st.liveTmpl = liveObj.template
	rendered, ok := workloadObject(st.hp.After, st.ref)
	if !ok {
		return nil, fmt.Errorf("the planned manifest of %s/%s lacks %s", r.Namespace, r.Release, st.ref)
	}
	if st.tmpl, st.strategy, err = podTemplate(rendered); err != nil {
		return nil, fmt.Errorf("decoding the rendered %s: %w", st.ref, err)
	}
	st.replicas = st.live.Replicas
	if n, ok := manifest.Replicas(rendered); ok {
		// The upgrade sets the rendered count, drifted or not.
		st.replicas = int32(min(max(n, 0), 1<<31-1))
	}
	if st.limits, err = c.readLimits(ctx, r.Namespace); err != nil {
		return nil, err
	}
	if h := hpaLimit(st.limits.hpas, st.ref); h != nil {
		st.hpaName, st.hpaMax = h.Name, h.MaxReplicas
	} else if h, target, ok := renderedHPA(st.hp.After); ok && target == st.ref {
		st.hpaName, st.hpaMax = h.Name, h.Spec.MaxReplicas
	}
	return st, nil
}

// resourcesWorkload renders the chart with a probe cpu request at the value
// path, on top of the planned values, and returns the workload whose
// containers take it, and those containers' names; nil when none does. The
// probe tells the app's Deployment from the other workloads of a chart
// (NATS, a pooler), which carry resources of their own.
func (c *Client) resourcesWorkload(ctx context.Context, r Resources, hp *helmplan.Result) (*scaling.ObjectRef, []string, error) {
	probe := values.Copy(hp.Values)
	if err := values.Set(probe, r.ValuePath+".requests.cpu", probeCPU.String()); err != nil {
		return nil, nil, &scaling.InvalidInputError{Field: "Resources.ValuePath", Value: r.ValuePath, Reason: err.Error()}
	}
	rendered, err := c.releases.Render(ctx, r.Namespace, r.Release, hp.Release.Revision, hp.Chart, probe)
	if err != nil {
		return nil, nil, err
	}
	objs, err := manifest.Parse(rendered.Manifest, r.Namespace)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range manifest.Workloads(objs) {
		tmpl, _, err := podTemplate(w)
		if err != nil {
			continue
		}
		var names []string
		for _, ctr := range tmpl.Spec.Containers {
			if q, ok := ctr.Resources.Requests[corev1.ResourceCPU]; ok && q.Cmp(probeCPU) == 0 {
				names = append(names, ctr.Name)
			}
		}
		if len(names) > 0 {
			return &scaling.ObjectRef{Kind: w.Obj.GetKind(), Namespace: w.Obj.GetNamespace(), Name: w.Obj.GetName()}, names, nil
		}
	}
	return nil, nil, nil
}

// resourcesPlan evaluates the guards and derives the steps; it reads
// nothing.
func resourcesPlan(r Resources, st *resourcesState, red *redact.Redactor) (*scaling.Plan, *resourcesSpec) {
	hp, ref := st.hp, st.ref
	plan := &scaling.Plan{
		Version:   scaling.PlanVersion,
		Operation: OpResources,
		Target:    helmplan.Ref(r.Namespace, r.Release),
		Diff:      hp.Diff,
		CreatedAt: time.Now().UTC(),
		Fingerprint: scaling.Fingerprint{
			helmplan.FingerprintKey(r.Namespace, r.Release): helmplan.Revision(hp.Release.Revision),
		},
		Summary: fmt.Sprintf("Set the resources of %s through release %s/%s: %s.", ref, r.Namespace, r.Release, describeResources(r.Requests, r.Limits)),
	}
	if st.hpaName == "" {
		// An HPA moves the generation whenever it scales; without one, it
		// moves only with a real change of the workload.
		plan.Fingerprint[st.live.fingerprintKey()] = strconv.FormatInt(st.live.Generation, 10)
	}
	if g, ok := helmplan.StatusGuard(hp.Release, "the resources"); ok {
		plan.Guards = append(plan.Guards, g)
	}
	oldPod, newPod := quota.PodRequests(st.liveTmpl.Spec), quota.PodRequests(st.tmpl.Spec)
	rollout := quota.Rollout{Current: st.live.Replicas, Old: oldPod, Replicas: st.replicas, Surge: postgres.Surge(st.strategy, st.replicas), New: newPod}
	plan.Guards = append(plan.Guards,
		limitsGuard(ref, st.tmpl.Spec),
		rolloutQuotaGuard(r.Namespace, st.limits.quotas, ref, rollout, st.hpaName, st.hpaMax),
		capacityGuard(st.replicas, newPod, st.limits),
		blast(hp, nil))

	spec := &resourcesSpec{Request: r, Revision: hp.Release.Revision, Values: hp.Values, Workload: ref}
	for _, name := range st.containers {
		if i := slices.IndexFunc(st.tmpl.Spec.Containers, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
			spec.Containers = append(spec.Containers, containerResources{Name: name, Resources: st.tmpl.Spec.Containers[i].Resources})
		}
	}
	if !hp.Changed() {
		plan.NoOp = true
		return plan, spec
	}
	plan.Steps = valueSteps(plan.Target, st.sets, hp.Current, hp.Rendered.Computed, red)
	for _, ctr := range spec.Containers {
		before := ""
		if i := slices.IndexFunc(st.liveTmpl.Spec.Containers, func(c corev1.Container) bool { return c.Name == ctr.Name }); i >= 0 {
			before = describeResources(st.liveTmpl.Spec.Containers[i].Resources.Requests, st.liveTmpl.Spec.Containers[i].Resources.Limits)
		}
		after := describeResources(ctr.Resources.Requests, ctr.Resources.Limits)
		if before == after {
			continue
		}
		plan.Steps = append(plan.Steps, scaling.Step{Action: "roll out", Object: ref, Field: "spec.template.spec.containers[" + ctr.Name + "].resources",
			Before: before, After: after, Note: "applied by the upgrade: the controller replaces every pod at its rollout pace; Verify waits for the new pods"})
	}
	if s, ok := helmplan.ChartStep(plan.Target, hp); ok {
		plan.Steps = append(plan.Steps, s)
	}
	if !slices.ContainsFunc(plan.Steps, func(s scaling.Step) bool { return s.Action == "helm upgrade" }) {
		// The upgrade is the one write (upgrade runs the first "helm
		// upgrade" step); a plan whose values change without a value the
		// request names moving in the computed ones still shows it.
		plan.Steps = append([]scaling.Step{{Action: "helm upgrade", Object: plan.Target, Note: setsNote(st.sets)}}, plan.Steps...)
	}
	return plan, spec
}

// describeResources is requests and limits as one line, by resource name:
// "requests cpu=500m memory=1Gi; limits memory=1Gi".
func describeResources(requests, limits corev1.ResourceList) string {
	var parts []string
	for _, p := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", requests}, {"limits", limits}} {
		if len(p.list) == 0 {
			continue
		}
		s := p.name
		for _, n := range slices.Sorted(maps.Keys(p.list)) {
			q := p.list[n]
			s += " " + string(n) + "=" + q.String()
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// limitsGuard blocks a planned pod template with a container whose limit
// is below its request (quota.LimitsBelowRequests): the API server refuses
// the workload's update, so the upgrade would fail halfway, with the objects
// before it in Helm's order already changed.
func limitsGuard(ref scaling.ObjectRef, spec corev1.PodSpec) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardLimitsBelowRequests, Outcome: scaling.Pass, Reason: "every container's limits are at or above its requests"}
	inv := quota.LimitsBelowRequests(spec)
	if len(inv) == 0 {
		return g
	}
	cause := &LimitsBelowRequestsError{Workload: ref}
	for _, v := range inv {
		cause.Inversions = append(cause.Inversions, LimitInversion{Container: v.Container, Resource: string(v.Resource), Request: v.Request.String(), Limit: v.Limit.String()})
	}
	g.Outcome, g.Cause, g.Reason = scaling.Block, cause, strings.TrimPrefix(cause.Error(), "scale: ")
	g.Remedy = "raise the limit with the request (Resources.Limits), or lower the request"
	return g
}

// rolloutQuotaGuard blocks new resources whose rollout does not fit in the
// namespace's ResourceQuotas. The rule (quota.Rollout.Peak): for each hard
// key, what else uses the quota (Used - the running pods x their current
// requests) plus the workload's pods at the rollout's worst moment for that
// key (replicas new pods and up to maxSurge old ones for a raise, every old
// pod and maxSurge new ones for a cut) must be at most Hard; otherwise the
// ReplicaSet cannot create its pods and the rollout stops halfway, old and
// new pods side by side. The count is the one the upgrade leaves: an HPA's
// current one when it owns the count; it warns when the HPA's maxReplicas
// of the new pods would not fit, since the HPA then stops short.
func rolloutQuotaGuard(ns string, quotas []corev1.ResourceQuota, ref scaling.ObjectRef, ro quota.Rollout, hpa string, hpaMax int32) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardQuota, Outcome: scaling.Pass}
	if len(quotas) == 0 {
		g.Reason = "no ResourceQuota in namespace " + ns
		return g
	}
	if short := quota.RolloutFit(quotas, ro); len(short) > 0 {
		cause := &QuotaError{Namespace: ns, Rollout: &QuotaRollout{Workload: ref, Current: ro.Current, Replicas: ro.Replicas, Surge: ro.Surge}}
		for _, s := range short {
			cause.Short = append(cause.Short, QuotaShortfall{Quota: s.Quota, Resource: string(s.Resource), Pods: s.Pods, Need: s.Need.String(), Left: s.Left.String(), Hard: s.Hard.String(), Used: s.Used.String()})
		}
		g.Outcome, g.Cause, g.Reason = scaling.Block, cause, strings.TrimPrefix(cause.Error(), "scale: ")
		g.Remedy = "raise the namespace's ResourceQuota, ask for less, or lower maxSurge (a Recreate strategy has none, at the cost of downtime)"
		return g
	}
	g.Reason = fmt.Sprintf("the rollout of %s (%d replicas + %d surge) fits in the %d ResourceQuota(s) of %s", ref, ro.Replicas, ro.Surge, len(quotas), ns)
	if hpa == "" || hpaMax <= ro.Replicas {
		return g
	}
	atMax := quota.Rollout{Current: ro.Current, Old: ro.Old, Replicas: hpaMax, New: ro.New}
	if short := quota.RolloutFit(quotas, atMax); len(short) > 0 {
		parts := make([]string, len(short))
		for i, s := range short {
			parts[i] = fmt.Sprintf("%s %s: %s more, %s left (hard %s, used %s)", s.Quota, s.Resource, s.Need.String(), s.Left.String(), s.Hard.String(), s.Used.String())
		}
		g.Outcome = scaling.Warn
		g.Reason += fmt.Sprintf("; but HPA %s may scale to %d pods of the new size, which do not: %s", hpa, hpaMax, strings.Join(parts, "; "))
		g.Remedy = fmt.Sprintf("raise the quota, or lower HPA %s's maxReplicas (scale.Autoscale) to what it holds", hpa)
	}
	return g
}

// deriveResources plans a stored Resources plan again from its request,
// with the chart it pinned.
func (c *Client) deriveResources(ctx context.Context, spec *resourcesSpec) (*scaling.Plan, *resourcesSpec, error) {
	return c.planResources(ctx, spec.Request)
}

// applyResources runs a derived Resources plan: one upgrade, whose new pod
// template the workload's controller rolls out.
func (c *Client) applyResources(ctx context.Context, plan *scaling.Plan, spec *resourcesSpec) (*scaling.Applied, error) {
	r := spec.Request
	return c.upgrade(ctx, plan, r.Namespace, r.Release, spec.Revision, r.Chart, spec.Values, scaling.ObjectRef{}, 0)
}

// verifyResources checks that the release carries the planned resources,
// then watches the workload and its pods until the pods of the current
// revision are all Ready, each with the planned requests and limits in its
// containers, and no older pod remains. A pod template whose resources
// differ from the plan's (changed after the upgrade) is Overridden.
func (c *Client) verifyResources(ctx context.Context, plan *scaling.Plan, spec *resourcesSpec) (*scaling.Verification, error) {
	r := spec.Request
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	if spec.Workload.Name == "" || len(spec.Containers) == 0 {
		return nil, &scaling.InvalidPlanError{Reason: "the plan names no workload or container"}
	}
	rel, err := c.releases.Last(ctx, r.Namespace, r.Release)
	if err != nil {
		return nil, err
	}
	if missing := releaseResourcesMissing(r, rel.Computed); len(missing) > 0 {
		v.Checks = []scaling.Check{{Name: "release-values", Expected: describeResources(r.Requests, r.Limits), Observed: strings.Join(missing, ", "), ObservedAt: time.Now()}}
		v.Phase, v.Finished = scaling.Failed, time.Now()
		v.Reason = fmt.Sprintf("release %s/%s revision %d does not carry %s: the plan is not applied, or was rolled back", r.Namespace, r.Release, rel.Revision, strings.Join(missing, ", "))
		v.Duration = v.Finished.Sub(v.Started)
		return v, nil
	}
	want := describeContainers(spec.Containers)
	return c.watchWorkload(ctx, plan, v, spec.Workload, nil, func(o observation) verdict {
		ro, now := o.ro, time.Now()
		var tmpl corev1.PodTemplateSpec
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			tmpl = w.Spec.Template
		case *appsv1.StatefulSet:
			tmpl = w.Spec.Template
		}
		live := templateMismatch(tmpl.Spec, spec.Containers)
		running, carrying := 0, 0
		var wrong []string
		for _, p := range o.pods {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			running++
			if m := templateMismatch(p.Spec, spec.Containers); m == "" {
				carrying++
			} else {
				wrong = append(wrong, p.Name+": "+m)
			}
		}
		slices.Sort(wrong)
		n := strconv.Itoa(int(ro.specReplicas))
		vd := verdict{checks: []scaling.Check{
			{Name: "template-resources", Expected: want, Observed: observedOr(live, want), Passed: live == "", ObservedAt: now},
			{Name: "rollout-observed", Expected: fmt.Sprintf("observedGeneration >= %d", ro.generation), Observed: strconv.FormatInt(ro.observedGeneration, 10), Passed: ro.observedGeneration >= ro.generation, ObservedAt: now},
			{Name: "pods-ready", Expected: n + " Ready pods of the current revision", Observed: fmt.Sprintf("%d Ready of %d", ro.ready, ro.current), Passed: ro.ready == ro.specReplicas && ro.current == ro.specReplicas, Detail: pendingDetail(ro.pending), ObservedAt: now},
			{Name: "pods-resources", Expected: "every pod with " + want, Observed: fmt.Sprintf("%d of %d pods", carrying, running), Passed: carrying == running && int32(carrying) == ro.specReplicas, Detail: joinMax(wrong, 3), ObservedAt: now},
			{Name: "old-pods-gone", Expected: "0 pods of older revisions", Observed: strconv.Itoa(int(ro.others)), Passed: ro.others == 0, ObservedAt: now},
		}}
		if live != "" {
			vd.overridden = fmt.Sprintf("the pod template of %s has %s, the plan set %s", spec.Workload, live, want)
		}
		return vd
	}, "deadline passed before every pod ran the new resources")
}

// releaseResourcesMissing names each requested resource the release's
// computed values do not hold ("requests.cpu=500m").
func releaseResourcesMissing(r Resources, computed map[string]any) []string {
	var missing []string
	for _, s := range r.sets(computed) {
		missing = append(missing, strings.TrimPrefix(s.Path, r.ValuePath+".")+"="+fmt.Sprint(s.Value))
	}
	return missing
}

// templateMismatch says how a pod spec's containers differ from the
// planned resources ("" when they carry them): each planned request and
// limit by quantity. A resource the plan leaves unset is not judged (a
// LimitRange may default it).
func templateMismatch(pod corev1.PodSpec, want []containerResources) string {
	var out []string
	for _, w := range want {
		i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == w.Name })
		if i < 0 {
			out = append(out, "no container "+w.Name)
			continue
		}
		got := pod.Containers[i].Resources
		if !carries(got.Requests, w.Resources.Requests) || !carries(got.Limits, w.Resources.Limits) {
			out = append(out, w.Name+" "+describeResources(got.Requests, got.Limits))
		}
	}
	return strings.Join(out, ", ")
}

func carries(got, want corev1.ResourceList) bool {
	for name, q := range want {
		if have, ok := got[name]; !ok || have.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

func describeContainers(cs []containerResources) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + " " + describeResources(c.Resources.Requests, c.Resources.Limits)
	}
	return strings.Join(parts, ", ")
}

func observedOr(mismatch, want string) string {
	if mismatch == "" {
		return want
	}
	return mismatch
}
