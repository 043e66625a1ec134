package scale

import (
	"context"
	"fmt"
	"strconv"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
)

// OpDown is the Plan.Operation of Down plans.
const OpDown = "scale.Down"

// Down is the runbook's "scale down to save cost" (off-hours): it sets the
// replica count and, when the release runs an HPA, lowers the HPA's
// minReplicas to the same count, so the HPA does not scale the workload
// straight back up to its old minimum.
type Down struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Replicas is the count to run; nil means 1.
	Replicas *int32 `json:"replicas,omitempty"`
	// ValuePath drives the count when no HPA does; default "replicaCount".
	ValuePath string `json:"valuePath,omitempty"`
	// AutoscalingPath says whether the chart runs an HPA; default
	// "autoscaling.enabled". MinReplicasPath is the HPA's minimum; default
	// "autoscaling.minReplicas".
	AutoscalingPath string `json:"autoscalingPath,omitempty"`
	MinReplicasPath string `json:"minReplicasPath,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (d *Down) defaults() (int32, error) {
	if d.ValuePath == "" {
		d.ValuePath = DefaultReplicasPath
	}
	if d.AutoscalingPath == "" {
		d.AutoscalingPath = "autoscaling.enabled"
	}
	if d.MinReplicasPath == "" {
		d.MinReplicasPath = "autoscaling.minReplicas"
	}
	n := int32(1)
	if d.Replicas != nil {
		n = *d.Replicas
	}
	switch {
	case d.Namespace == "":
		return 0, &scaling.InvalidInputError{Field: "Down.Namespace", Value: `""`, Reason: "is required"}
	case d.Release == "":
		return 0, &scaling.InvalidInputError{Field: "Down.Release", Value: `""`, Reason: "is required"}
	case n < 0:
		return 0, &scaling.InvalidInputError{Field: "Down.Replicas", Value: n, Reason: "must be 0 or more"}
	}
	for field, p := range map[string]string{"Down.ValuePath": d.ValuePath, "Down.AutoscalingPath": d.AutoscalingPath, "Down.MinReplicasPath": d.MinReplicasPath} {
		if _, err := values.Split(p); err != nil {
			return 0, &scaling.InvalidInputError{Field: field, Value: p, Reason: err.Error()}
		}
	}
	return n, nil
}

// PlanDown returns the plan of a scale-down. Errors are typed as for
// PlanReplicas. An HPA's minReplicas of 0 is not allowed by Kubernetes by
// default, so scaling an autoscaled release to 0 is blocked.
func (c *Client) PlanDown(ctx context.Context, d Down) (*scaling.Plan, error) {
	plan, _, err := c.planDown(ctx, d)
	return plan, err
}

// planDown is PlanDown, also returning the spec in memory (planReplicas).
func (c *Client) planDown(ctx context.Context, d Down) (*scaling.Plan, *replicasSpec, error) {
	n, err := d.defaults()
	if err != nil {
		return nil, nil, err
	}
	st, err := c.readDown(ctx, d, n)
	if err != nil {
		return nil, nil, err
	}
	if n > st.live.Replicas {
		return nil, nil, &scaling.InvalidInputError{Field: "Down.Replicas", Value: n,
			Reason: fmt.Sprintf("is above the %d replicas %s runs: that is a scale-up, which scale.Replicas plans with its guards (quota, capacity, connection budget)", st.live.Replicas, st.ref)}
	}
	plan, spec := downPlan(d, n, st)
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c.red)); err != nil {
		return nil, nil, err
	}
	return plan, &spec, nil
}

// downState is everything PlanDown reads, once, before any guard.
type downState struct {
	hp *helmplan.Result
	// sets are the values the plan changes: the count, and the HPA's
	// minimum when the release autoscales.
	sets       []helmplan.Set
	autoscaled bool
	// ref is the workload; patchScale says the chart leaves its count to
	// the release's HPA (named hpa), so a scale subresource step sets it.
	ref        scaling.ObjectRef
	patchScale bool
	hpa        string
	live       *workload
	// limits are read when the release does not autoscale: an HPA outside
	// it would undo the count.
	limits namespaceLimits
}

func (c *Client) readDown(ctx context.Context, d Down, n int32) (*downState, error) {
	rel, err := helmplan.Last(ctx, c.releases, d.Namespace, d.Release)
	if err != nil {
		return nil, err
	}
	st := &downState{autoscaled: values.Bool(rel.Computed, d.AutoscalingPath)}
	st.sets = []helmplan.Set{{Path: d.ValuePath, Value: int64(n)}}
	if st.autoscaled {
		st.sets = append(st.sets, helmplan.Set{Path: d.MinReplicasPath, Value: int64(n)})
	}
	src, err := d.Chart.For("Down.Chart", c.opts.Chart)
	if err != nil {
		return nil, err
	}
	if st.hp, err = helmplan.PlanFrom(ctx, c.releases, rel, src, st.sets, c.red); err != nil {
		return nil, err
	}
	ref, err := c.drivenWorkload(ctx, d.replicas(n, st.hp.Chart), st.hp)
	if err != nil {
		return nil, err
	}
	if ref == nil && st.autoscaled {
		if hpa, target, ok := renderedHPA(st.hp.After); ok {
			ref, st.patchScale, st.hpa = &target, true, hpa.Name
		}
	}
	if ref == nil {
		return nil, &scaling.NotFoundError{Object: helmplan.Ref(d.Namespace, d.Release), Detail: fmt.Sprintf("no Deployment or StatefulSet follows %s, and no HPA of the release names one", d.ValuePath)}
	}
	st.ref = *ref
	if st.live, err = getWorkload(ctx, c.kube, st.ref); err != nil {
		return nil, err
	}
	if !st.autoscaled {
		if st.limits, err = c.readLimits(ctx, d.Namespace); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// replicas is the Replicas request a Down amounts to.
func (d Down) replicas(n int32, chart scaling.ChartSource) Replicas {
	return Replicas{Namespace: d.Namespace, Release: d.Release, Replicas: n, ValuePath: d.ValuePath, Chart: chart}
}

// downPlan evaluates the guards and derives the steps; it reads nothing.
func downPlan(d Down, n int32, st *downState) (*scaling.Plan, replicasSpec) {
	hp, ref, live := st.hp, st.ref, st.live
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpDown, Target: helmplan.Ref(d.Namespace, d.Release),
		Diff: hp.Diff, CreatedAt: time.Now().UTC(),
		Fingerprint: scaling.Fingerprint{
			helmplan.FingerprintKey(d.Namespace, d.Release): helmplan.Revision(hp.Release.Revision),
			live.fingerprintKey():                           strconv.FormatInt(live.Generation, 10),
		},
		Summary: fmt.Sprintf("Scale %s down from %d to %d replicas.", ref, live.Replicas, n),
	}
	spec := replicasSpec{Request: d.replicas(n, hp.Chart), Revision: hp.Release.Revision, Values: hp.Values, Workload: ref, PatchScale: st.patchScale, HPA: st.hpa, Down: &d}
	spec.Down.Chart = hp.Chart // pinned, as the Replicas request is
	plan.Guards = append(plan.Guards, downHPAGuard(n, st), blast(hp, nil))

	current, _ := values.Int(hp.Current, d.ValuePath)
	if !hp.Changed() && live.Replicas == n {
		plan.NoOp = true
		return plan, spec
	}
	plan.Steps = append(plan.Steps, scaling.Step{Action: "helm upgrade", Object: plan.Target, Field: d.ValuePath,
		Before: strconv.FormatInt(current, 10), After: strconv.Itoa(int(n)), Note: setsNote(st.sets)})
	if st.patchScale {
		plan.Steps = append(plan.Steps, scaling.Step{Action: actionScaleSubresource, Object: ref, Field: "spec.replicas",
			Before: strconv.Itoa(int(live.Replicas)), After: strconv.Itoa(int(n)), Note: "the chart leaves spec.replicas to the HPA, so the upgrade cannot set it"})
	}
	if s, ok := helmplan.ChartStep(plan.Target, hp); ok {
		plan.Steps = append(plan.Steps, s)
	}
	return plan, spec
}

// downHPAGuard: the release's own HPA gets the new minimum with the count
// (Kubernetes refuses a minReplicas of 0 by default); an HPA outside the
// release would undo the count.
func downHPAGuard(n int32, st *downState) scaling.GuardResult {
	switch {
	case st.autoscaled && n == 0:
		return scaling.GuardResult{Name: GuardHPA, Outcome: scaling.Block, Reason: "HPA " + st.hpa + " cannot have minReplicas 0",
			Cause:  &HPAError{HPA: st.hpa, Workload: st.ref, Replicas: 0},
			Remedy: "scale to 1, or disable autoscaling first"}
	case st.autoscaled:
		return scaling.GuardResult{Name: GuardHPA, Outcome: scaling.Pass,
			Reason: fmt.Sprintf("HPA %s gets minReplicas %d, so it does not scale %s back up to its old minimum", st.hpa, n, st.ref)}
	}
	if g := hpaGuard(st.limits.hpas, st.ref, n); g.Outcome != scaling.Pass {
		g.Remedy = "the HPA is not part of the release: lower its minReplicas, or delete it, first"
		return g
	}
	return scaling.GuardResult{Name: GuardHPA, Outcome: scaling.Pass, Reason: "no HPA in the release"}
}

func setsNote(sets []helmplan.Set) string {
	s := "sets"
	for i, x := range sets {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(" %s=%v", x.Path, x.Value)
	}
	return s + " on top of the deployed user values"
}

// renderedHPA returns the first HPA a manifest holds and its target.
func renderedHPA(objs map[string]manifest.Object) (*autoscalingv2.HorizontalPodAutoscaler, scaling.ObjectRef, bool) {
	for _, o := range manifest.Sorted(objs) {
		if o.Obj.GetKind() != "HorizontalPodAutoscaler" {
			continue
		}
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &h); err != nil {
			continue
		}
		return &h, scaling.ObjectRef{Kind: h.Spec.ScaleTargetRef.Kind, Namespace: o.Obj.GetNamespace(), Name: h.Spec.ScaleTargetRef.Name}, true
	}
	return nil, scaling.ObjectRef{}, false
}

// valueSteps is one "helm upgrade" step per value the sets change, with the
// value before (deployed) and after (planned).
func valueSteps(target scaling.ObjectRef, sets []helmplan.Set, before, after map[string]any, red *redact.Redactor) []scaling.Step {
	var steps []scaling.Step
	for _, s := range sets {
		b, _ := values.Get(before, s.Path)
		a, _ := values.Get(after, s.Path)
		if bs, as := short(b), short(a); bs != as {
			steps = append(steps, scaling.Step{Action: "helm upgrade", Object: target, Field: s.Path, Before: red.Text(s.Path, bs), After: red.Text(s.Path, as)})
		}
	}
	return steps
}
