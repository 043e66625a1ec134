package scale

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
)

// OpReplicas is the Plan.Operation of Replicas plans.
const OpReplicas = "scale.Replicas"

// Defaults of Replicas' value paths: the reference chart's and most
// charts' (`helm create` uses replicaCount).
const (
	DefaultReplicasPath   = "replicaCount"
	DefaultClusteringPath = "cluster.enabled"
)

// Replicas sets the replica count of the workload a Helm release's
// replicaCount (or ValuePath) drives: `helm upgrade --reuse-values --set
// replicaCount=N`, planned. For a Deployment or StatefulSet that no release
// owns, name it in Workload and leave Release empty: the count then goes
// through the scale subresource (`kubectl scale`).
type Replicas struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release,omitempty"`
	// Workload names a Deployment or StatefulSet without a release.
	Workload *scaling.ObjectRef `json:"workload,omitempty"`
	// Replicas is the desired count (>= 0).
	Replicas int32 `json:"replicas"`
	// ValuePath is the value that drives the count; default "replicaCount".
	ValuePath string `json:"valuePath,omitempty"`
	// ClusteringPath is the boolean value without which more than one
	// replica is unsafe (instances that don't know of each other); default
	// "cluster.enabled". A chart without that value passes the guard.
	ClusteringPath string `json:"clusteringPath,omitempty"`
	// Budget describes the pods' PostgreSQL connections; the zero value
	// reads the pool size from database.poolSize and max_connections from
	// the release's CloudNativePG Cluster.
	Budget ConnectionBudget `json:"budget,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	// The plan records the source it used, with the chart's digest.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r *Replicas) defaults() error {
	if r.ValuePath == "" {
		r.ValuePath = DefaultReplicasPath
	}
	if r.ClusteringPath == "" {
		r.ClusteringPath = DefaultClusteringPath
	}
	switch {
	case r.Namespace == "":
		return &scaling.InvalidInputError{Field: "Replicas.Namespace", Value: `""`, Reason: "is required"}
	case r.Release == "" && r.Workload == nil:
		return &scaling.InvalidInputError{Field: "Replicas.Release", Value: `""`, Reason: "a release or a workload is required"}
	case r.Release != "" && r.Workload != nil:
		return &scaling.InvalidInputError{Field: "Replicas.Workload", Value: *r.Workload, Reason: "give a release or a workload, not both"}
	case r.Workload != nil && (r.Workload.Kind != "Deployment" && r.Workload.Kind != "StatefulSet" || r.Workload.Name == ""):
		return &scaling.InvalidInputError{Field: "Replicas.Workload", Value: *r.Workload, Reason: "must name a Deployment or StatefulSet"}
	case r.Replicas < 0:
		return &scaling.InvalidInputError{Field: "Replicas.Replicas", Value: r.Replicas, Reason: "must be 0 or more"}
	case r.Budget.MaxConnections < 0 || r.Budget.Reserved < 0 || r.Budget.Others < 0:
		return &scaling.InvalidInputError{Field: "Replicas.Budget", Value: r.Budget, Reason: "counts must not be negative"}
	case r.Budget.MaxConnections > 0 && r.Budget.Reserved >= r.Budget.MaxConnections:
		return &scaling.InvalidInputError{Field: "Replicas.Budget.Reserved", Value: r.Budget.Reserved, Reason: "must be less than MaxConnections"}
	}
	if r.Budget.PoolSizePath != "" {
		if _, err := values.Split(r.Budget.PoolSizePath); err != nil {
			return &scaling.InvalidInputError{Field: "Replicas.Budget.PoolSizePath", Value: r.Budget.PoolSizePath, Reason: err.Error()}
		}
	}
	for field, p := range map[string]string{"Replicas.ValuePath": r.ValuePath, "Replicas.ClusteringPath": r.ClusteringPath} {
		if _, err := values.Split(p); err != nil {
			return &scaling.InvalidInputError{Field: field, Value: p, Reason: err.Error()}
		}
	}
	return nil
}

// replicasSpec is what a Replicas plan carries for Apply and Verify.
type replicasSpec struct {
	Request  Replicas          `json:"request"`
	Revision int               `json:"revision"`
	Values   map[string]any    `json:"values"`
	Workload scaling.ObjectRef `json:"workload"`
	// PatchScale: the chart does not render spec.replicas (an HPA owns it),
	// so Apply sets it through the scale subresource after the upgrade.
	PatchScale bool `json:"patchScale,omitempty"`
	// HPA is the autoscaler whose minReplicas the plan lowers (scale.Down).
	HPA string `json:"hpa,omitempty"`
	// Down is the request of a Down plan, which Apply plans again from.
	Down *Down `json:"down,omitempty"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// probeReplicas is a count no chart defaults to: rendering the chart with it
// shows which workload the value path drives.
const probeReplicas = 7919

// PlanReplicas reads the release, the workload its value path drives and the
// HPAs of the namespace, and returns the plan. Invalid input is a
// *scaling.InvalidInputError, a missing release or workload a
// *scaling.NotFoundError and a pending release a
// *scaling.ReleasePendingError; none of them reads or writes anything more.
// Unsafe targets are not errors: they come back as blocking guards, so the
// plan can still be shown.
func (c *Client) PlanReplicas(ctx context.Context, r Replicas) (*scaling.Plan, error) {
	plan, _, err := c.planReplicas(ctx, r)
	return plan, err
}

// planReplicas is PlanReplicas, also returning the plan's spec as it is in
// memory (with the values the plan shows redacted): what Apply runs.
func (c *Client) planReplicas(ctx context.Context, r Replicas) (*scaling.Plan, *replicasSpec, error) {
	if err := r.defaults(); err != nil {
		return nil, nil, err
	}
	if r.Workload != nil {
		return opkit.Decoded[replicasSpec](c.planWorkloadReplicas(ctx, r))
	}
	src, err := r.Chart.For("Replicas.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.readReplicas(ctx, r, src)
	if err != nil {
		return nil, nil, err
	}
	r.Chart = st.hp.Chart
	plan := replicasPlan(r, st)
	var ref scaling.ObjectRef
	if st.ref != nil {
		ref = *st.ref
		// Part of the plan, so Apply, which plans again from the request,
		// judges the scale-out on what the chart renders then.
		plan.Guards = append(plan.Guards, scaleOutGuards(c.opts.ScaleOut,
			scaleOut{ref: ref, replicas: r.Replicas, from: st.live.Replicas, what: "replicas"}, st.tmpl, st.hp.After)...)
	}
	return c.finishReplicasPlan(plan, r, st.hp, ref)
}

// replicasState is everything PlanReplicas reads, read once before any
// guard: the guards and steps are pure functions of it and the request.
type replicasState struct {
	hp *helmplan.Result
	// ref is the workload the value path drives; nil when none does.
	ref  *scaling.ObjectRef
	live *workload
	// rendered is ref's pod template and strategy as the plan renders them.
	tmpl     corev1.PodTemplateSpec
	strategy *appsv1.DeploymentStrategy
	limits   namespaceLimits
	// cnpg is the CloudNativePG Cluster the budget names, read when the
	// release renders none.
	cnpg *manifest.Object
}

func (c *Client) readReplicas(ctx context.Context, r Replicas, src scaling.ChartSource) (*replicasState, error) {
	hp, err := helmplan.Plan(ctx, c.releases, r.Namespace, r.Release, src, []helmplan.Set{{Path: r.ValuePath, Value: int64(r.Replicas)}}, c.red)
	if err != nil {
		return nil, err
	}
	st := &replicasState{hp: hp}
	if st.ref, err = c.drivenWorkload(ctx, r, hp); err != nil || st.ref == nil {
		return st, err
	}
	if st.live, err = getWorkload(ctx, c.kube, *st.ref); err != nil {
		return nil, err
	}
	rendered, ok := workloadObject(hp.After, *st.ref)
	if !ok {
		return nil, fmt.Errorf("the planned manifest of %s/%s lacks %s", r.Namespace, r.Release, st.ref)
	}
	if st.tmpl, st.strategy, err = podTemplate(rendered); err != nil {
		return nil, fmt.Errorf("decoding the rendered %s: %w", st.ref, err)
	}
	if st.limits, err = c.readLimits(ctx, r.Namespace); err != nil {
		return nil, err
	}
	if r.Budget.Cluster != "" && r.Budget.MaxConnections == 0 {
		if st.cnpg, err = c.liveCNPGCluster(ctx, r.Namespace, r.Budget.Cluster); err != nil {
			return nil, &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "Cluster", Namespace: r.Namespace, Name: r.Budget.Cluster}, Detail: err.Error()}
		}
	}
	return st, nil
}

// replicasPlan evaluates the guards and derives the steps; it reads
// nothing.
func replicasPlan(r Replicas, st *replicasState) *scaling.Plan {
	hp := st.hp
	plan := &scaling.Plan{
		Version:   scaling.PlanVersion,
		Operation: OpReplicas,
		Target:    helmplan.Ref(r.Namespace, r.Release),
		Diff:      hp.Diff,
		CreatedAt: time.Now().UTC(),
		Fingerprint: scaling.Fingerprint{
			helmplan.FingerprintKey(r.Namespace, r.Release): helmplan.Revision(hp.Release.Revision),
		},
	}
	if g, ok := helmplan.StatusGuard(hp.Release, "the replica count"); ok {
		plan.Guards = append(plan.Guards, g)
	}
	if st.ref == nil {
		if hpa, target, ok := renderedHPA(hp.After); ok {
			// The chart hands the count to its HPA: say which, its range,
			// and both ways out, as the hpa guard does for a live HPA.
			plan.Guards = append(plan.Guards, hpaBlock(hpa, target, r.Replicas))
			plan.Summary = fmt.Sprintf("Set %s=%d on release %s/%s, whose HPA owns the count.", r.ValuePath, r.Replicas, r.Namespace, r.Release)
			return plan
		}
		plan.Guards = append(plan.Guards, scaling.GuardResult{Name: GuardValuePath, Outcome: scaling.Block, Cause: &ValuePathError{Path: r.ValuePath},
			Reason: fmt.Sprintf("%s does not set spec.replicas of any Deployment or StatefulSet the chart renders (an HPA may own the count, or the path is wrong)", r.ValuePath),
			Remedy: "name the value path that drives replicas, or scale through the autoscaler's minReplicas/maxReplicas"})
		plan.Summary = fmt.Sprintf("Set %s=%d on release %s/%s.", r.ValuePath, r.Replicas, r.Namespace, r.Release)
		return plan
	}
	ref, live := *st.ref, st.live
	plan.Fingerprint[live.fingerprintKey()] = strconv.FormatInt(live.Generation, 10)
	plan.Summary = fmt.Sprintf("Scale %s from %d to %d replicas through release %s (%s=%d).", ref, live.Replicas, r.Replicas, r.Release, r.ValuePath, r.Replicas)
	plan.Guards = append(plan.Guards,
		clusteringGuard(r, hp.Current),
		hpaGuard(st.limits.hpas, ref, r.Replicas),
		quotaGuard(r.Namespace, st.limits.quotas, r.Replicas-live.Replicas, quota.PodRequests(st.tmpl.Spec)),
		capacityGuard(r.Replicas, quota.PodRequests(st.tmpl.Spec), st.limits),
		budgetGuard(r.Budget, r.Replicas, hp.Rendered.Computed, hp.After, st.cnpg, st.strategy, hpaLimit(st.limits.hpas, ref)))

	current, _ := values.Int(hp.Current, r.ValuePath)
	if !hp.Changed() && live.Replicas == r.Replicas {
		plan.NoOp = true
		return plan
	}
	plan.Steps = []scaling.Step{
		{Action: "helm upgrade", Object: plan.Target, Field: r.ValuePath, Before: strconv.FormatInt(current, 10), After: strconv.Itoa(int(r.Replicas)),
			Note: "sends the deployed user values with this one change: what --reuse-values --set would send, computed up front"},
		{Action: "scale", Object: ref, Field: "spec.replicas", Before: strconv.Itoa(int(live.Replicas)), After: strconv.Itoa(int(r.Replicas)),
			Note: "applied by the upgrade; Verify waits for the pods"},
	}
	return plan
}

// deriveReplicas plans a stored Replicas or Down plan again from its
// request, with the chart it pinned (a changed chart is then a
// *scaling.ChartChangedError, not a different plan).
func (c *Client) deriveReplicas(ctx context.Context, spec *replicasSpec) (*scaling.Plan, *replicasSpec, error) {
	if spec.Down != nil {
		d := *spec.Down
		d.Chart = spec.Request.Chart
		return c.planDown(ctx, d)
	}
	return c.planReplicas(ctx, spec.Request)
}

func (c *Client) finishReplicasPlan(plan *scaling.Plan, r Replicas, hp *helmplan.Result, ref scaling.ObjectRef) (*scaling.Plan, *replicasSpec, error) {
	plan.Guards = append(plan.Guards, blast(hp, nil))
	if s, ok := helmplan.ChartStep(plan.Target, hp); ok && !plan.NoOp {
		plan.Steps = append(plan.Steps, s)
	}
	causes, err := opkit.CausesOf(plan.Guards)
	if err != nil {
		return nil, nil, err
	}
	spec := &replicasSpec{Request: r, Revision: hp.Release.Revision, Values: hp.Values, Workload: ref, Causes: causes}
	if plan.Spec, err = planspec.Encode(spec.shown(c.red)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// shown is the spec as a plan stores it: its values redacted. Apply never
// writes a stored spec's values; it derives them again.
func (s replicasSpec) shown(red *redact.Redactor) replicasSpec {
	s.Values = red.Values(s.Values)
	return s
}

// drivenWorkload renders the chart with a probe count at the value path and
// returns the workload whose spec.replicas follows it, or nil when none does.
// The probe starts from the planned values, not the deployed ones: a
// template move that turns the HPA off makes the count drive the workload
// again, which the deployed values (autoscaling on) would hide.
func (c *Client) drivenWorkload(ctx context.Context, r Replicas, hp *helmplan.Result) (*scaling.ObjectRef, error) {
	probe := values.Copy(hp.Values)
	if err := values.Set(probe, r.ValuePath, int64(probeReplicas)); err != nil {
		return nil, &scaling.InvalidInputError{Field: "Replicas.ValuePath", Value: r.ValuePath, Reason: err.Error()}
	}
	rendered, err := c.releases.Render(ctx, r.Namespace, r.Release, hp.Release.Revision, hp.Chart, probe)
	if err != nil {
		return nil, err
	}
	objs, err := manifest.Parse(rendered.Manifest, r.Namespace)
	if err != nil {
		return nil, err
	}
	for _, w := range manifest.Workloads(objs) {
		if n, ok := manifest.Replicas(w); ok && n == probeReplicas {
			return &scaling.ObjectRef{Kind: w.Obj.GetKind(), Namespace: w.Obj.GetNamespace(), Name: w.Obj.GetName()}, nil
		}
	}
	return nil, nil
}

// workloadObject finds a workload in a parsed manifest by reference.
func workloadObject(objs map[string]manifest.Object, ref scaling.ObjectRef) (manifest.Object, bool) {
	for _, o := range manifest.Workloads(objs) {
		if o.Obj.GetKind() == ref.Kind && o.Obj.GetName() == ref.Name && o.Obj.GetNamespace() == ref.Namespace {
			return o, true
		}
	}
	return manifest.Object{}, false
}

func clusteringGuard(r Replicas, computed map[string]any) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardClustering, Outcome: scaling.Pass}
	_, exists := values.Get(computed, r.ClusteringPath)
	switch {
	case r.Replicas <= 1:
		g.Reason = "one replica or none needs no clustering"
	case !exists:
		g.Reason = fmt.Sprintf("the chart has no %s value: nothing to check", r.ClusteringPath)
	case values.Bool(computed, r.ClusteringPath):
		g.Reason = fmt.Sprintf("%s is true", r.ClusteringPath)
	default:
		g.Outcome, g.Cause = scaling.Block, &ClusteringError{Replicas: r.Replicas, Path: r.ClusteringPath}
		g.Reason = fmt.Sprintf("%d replicas with %s=false run as independent instances that do not share state", r.Replicas, r.ClusteringPath)
		g.Remedy = "move the release to the medium template (clustering on) first, then scale"
	}
	return g
}

// hpaGuard finds an HPA that targets the workload. A fixed count outside its
// [minReplicas, maxReplicas] is undone by the HPA within seconds, and one
// inside it is only a starting point: both are blocked here, because the
// runbook's way with an HPA is to change min/max (scale.Autoscale).
func hpaGuard(hpas []autoscalingv2.HorizontalPodAutoscaler, ref scaling.ObjectRef, replicas int32) scaling.GuardResult {
	for i := range hpas {
		if h := &hpas[i]; targets(h, ref) {
			return hpaBlock(h, ref, replicas)
		}
	}
	return scaling.GuardResult{Name: GuardHPA, Outcome: scaling.Pass, Reason: "no HorizontalPodAutoscaler targets " + ref.String()}
}

// hpaBlock is the hpa guard's verdict for a workload an HPA owns.
func hpaBlock(h *autoscalingv2.HorizontalPodAutoscaler, ref scaling.ObjectRef, replicas int32) scaling.GuardResult {
	minR := deref(h.Spec.MinReplicas)
	g := scaling.GuardResult{Name: GuardHPA, Outcome: scaling.Block,
		Cause:  &HPAError{HPA: h.Name, Workload: ref, Min: minR, Max: h.Spec.MaxReplicas, Replicas: replicas},
		Remedy: fmt.Sprintf("retarget HPA %s's minReplicas/maxReplicas (scale.Autoscale), or disable autoscaling first", h.Name)}
	if replicas < minR || replicas > h.Spec.MaxReplicas {
		g.Reason = fmt.Sprintf("HPA %s keeps %s within [%d, %d]; %d is outside and would be undone", h.Name, ref, minR, h.Spec.MaxReplicas, replicas)
	} else {
		g.Reason = fmt.Sprintf("HPA %s owns the replica count of %s (range [%d, %d]); a fixed count would be overridden", h.Name, ref, minR, h.Spec.MaxReplicas)
	}
	return g
}

func targets(h *autoscalingv2.HorizontalPodAutoscaler, ref scaling.ObjectRef) bool {
	t := h.Spec.ScaleTargetRef
	return t.Kind == ref.Kind && t.Name == ref.Name
}

// applyReplicas runs a derived Replicas or Down plan: one upgrade and,
// when the chart leaves the count to an HPA (PatchScale), the scale
// subresource after it.
func (c *Client) applyReplicas(ctx context.Context, plan *scaling.Plan, spec *replicasSpec) (*scaling.Applied, error) {
	r := spec.Request
	if r.Workload != nil {
		return c.applyWorkloadReplicas(ctx, plan, spec)
	}
	// Applied.Fingerprint carries the new revision; the workload's new
	// generation is not read back (a request for nothing the caller needs:
	// Verify watches the workload anyway).
	return c.upgrade(ctx, plan, r.Namespace, r.Release, spec.Revision, r.Chart, spec.Values, spec.Workload, r.Replicas)
}

// verifyReplicas watches the workload, its pods and ReplicaSets until the
// pods of the current revision are all Ready and no older pod remains.
func (c *Client) verifyReplicas(ctx context.Context, plan *scaling.Plan, spec *replicasSpec) (*scaling.Verification, error) {
	r := spec.Request
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	finish := func(p scaling.Phase, reason string) (*scaling.Verification, error) {
		v.Phase, v.Reason, v.Finished = p, reason, time.Now()
		v.Duration = v.Finished.Sub(v.Started)
		return v, nil
	}
	if spec.Workload.Name == "" {
		return nil, &scaling.InvalidPlanError{Reason: "the plan names no workload (it was blocked)"}
	}
	if r.Release != "" {
		rel, err := c.releases.Last(ctx, r.Namespace, r.Release)
		if err != nil {
			return nil, err
		}
		if n, _ := values.Int(rel.Values, r.ValuePath); n != int64(r.Replicas) {
			v.Checks = []scaling.Check{{Name: "release-value", Expected: strconv.Itoa(int(r.Replicas)), Observed: strconv.FormatInt(n, 10), ObservedAt: time.Now()}}
			return finish(scaling.Failed, fmt.Sprintf("release %s/%s revision %d does not carry %s=%d: the plan is not applied, or was rolled back", r.Namespace, r.Release, rel.Revision, r.ValuePath, r.Replicas))
		}
	}
	var hpaCheck *scaling.Check
	if spec.HPA != "" {
		h, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(r.Namespace).Get(ctx, spec.HPA, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading HPA %s: %w", spec.HPA, err)
		}
		minR := int32(1)
		if h.Spec.MinReplicas != nil {
			minR = *h.Spec.MinReplicas
		}
		hpaCheck = &scaling.Check{Name: "hpa-min", Expected: strconv.Itoa(int(r.Replicas)), Observed: strconv.Itoa(int(minR)), Passed: minR == r.Replicas, ObservedAt: time.Now()}
		if !hpaCheck.Passed {
			v.Checks = []scaling.Check{*hpaCheck}
			return finish(scaling.Failed, fmt.Sprintf("HPA %s has minReplicas %d, the plan set %d", spec.HPA, minR, r.Replicas))
		}
	}
	return c.watchWorkload(ctx, plan, v, spec.Workload, nil, func(o observation) verdict {
		ro, now, want := o.ro, time.Now(), strconv.Itoa(int(r.Replicas))
		vd := verdict{checks: []scaling.Check{
			{Name: "spec-replicas", Expected: want, Observed: strconv.Itoa(int(ro.specReplicas)), Passed: ro.specReplicas == r.Replicas, Detail: managerDetail(ro), ObservedAt: now},
			{Name: "rollout-observed", Expected: fmt.Sprintf("observedGeneration >= %d", ro.generation), Observed: strconv.FormatInt(ro.observedGeneration, 10), Passed: ro.observedGeneration >= ro.generation, ObservedAt: now},
			{Name: "pods-ready", Expected: want + " Ready pods of the current revision", Observed: fmt.Sprintf("%d Ready of %d", ro.ready, ro.current), Passed: ro.ready == r.Replicas && ro.current == r.Replicas, Detail: pendingDetail(ro.pending), ObservedAt: now},
			{Name: "old-pods-gone", Expected: "0 pods of older revisions", Observed: strconv.Itoa(int(ro.others)), Passed: ro.others == 0, ObservedAt: now},
		}}
		if hpaCheck != nil {
			vd.checks = append(vd.checks, *hpaCheck)
		}
		if ro.specReplicas != r.Replicas {
			vd.overridden = fmt.Sprintf("%s spec.replicas is %d, the plan set %d%s", spec.Workload, ro.specReplicas, r.Replicas, byManager(ro.replicasManager))
		}
		return vd
	}, "deadline passed before every check held")
}

func managerDetail(ro rollout) string {
	if ro.replicasManager == "" {
		return ""
	}
	return "last written by " + ro.replicasManager
}

func byManager(m string) string {
	if m == "" {
		return ""
	}
	return " (last written by " + m + ")"
}

func pendingDetail(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return fmt.Sprintf("%d pod(s) not scheduled: %s", len(p), joinMax(p, 3))
}

func joinMax(s []string, n int) string {
	out := ""
	for i, x := range s {
		if i == n {
			return out + fmt.Sprintf("; and %d more", len(s)-n)
		}
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
