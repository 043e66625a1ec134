package scale

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
)

// OpTemplate is the Plan.Operation of Template plans.
const OpTemplate = "scale.Template"

// Preset is one of the platform's sizing templates, as typed values of the
// reference chart. Storage sizes are deliberately absent: a StatefulSet's
// volumeClaimTemplates cannot change through an upgrade (nats.ExpandStorage
// grows volumes; nothing shrinks them).
type Preset struct {
	Name       string
	Replicas   int32
	Clustering bool
	// Autoscaling is nil when the preset runs a fixed count.
	Autoscaling *AutoscalingPreset
	Requests    corev1.ResourceList
	Limits      corev1.ResourceList
	// NATSReplicas is the NATS server count; 1 means clustering off.
	NATSReplicas int32
	// PostgresInstances is the CloudNativePG instance count.
	PostgresInstances int32
	Pooler            bool
}

// AutoscalingPreset is the HPA part of a preset.
type AutoscalingPreset struct {
	MinReplicas, MaxReplicas         int32
	TargetCPU, TargetMemory          int32
	ScaleDownStabilizationWindowSecs int32
}

// The presets of the reference chart's value files (values-small.yaml,
// values-medium.yaml, values-large.yaml).
var (
	Small = Preset{Name: "small", Replicas: 1, NATSReplicas: 1, PostgresInstances: 1,
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}}
	Medium = Preset{Name: "medium", Replicas: 3, Clustering: true, NATSReplicas: 3, PostgresInstances: 3, Pooler: true,
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")}}
	Large = func() Preset {
		p := Medium
		p.Name = "large"
		p.Autoscaling = &AutoscalingPreset{MinReplicas: 3, MaxReplicas: 10, TargetCPU: 70, TargetMemory: 80, ScaleDownStabilizationWindowSecs: 300}
		return p
	}()
)

// Template moves a release to a preset.
type Template struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	To        Preset `json:"to"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (p Preset) validate() error {
	bad := func(field string, v any, why string) error {
		return &scaling.InvalidInputError{Field: "Template.To." + field, Value: v, Reason: why}
	}
	switch {
	case p.Name == "":
		return bad("Name", `""`, "is required")
	case p.Replicas < 1:
		return bad("Replicas", p.Replicas, "must be at least 1")
	case p.Replicas > 1 && !p.Clustering:
		return bad("Clustering", false, "more than one replica needs clustering")
	case p.NATSReplicas < 1 || p.NATSReplicas == 2:
		return bad("NATSReplicas", p.NATSReplicas, "must be 1 (no clustering) or at least 3 (a quorum that survives a loss)")
	case p.PostgresInstances < 1:
		return bad("PostgresInstances", p.PostgresInstances, "must be at least 1")
	}
	if a := p.Autoscaling; a != nil && (a.MinReplicas < 1 || a.MaxReplicas < a.MinReplicas) {
		return bad("Autoscaling", *a, "needs 1 <= MinReplicas <= MaxReplicas")
	}
	return nil
}

func (p Preset) sets() ([]helmplan.Set, error) {
	res, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&corev1.ResourceRequirements{Requests: p.Requests, Limits: p.Limits})
	if err != nil {
		return nil, err
	}
	sets := []helmplan.Set{
		{Path: DefaultReplicasPath, Value: int64(p.Replicas)},
		{Path: DefaultClusteringPath, Value: p.Clustering},
		{Path: "resources", Value: res},
		{Path: "nats.config.cluster.enabled", Value: p.NATSReplicas > 1},
		{Path: "nats.config.cluster.replicas", Value: int64(max(p.NATSReplicas, 3))},
		{Path: "postgresql.instances", Value: int64(p.PostgresInstances)},
		{Path: "postgresql.pooler.enabled", Value: p.Pooler},
		{Path: "autoscaling.enabled", Value: p.Autoscaling != nil},
	}
	if a := p.Autoscaling; a != nil {
		sets = append(sets,
			helmplan.Set{Path: "autoscaling.minReplicas", Value: int64(a.MinReplicas)},
			helmplan.Set{Path: "autoscaling.maxReplicas", Value: int64(a.MaxReplicas)},
			helmplan.Set{Path: "autoscaling.targetCPUUtilizationPercentage", Value: int64(a.TargetCPU)},
			helmplan.Set{Path: "autoscaling.targetMemoryUtilizationPercentage", Value: int64(a.TargetMemory)},
			helmplan.Set{Path: "autoscaling.behavior.scaleDown.stabilizationWindowSeconds", Value: int64(a.ScaleDownStabilizationWindowSecs)},
		)
	}
	return sets, nil
}

type templateSpec struct {
	Request  Template       `json:"request"`
	Revision int            `json:"revision"`
	Values   map[string]any `json:"values"`
	// One of them says how Verify checks the app after the move.
	Replicas  *replicasSpec  `json:"replicas,omitempty"`
	Autoscale *autoscaleSpec `json:"autoscale,omitempty"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// PlanTemplate shows the values diff of a move to a preset and refuses a
// move that would drop NATS servers or PostgreSQL instances the release
// still runs: scale those down first (nats.ScaleCluster moves the data).
func (c *Client) PlanTemplate(ctx context.Context, t Template) (*scaling.Plan, error) {
	plan, _, err := c.planTemplate(ctx, t)
	return plan, err
}

// planTemplate is PlanTemplate, also returning the spec in memory
// (planReplicas).
func (c *Client) planTemplate(ctx context.Context, t Template) (*scaling.Plan, *templateSpec, error) {
	if t.Namespace == "" || t.Release == "" {
		return nil, nil, &scaling.InvalidInputError{Field: "Template.Namespace/Release", Value: t.Namespace + "/" + t.Release, Reason: "both are required"}
	}
	if err := t.To.validate(); err != nil {
		return nil, nil, err
	}
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		return nil, nil, err
	}
	sets, err := t.To.sets()
	if err != nil {
		return nil, nil, err
	}
	src, err := t.Chart.For("Template.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	hp, err := helmplan.PlanFrom(ctx, c.releases, rel, src, sets, c.red)
	if err != nil {
		return nil, nil, err
	}
	t.Chart = hp.Chart
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpTemplate, Target: helmplan.Ref(t.Namespace, t.Release),
		Diff: hp.Diff, CreatedAt: time.Now().UTC(),
		Summary:     fmt.Sprintf("Move release %s/%s to the %s template.", t.Namespace, t.Release, t.To.Name),
		Fingerprint: scaling.Fingerprint{helmplan.FingerprintKey(t.Namespace, t.Release): helmplan.Revision(rel.Revision)},
	}
	plan.Guards = append(plan.Guards, dataGuards(hp.Current, t.To)...)
	plan.Guards = append(plan.Guards, blast(hp, templateRemoves))
	plan.Steps = valueSteps(plan.Target, sets, hp.Current, hp.Rendered.Computed, c.red)
	if len(plan.Steps) == 0 && hp.Changed() {
		// The preset's values hold in the computed values already (chart
		// defaults), but the release's own values change, as the diff
		// shows: a plan with a diff carries the step that makes it.
		plan.Steps = []scaling.Step{{Action: "helm upgrade", Object: plan.Target,
			Note: "writes the " + t.To.Name + " template's values into the release's own values; the computed values and the pods stay as they are"}}
	}
	if s, ok := helmplan.ChartStep(plan.Target, hp); ok {
		plan.Steps = append(plan.Steps, s)
	}
	spec := templateSpec{Request: t, Revision: rel.Revision, Values: hp.Values}
	var out scaleOut
	if a := t.To.Autoscaling; a != nil {
		expected, ref, ok := renderedHPA(hp.After)
		if !ok {
			return nil, nil, &scaling.NotFoundError{Object: plan.Target, Detail: "the chart renders no HPA for the " + t.To.Name + " template"}
		}
		spec.Autoscale = &autoscaleSpec{Request: Autoscale{Namespace: t.Namespace, Release: t.Release, MinReplicas: a.MinReplicas, MaxReplicas: a.MaxReplicas},
			HPA: expected.Name, Workload: ref, Expected: expected.Spec}
		out = scaleOut{ref: ref, replicas: a.MaxReplicas, what: "HPA maxReplicas"}
	} else {
		r := Replicas{Namespace: t.Namespace, Release: t.Release, Replicas: t.To.Replicas, ValuePath: DefaultReplicasPath}
		ref, err := c.drivenWorkload(ctx, r, hp)
		if err != nil {
			return nil, nil, err
		}
		if ref == nil {
			return nil, nil, &scaling.NotFoundError{Object: plan.Target, Detail: "no workload follows " + DefaultReplicasPath}
		}
		if _, _, hadHPA := renderedHPA(hp.Before); !hadHPA {
			// Without an HPA before or after, the app's spec generation
			// moves only with real changes: fingerprint it too.
			live, err := getWorkload(ctx, c.kube, *ref)
			if err != nil {
				return nil, nil, err
			}
			plan.Fingerprint[live.fingerprintKey()] = strconv.FormatInt(live.Generation, 10)
			out.from = live.Replicas
		}
		spec.Replicas = &replicasSpec{Request: r, Revision: rel.Revision, Values: hp.Values, Workload: *ref}
		out.ref, out.replicas, out.what = *ref, t.To.Replicas, "replicas"
	}
	// A template move that scales out (medium's 3 replicas, large's HPA)
	// meets the same prerequisites as Replicas and Autoscale, judged on
	// what the template renders: the preset may itself switch storage or
	// the database.
	if w, ok := workloadObject(hp.After, out.ref); ok {
		tmpl, _, err := podTemplate(w)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding the rendered %s: %w", out.ref, err)
		}
		plan.Guards = append(plan.Guards, scaleOutGuards(c.opts.ScaleOut, out, tmpl, hp.After)...)
	}
	if !hp.Changed() {
		plan.NoOp, plan.Steps = true, nil
	}
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c.red)); err != nil {
		return nil, nil, err
	}
	return plan, &spec, nil
}

// shown is the spec as a plan stores it: its values redacted.
func (s templateSpec) shown(red *redact.Redactor) templateSpec {
	s.Values = red.Values(s.Values)
	if s.Replicas != nil {
		r := s.Replicas.shown(red)
		s.Replicas = &r
	}
	return s
}

// templateRemoves are the deletions a move between presets sets out to
// make: the parts a smaller preset turns off (its HPA, disruption budgets,
// the peers Service of clustering, the PgBouncer Pooler). The NATS servers
// and PostgreSQL instances themselves are the data guards' business.
func templateRemoves(d helmplan.Damage) bool {
	if d.Action != "delete" {
		return false
	}
	switch d.Object.Kind {
	case "HorizontalPodAutoscaler", "PodDisruptionBudget", "Pooler":
		return true
	case "Service":
		return strings.HasSuffix(d.Object.Name, "-peers")
	}
	return false
}

// dataGuards refuse to drop NATS servers or PostgreSQL instances through a
// template move: the chart would simply delete the pods, and with them the
// data only they hold.
func dataGuards(computed map[string]any, to Preset) []scaling.GuardResult {
	nats := int64(1)
	if values.Bool(computed, "nats.config.cluster.enabled") {
		nats, _ = values.Int(computed, "nats.config.cluster.replicas")
	}
	pg, _ := values.Int(computed, "postgresql.instances")
	if !values.Bool(computed, "postgresql.enabled") {
		pg = 0
	}
	g := []scaling.GuardResult{
		{Name: GuardNATSData, Outcome: scaling.Pass, Reason: fmt.Sprintf("NATS runs %d server(s), the %s template %d", nats, to.Name, to.NATSReplicas)},
		{Name: GuardPostgresData, Outcome: scaling.Pass, Reason: fmt.Sprintf("PostgreSQL runs %d instance(s), the %s template %d", pg, to.Name, to.PostgresInstances)},
	}
	if nats > int64(to.NATSReplicas) {
		g[0].Outcome, g[0].Cause = scaling.Block, &DataError{Part: "NATS", Template: to.Name, Running: nats, Keeps: to.NATSReplicas}
		g[0].Reason = fmt.Sprintf("the %s template runs %d NATS server(s) but the release runs %d: their JetStream data would go with them", to.Name, to.NATSReplicas, nats)
		g[0].Remedy = "scale the NATS cluster down first (nats.ScaleCluster moves streams off the leaving servers), then move the template"
	}
	if pg > int64(to.PostgresInstances) {
		g[1].Outcome, g[1].Cause = scaling.Block, &DataError{Part: "PostgreSQL", Template: to.Name, Running: pg, Keeps: to.PostgresInstances}
		g[1].Reason = fmt.Sprintf("the %s template runs %d PostgreSQL instance(s) but the release runs %d", to.Name, to.PostgresInstances, pg)
		g[1].Remedy = "scale the CloudNativePG cluster down first (switch over away from the instances that go), then move the template"
	}
	return g
}

// applyTemplate upgrades the release with the plan's values. The app's
// generation is compared only when the plan recorded it (no HPA involved:
// an HPA moves it).
// deriveTemplate plans a stored Template plan again from its request.
func (c *Client) deriveTemplate(ctx context.Context, spec *templateSpec) (*scaling.Plan, *templateSpec, error) {
	return c.planTemplate(ctx, spec.Request)
}

// applyTemplate runs a derived Template plan: one upgrade.
func (c *Client) applyTemplate(ctx context.Context, plan *scaling.Plan, spec *templateSpec) (*scaling.Applied, error) {
	t := spec.Request
	return c.upgrade(ctx, plan, t.Namespace, t.Release, spec.Revision, t.Chart, spec.Values, scaling.ObjectRef{}, 0)
}

// verifyTemplate verifies what the template set: the autoscaler when it
// has one, else the replica count.
func (c *Client) verifyTemplate(ctx context.Context, plan *scaling.Plan, spec *templateSpec) (*scaling.Verification, error) {
	if spec.Autoscale != nil {
		return c.verifyAutoscale(ctx, plan, spec.Autoscale)
	}
	if spec.Replicas == nil {
		return nil, &scaling.InvalidPlanError{Reason: "template plan without a verification target"}
	}
	return c.verifyReplicas(ctx, plan, spec.Replicas)
}
