package scale

import (
	"context"
	"fmt"
	"strconv"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
)

// OpAutoscale is the Plan.Operation of Autoscale plans.
const OpAutoscale = "scale.Autoscale"

// Autoscale enables or tunes the release's HorizontalPodAutoscaler
// (autoscaling/v2) through its chart values: the runbook's "scale based on
// request rate".
type Autoscale struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// MinReplicas (>= 1) and MaxReplicas (>= MinReplicas) bound the HPA.
	MinReplicas int32 `json:"minReplicas"`
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilization and TargetMemoryUtilization are average
	// utilization targets in percent of the pods' requests; 0 keeps the
	// chart's setting. They need container resource requests.
	TargetCPUUtilization    int32 `json:"targetCPUUtilization,omitempty"`
	TargetMemoryUtilization int32 `json:"targetMemoryUtilization,omitempty"`
	// PodsMetrics scale on a per-pod custom metric's average, e.g.
	// http_requests_per_second 1000. They replace the chart's extra metrics.
	PodsMetrics []PodsMetric `json:"podsMetrics,omitempty"`
	// Behavior sets scale-up and scale-down policies and stabilization
	// windows; nil keeps the chart's.
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	// Paths are the chart's value paths; the zero value is the reference
	// chart's (autoscaling.*).
	Paths AutoscalePaths `json:"paths"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

// PodsMetric is an autoscaling/v2 Pods metric with an AverageValue target.
type PodsMetric struct {
	Name         string            `json:"name"`
	AverageValue resource.Quantity `json:"averageValue"`
}

// AutoscalePaths name the chart values Autoscale writes.
type AutoscalePaths struct {
	Enabled, MinReplicas, MaxReplicas, CPU, Memory, Metrics, Behavior string
}

func (p *AutoscalePaths) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&p.Enabled, "autoscaling.enabled")
	def(&p.MinReplicas, "autoscaling.minReplicas")
	def(&p.MaxReplicas, "autoscaling.maxReplicas")
	def(&p.CPU, "autoscaling.targetCPUUtilizationPercentage")
	def(&p.Memory, "autoscaling.targetMemoryUtilizationPercentage")
	def(&p.Metrics, "autoscaling.metrics")
	def(&p.Behavior, "autoscaling.behavior")
}

func (a *Autoscale) validate() error {
	a.Paths.defaults()
	bad := func(field string, v any, why string) error {
		return &scaling.InvalidInputError{Field: "Autoscale." + field, Value: v, Reason: why}
	}
	switch {
	case a.Namespace == "":
		return bad("Namespace", `""`, "is required")
	case a.Release == "":
		return bad("Release", `""`, "is required")
	case a.MinReplicas < 1:
		return bad("MinReplicas", a.MinReplicas, "must be at least 1 (an HPA cannot scale to zero)")
	case a.MaxReplicas < a.MinReplicas:
		return bad("MaxReplicas", a.MaxReplicas, fmt.Sprintf("must be at least MinReplicas (%d)", a.MinReplicas))
	case a.TargetCPUUtilization < 0:
		return bad("TargetCPUUtilization", a.TargetCPUUtilization, "must be a positive percentage")
	case a.TargetMemoryUtilization < 0:
		return bad("TargetMemoryUtilization", a.TargetMemoryUtilization, "must be a positive percentage")
	}
	for i, m := range a.PodsMetrics {
		if m.Name == "" || m.AverageValue.Sign() <= 0 {
			return bad(fmt.Sprintf("PodsMetrics[%d]", i), m, "needs a metric name and a positive average value")
		}
	}
	if b := a.Behavior; b != nil {
		for dir, rules := range map[string]*autoscalingv2.HPAScalingRules{"ScaleUp": b.ScaleUp, "ScaleDown": b.ScaleDown} {
			if rules == nil {
				continue
			}
			if w := rules.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
				return bad("Behavior."+dir+".StabilizationWindowSeconds", *w, "must be within 0..3600")
			}
			if sp := rules.SelectPolicy; sp != nil && *sp != autoscalingv2.MaxChangePolicySelect && *sp != autoscalingv2.MinChangePolicySelect && *sp != autoscalingv2.DisabledPolicySelect {
				return bad("Behavior."+dir+".SelectPolicy", *sp, "must be Max, Min or Disabled")
			}
			for _, p := range rules.Policies {
				if (p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy) || p.Value <= 0 || p.PeriodSeconds <= 0 || p.PeriodSeconds > 1800 {
					return bad("Behavior."+dir+".Policies", p, "type must be Pods or Percent, value > 0, period within 1..1800 s")
				}
			}
		}
	}
	for _, p := range []string{a.Paths.Enabled, a.Paths.MinReplicas, a.Paths.MaxReplicas, a.Paths.CPU, a.Paths.Memory, a.Paths.Metrics, a.Paths.Behavior} {
		if _, err := values.Split(p); err != nil {
			return bad("Paths", p, err.Error())
		}
	}
	return nil
}

func (a *Autoscale) sets() ([]helmplan.Set, error) {
	p := a.Paths
	sets := []helmplan.Set{{Path: p.Enabled, Value: true}, {Path: p.MinReplicas, Value: int64(a.MinReplicas)}, {Path: p.MaxReplicas, Value: int64(a.MaxReplicas)}}
	if a.TargetCPUUtilization > 0 {
		sets = append(sets, helmplan.Set{Path: p.CPU, Value: int64(a.TargetCPUUtilization)})
	}
	if a.TargetMemoryUtilization > 0 {
		sets = append(sets, helmplan.Set{Path: p.Memory, Value: int64(a.TargetMemoryUtilization)})
	}
	if len(a.PodsMetrics) > 0 {
		var metrics []any
		for _, m := range a.PodsMetrics {
			q := m.AverageValue
			spec := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: m.Name},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q},
			}}
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&spec)
			if err != nil {
				return nil, err
			}
			metrics = append(metrics, u)
		}
		sets = append(sets, helmplan.Set{Path: p.Metrics, Value: metrics})
	}
	if a.Behavior != nil {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(a.Behavior)
		if err != nil {
			return nil, err
		}
		sets = append(sets, helmplan.Set{Path: p.Behavior, Value: u})
	}
	return sets, nil
}

type autoscaleSpec struct {
	Request  Autoscale                                 `json:"request"`
	Revision int                                       `json:"revision"`
	Values   map[string]any                            `json:"values"`
	HPA      string                                    `json:"hpa"`
	Workload scaling.ObjectRef                         `json:"workload"`
	Expected autoscalingv2.HorizontalPodAutoscalerSpec `json:"expected"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// PlanAutoscale returns the plan that enables or tunes the HPA. Invalid
// bounds or policies are a *scaling.InvalidInputError and read nothing.
func (c *Client) PlanAutoscale(ctx context.Context, a Autoscale) (*scaling.Plan, error) {
	plan, _, err := c.planAutoscale(ctx, a)
	return plan, err
}

// planAutoscale is PlanAutoscale, also returning the spec in memory
// (planReplicas).
func (c *Client) planAutoscale(ctx context.Context, a Autoscale) (*scaling.Plan, *autoscaleSpec, error) {
	if err := a.validate(); err != nil {
		return nil, nil, err
	}
	sets, err := a.sets()
	if err != nil {
		return nil, nil, err
	}
	src, err := a.Chart.For("Autoscale.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	hp, err := helmplan.Plan(ctx, c.releases, a.Namespace, a.Release, src, sets, c.red)
	if err != nil {
		return nil, nil, err
	}
	a.Chart = hp.Chart
	expected, ref, ok := renderedHPA(hp.After)
	if !ok {
		return nil, nil, &scaling.NotFoundError{Object: helmplan.Ref(a.Namespace, a.Release), Detail: "the chart renders no HorizontalPodAutoscaler with " + a.Paths.Enabled + "=true"}
	}
	name := expected.Name
	live, err := getWorkload(ctx, c.kube, ref)
	if err != nil {
		return nil, nil, err
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpAutoscale, Target: helmplan.Ref(a.Namespace, a.Release),
		Diff: hp.Diff, CreatedAt: time.Now().UTC(),
		Summary: fmt.Sprintf("Autoscale %s between %d and %d replicas with HPA %s.", ref, a.MinReplicas, a.MaxReplicas, name),
		// The workload's generation moves whenever the HPA scales it, so the
		// HPA's own generation stands for it.
		Fingerprint: scaling.Fingerprint{helmplan.FingerprintKey(a.Namespace, a.Release): helmplan.Revision(hp.Release.Revision)},
	}
	hpaRef := scaling.ObjectRef{Kind: "HorizontalPodAutoscaler", Namespace: a.Namespace, Name: name}
	if h, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(a.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
		plan.Fingerprint[scaling.FingerprintKey(hpaRef, scaling.AspectGeneration)] = strconv.FormatInt(h.Generation, 10)
	} else if !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("reading HPA %s: %w", name, err)
	} else {
		plan.Fingerprint[scaling.FingerprintKey(hpaRef, scaling.AspectGeneration)] = "absent"
	}

	rendered, ok := workloadObject(hp.After, ref)
	if !ok {
		return nil, nil, fmt.Errorf("the planned manifest of %s/%s lacks %s", a.Namespace, a.Release, ref)
	}
	tmpl, _, err := podTemplate(rendered)
	if err != nil {
		return nil, nil, err
	}
	plan.Guards = append(plan.Guards, requestsGuard(expected, tmpl.Spec), resetGuard(hp, ref, live.Replicas, a.MinReplicas))
	// The HPA may run up to MaxReplicas: that is the count whose state
	// must be shared, whatever it runs now (from 0: any maximum above one
	// is judged).
	plan.Guards = append(plan.Guards, scaleOutGuards(c.opts.ScaleOut, scaleOut{ref: ref, replicas: a.MaxReplicas, what: "HPA maxReplicas"}, tmpl, hp.After)...)
	plan.Guards = append(plan.Guards, blast(hp, nil))
	plan.Steps = valueSteps(plan.Target, sets, hp.Current, hp.Rendered.Computed, c.red)
	if s, ok := helmplan.ChartStep(plan.Target, hp); ok {
		plan.Steps = append(plan.Steps, s)
	}
	if !hp.Changed() {
		plan.NoOp, plan.Steps = true, nil
	}
	spec := autoscaleSpec{Request: a, Revision: hp.Release.Revision, Values: hp.Values, HPA: name, Workload: ref, Expected: expected.Spec}
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c.red)); err != nil {
		return nil, nil, err
	}
	return plan, &spec, nil
}

// shown is the spec as a plan stores it: its values redacted.
func (s autoscaleSpec) shown(red *redact.Redactor) autoscaleSpec {
	s.Values = red.Values(s.Values)
	return s
}

func short(v any) string {
	if v == nil {
		return ""
	}
	s := fmt.Sprint(v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// requestsGuard: a utilization target is a percentage of the containers'
// requests; without requests the HPA cannot compute it and never scales.
func requestsGuard(h *autoscalingv2.HorizontalPodAutoscaler, pod corev1.PodSpec) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardResourceRequests, Outcome: scaling.Pass, Reason: "no utilization target"}
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
			continue
		}
		for _, ctr := range pod.Containers {
			if _, ok := ctr.Resources.Requests[m.Resource.Name]; !ok {
				g.Outcome = scaling.Block
				g.Reason = fmt.Sprintf("a %s utilization target needs %s requests, and container %s has none", m.Resource.Name, m.Resource.Name, ctr.Name)
				g.Remedy = "set resources.requests." + string(m.Resource.Name) + " in the chart values, or target an average value instead"
				return g
			}
		}
		g.Reason = "every container requests the resources the utilization targets refer to"
	}
	return g
}

// resetGuard warns of the switch to autoscaling: the chart stops rendering
// spec.replicas, Helm's three-way merge deletes the field, and the API
// server defaults it to 1 until the HPA raises it to minReplicas.
func resetGuard(hp *helmplan.Result, ref scaling.ObjectRef, live, minR int32) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardReplicasReset, Outcome: scaling.Pass, Reason: "the release already leaves spec.replicas to the HPA"}
	before, ok := workloadObject(hp.Before, ref)
	if !ok {
		return g
	}
	if _, rendered := manifest.Replicas(before); rendered && live > 1 {
		g.Outcome = scaling.Warn
		g.Reason = fmt.Sprintf("enabling autoscaling removes spec.replicas from %s: it drops from %d to 1 replica until the HPA raises it to %d (seconds)", ref, live, minR)
		g.Remedy = "apply outside peak hours, or keep minReplicas at or above the current count"
	}
	return g
}

// deriveAutoscale plans a stored Autoscale plan again from its request.
func (c *Client) deriveAutoscale(ctx context.Context, spec *autoscaleSpec) (*scaling.Plan, *autoscaleSpec, error) {
	return c.planAutoscale(ctx, spec.Request)
}

// applyAutoscale runs a derived Autoscale plan: one upgrade.
func (c *Client) applyAutoscale(ctx context.Context, plan *scaling.Plan, spec *autoscaleSpec) (*scaling.Applied, error) {
	a := spec.Request
	return c.upgrade(ctx, plan, a.Namespace, a.Release, spec.Revision, a.Chart, spec.Values, spec.Workload, 0)
}

// verifyAutoscale watches the HPA and the workload until the HPA has the
// planned spec and the workload runs a Ready count within [min, max].
func (c *Client) verifyAutoscale(ctx context.Context, plan *scaling.Plan, spec *autoscaleSpec) (*scaling.Verification, error) {
	a := spec.Request
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	hpas := c.kube.AutoscalingV2().HorizontalPodAutoscalers(a.Namespace)
	extra := []await.Source{await.Typed(c.kube, "hpa", &autoscalingv2.HorizontalPodAutoscaler{}, hpas.List, hpas.Watch, await.ByName(spec.HPA))}
	return c.watchWorkload(ctx, plan, v, spec.Workload, extra, func(o observation) verdict {
		now := time.Now()
		hpaCheck := scaling.Check{Name: "hpa-spec", Expected: fmt.Sprintf("HPA %s as planned (min %d, max %d)", spec.HPA, a.MinReplicas, a.MaxReplicas), Observed: "absent", ObservedAt: now}
		var vd verdict
		if list := await.List[*autoscalingv2.HorizontalPodAutoscaler](o.extra[0]); len(list) == 1 {
			live := list[0]
			hpaCheck.Observed = fmt.Sprintf("min %d, max %d, %d metric(s)", deref(live.Spec.MinReplicas), live.Spec.MaxReplicas, len(live.Spec.Metrics))
			hpaCheck.Passed = hpaMatches(&spec.Expected, &live.Spec)
			if spec.Expected.MaxReplicas != live.Spec.MaxReplicas || deref(spec.Expected.MinReplicas) != deref(live.Spec.MinReplicas) {
				vd.overridden = fmt.Sprintf("HPA %s has range [%d, %d], the plan set [%d, %d]", spec.HPA, deref(live.Spec.MinReplicas), live.Spec.MaxReplicas, deref(spec.Expected.MinReplicas), spec.Expected.MaxReplicas)
			}
		}
		ro := o.ro
		rangeCheck := scaling.Check{Name: "replicas-in-range", Expected: fmt.Sprintf("[%d, %d] Ready", a.MinReplicas, a.MaxReplicas),
			Observed: fmt.Sprintf("spec %d, %d Ready of %d", ro.specReplicas, ro.ready, ro.current),
			Passed:   ro.specReplicas >= a.MinReplicas && ro.specReplicas <= a.MaxReplicas && ro.ready == ro.specReplicas && ro.current == ro.specReplicas && ro.others == 0,
			Detail:   pendingDetail(ro.pending), ObservedAt: now}
		vd.checks = []scaling.Check{hpaCheck, rangeCheck}
		return vd
	}, "deadline passed before every check held")
}

// hpaMatches compares what the plan rendered with what the API server
// stores. The server fills defaults into behavior (policies, select policy,
// windows), so behavior is compared only where the plan set it.
func hpaMatches(want, got *autoscalingv2.HorizontalPodAutoscalerSpec) bool {
	if deref(want.MinReplicas) != deref(got.MinReplicas) || want.MaxReplicas != got.MaxReplicas || !equality.Semantic.DeepEqual(want.Metrics, got.Metrics) {
		return false
	}
	if want.Behavior == nil {
		return true
	}
	if got.Behavior == nil {
		return false
	}
	return rulesMatch(want.Behavior.ScaleUp, got.Behavior.ScaleUp) && rulesMatch(want.Behavior.ScaleDown, got.Behavior.ScaleDown)
}

func rulesMatch(want, got *autoscalingv2.HPAScalingRules) bool {
	if want == nil {
		return true
	}
	if got == nil {
		return false
	}
	if want.StabilizationWindowSeconds != nil && (got.StabilizationWindowSeconds == nil || *want.StabilizationWindowSeconds != *got.StabilizationWindowSeconds) {
		return false
	}
	if want.SelectPolicy != nil && (got.SelectPolicy == nil || *want.SelectPolicy != *got.SelectPolicy) {
		return false
	}
	return len(want.Policies) == 0 || equality.Semantic.DeepEqual(want.Policies, got.Policies)
}
