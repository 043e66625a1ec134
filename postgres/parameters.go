package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/internal/verify"
)

// OpParameters is the Plan.Operation of PlanParameters' plans.
const OpParameters = "postgres.Parameters"

// The steps that say how the operator applies each changed parameter (not
// run: the upgrade makes the operator do it).
const (
	ActionReload  = "reload"
	ActionRestart = "restart"
)

// The chart values Parameters writes, under the prefix: the parameters map
// (spec.postgresql.parameters) and max_connections, which the chart keeps
// in a value of its own (merged into the map, and winning over it).
const (
	parametersValue     = "parameters"
	maxConnectionsValue = "maxConnections"
	maxConnectionsName  = "max_connections"
)

// Parameters sets PostgreSQL parameters of a CloudNativePG cluster through
// the Helm release that renders it (postgresql.parameters, the Cluster's
// spec.postgresql.parameters; max_connections through
// postgresql.maxConnections). The operator reloads or restarts the
// instances as each parameter needs; the plan says which, from the live
// server's pg_settings.
type Parameters struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Set are the parameters and their values as postgresql.conf takes
	// them ("256MB", "on", "200").
	Set map[string]string `json:"set,omitempty"`
	// RecommendMaxConnections sets max_connections to the connection
	// budget's recommendation (ConnectionBudget) for the app Deployments
	// the release points at the database, and its Pooler: the peak of
	// their pools during a rollout plus the reserved connections.
	// Others, Pairs and PoolSizePath are the budget's, as in
	// ConfigurePooler.
	RecommendMaxConnections bool   `json:"recommendMaxConnections,omitempty"`
	Others                  int64  `json:"others,omitempty"`
	Pairs                   int    `json:"pairs,omitempty"`
	PoolSizePath            string `json:"poolSizePath,omitempty"`
	// ValuePrefix and Standalone locate the values, as in ExpandStorage.
	ValuePrefix string `json:"valuePrefix,omitempty"`
	Standalone  bool   `json:"standalone,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r Parameters) target() releaseTarget {
	return newReleaseTarget(r.Namespace, r.Release, r.ValuePrefix, r.Standalone)
}

func (r Parameters) validate() error {
	if err := validateRelease("Parameters", r.Namespace, r.Release, r.ValuePrefix, r.Standalone); err != nil {
		return err
	}
	bad := func(field string, v any, why string) error {
		return &scaling.InvalidInputError{Field: "Parameters." + field, Value: v, Reason: why}
	}
	switch {
	case len(r.Set) == 0 && !r.RecommendMaxConnections:
		return bad("Set", r.Set, "name at least one parameter, or RecommendMaxConnections")
	case r.RecommendMaxConnections && r.Set[maxConnectionsName] != "":
		return bad("Set", maxConnectionsName, "give max_connections or RecommendMaxConnections, not both")
	case r.Others < 0 || r.Pairs < 0:
		return bad("Others", r.Others, "budget counts must not be negative")
	}
	for _, name := range slices.Sorted(maps.Keys(r.Set)) {
		switch v := r.Set[name]; {
		case !parameterName.MatchString(name) || name != strings.ToLower(name):
			return bad("Set", name, "a parameter name is lower-case letters, digits and underscores (a custom one with one dotted prefix)")
		case strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\n\x00"):
			return bad("Set["+name+"]", v, "a value is required, on one line")
		}
	}
	if r.PoolSizePath != "" {
		if _, err := values.Split(r.PoolSizePath); err != nil {
			return bad("PoolSizePath", r.PoolSizePath, err.Error())
		}
	}
	return nil
}

// parametersSpec is a Parameters plan's Spec.
type parametersSpec struct {
	Request Parameters `json:"request"`
	Cluster string     `json:"cluster"`
	// Want are the parameters the plan sets, max_connections resolved.
	Want     map[string]string `json:"want"`
	Restart  []string          `json:"restart,omitempty"`
	Reload   []string          `json:"reload,omitempty"`
	Revision int               `json:"revision"`
	Values   map[string]any    `json:"values"`
	Causes   opkit.Causes      `json:"causes,omitempty"`
}

func (s parametersSpec) shown(c *Client) parametersSpec {
	s.Values = c.red.Values(s.Values)
	return s
}

// PlanParameters reads the release, the CloudNativePG Cluster it renders
// and, through Options.Settings, the primary's pg_settings for each
// parameter, and plans one upgrade with the parameters merged into the
// release's. Invalid input (a name that is not a parameter name, an empty
// value) is a *scaling.InvalidInputError before anything is read. The
// parameters guard blocks (*ParameterError, each parameter with why) a
// parameter CloudNativePG fixes, one the server does not know, an internal
// one, and a value outside pg_settings' min_val/max_val, enumvals or type
// (and wal_level minimal on more than one instance); the restart guard
// warns of the parameters that need a restart (context postmaster), the
// others apply by reload. With RecommendMaxConnections, max_connections is
// the connection budget's recommendation (ConnectionBudget).
//
// Verify watches the Cluster and its instance pods until the Cluster's
// spec.postgresql.parameters holds the values, its phase is healthy, and
// every instance's SHOW (read through Options.Settings on each Ready
// instance, again every half second: a reload changes no object) gives the
// value with no restart pending.
func (c *Client) PlanParameters(ctx context.Context, req Parameters) (*scaling.Plan, error) {
	plan, _, err := c.planParameters(ctx, req)
	return plan, err
}

func (c *Client) planParameters(ctx context.Context, req Parameters) (*scaling.Plan, *parametersSpec, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	if err := c.needReleases("Parameters"); err != nil {
		return nil, nil, err
	}
	if c.settings == nil {
		return nil, nil, &scaling.InvalidInputError{Field: "Options.Settings", Value: nil, Reason: "Parameters reads pg_settings from the primary: give Options.Settings (postgres.PSQL with a pods/exec runner)"}
	}
	t := req.target()
	src, err := req.Chart.For("Parameters.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		return nil, nil, err
	}
	current, err := helmplan.Current(ctx, c.releases, rel, src)
	if err != nil {
		return nil, nil, err
	}
	want := maps.Clone(req.Set)
	if want == nil {
		want = map[string]string{}
	}
	sets := parameterSets(t, current, want)
	rp, err := c.planRelease(ctx, t, src, sets)
	if err != nil {
		return nil, nil, err
	}
	var budget *BudgetReport
	if req.RecommendMaxConnections {
		if budget, err = c.clusterBudget(ctx, t, req, rp); err != nil {
			return nil, nil, err
		}
		want[maxConnectionsName] = strconv.FormatInt(budget.Recommended, 10)
		sets = parameterSets(t, current, want)
		if rp, err = c.planRelease(ctx, t, src, sets); err != nil {
			return nil, nil, err
		}
	}
	hp := rp.hp
	cl, err := c.getCluster(ctx, t.Namespace, rp.name)
	if err != nil {
		return nil, nil, err
	}
	live, err := c.primarySettings(ctx, t.Namespace, cl, slices.Sorted(maps.Keys(want)))
	if err != nil {
		return nil, nil, err
	}
	d := decideParameters(rp.name, want, live, cl.Spec.Instances)
	if budget != nil {
		g := pass(GuardPoolerBudget+"-recommendation", budget.Budget.String()+" (replicas: "+budget.ReplicasSource+"): max_connections "+want[maxConnectionsName])
		if s, ok := live[maxConnectionsName]; ok {
			if n, err := strconv.ParseInt(s.Setting, 10, 64); err == nil && n > budget.Recommended {
				g = warn(g.Name, fmt.Sprintf("the budget's peak needs max_connections %d, lower than the server's %d: the plan lowers it", budget.Recommended, n)+"; "+budget.Budget.String(),
					"set max_connections yourself to keep the headroom")
			}
		}
		d.guards = append(d.guards, g)
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpParameters, Target: clusterRef(t.Namespace, rp.name), CreatedAt: time.Now().UTC(),
		Guards: d.guards, Fingerprint: releaseFingerprint(t, hp, cl),
		Summary: fmt.Sprintf("Set %s on PostgreSQL cluster %s/%s through release %s (%d by reload, %d by restart).",
			shownParameters(want), t.Namespace, rp.name, t.Release, len(d.reload), len(d.restart)),
	}
	changes := parameterChanges(t, current, want)
	if len(changes) == 0 {
		plan.NoOp = true
	} else {
		plan.Diff = hp.Diff
		for _, name := range changes {
			field := t.value(parametersValue) + "[" + name + "]"
			if name == maxConnectionsName {
				field = t.value(maxConnectionsValue)
			}
			before := "(unset)"
			if s, ok := live[name]; ok {
				before = s.Value
			}
			plan.Steps = append(plan.Steps, scaling.Step{Action: actionUpgrade, Object: t.ref(), Field: field, Before: c.red.Text(field, before), After: c.red.Text(field, want[name]),
				Note: "renders the Cluster's spec.postgresql.parameters; Before is what the primary runs now"})
		}
		if s, ok := helmplan.ChartStep(t.ref(), hp); ok {
			plan.Steps = append(plan.Steps, s)
		}
		for _, n := range d.reload {
			plan.Steps = append(plan.Steps, scaling.Step{Action: ActionReload, Object: plan.Target, Field: n, After: want[n], Note: "the operator reloads every instance (pg_settings context " + live[n].Context + ")"})
		}
		for _, n := range d.restart {
			plan.Steps = append(plan.Steps, scaling.Step{Action: ActionRestart, Object: plan.Target, Field: n, After: want[n], Note: "the operator restarts every instance, the primary last (pg_settings context postmaster)"})
		}
		plan.Guards = append(plan.Guards, blastGuard(hp, nil))
	}
	req.Chart = hp.Chart
	spec := &parametersSpec{Request: req, Cluster: rp.name, Want: want, Restart: d.restart, Reload: d.reload, Revision: hp.Release.Revision, Values: hp.Values}
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// parameterSets merges want into the release's parameters map;
// max_connections goes to the chart's own value.
func parameterSets(t releaseTarget, current map[string]any, want map[string]string) []helmplan.Set {
	merged := map[string]any{}
	if m, ok := values.Get(current, t.value(parametersValue)); ok {
		if mm, ok := m.(map[string]any); ok {
			maps.Copy(merged, mm)
		}
	}
	var sets []helmplan.Set
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if name == maxConnectionsName {
			v := any(want[name])
			if n, err := strconv.ParseInt(want[name], 10, 64); err == nil {
				v = n
			}
			sets = append(sets, helmplan.Set{Path: t.value(maxConnectionsValue), Value: v})
			delete(merged, name) // the chart's own value wins; keep one source
			continue
		}
		merged[name] = want[name]
	}
	if len(merged) > 0 || len(sets) < len(want) {
		sets = append(sets, helmplan.Set{Path: t.value(parametersValue), Value: merged})
	}
	return sets
}

// parameterChanges lists the parameters whose release value differs from
// want.
func parameterChanges(t releaseTarget, current map[string]any, want map[string]string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		path := t.value(parametersValue)
		var cur any
		if name == maxConnectionsName {
			cur, _ = values.Get(current, t.value(maxConnectionsValue))
		} else if m, ok := values.Get(current, path); ok {
			if mm, ok := m.(map[string]any); ok {
				cur = mm[name]
			}
		}
		if cur == nil || fmt.Sprint(cur) != want[name] {
			out = append(out, name)
		}
	}
	return out
}

func shownParameters(want map[string]string) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(want)) {
		parts = append(parts, n+"="+want[n])
	}
	return strings.Join(parts, ", ")
}

// primarySettings reads the parameters' pg_settings on the current primary.
func (c *Client) primarySettings(ctx context.Context, namespace string, cl *apiv1.Cluster, names []string) (map[string]Setting, error) {
	primary := cl.Status.CurrentPrimary
	if primary == "" {
		return nil, &scaling.NotFoundError{Object: clusterRef(namespace, cl.Name), Detail: "the Cluster reports no current primary to read pg_settings from"}
	}
	pod, err := c.kube.CoreV1().Pods(namespace).Get(ctx, primary, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the primary's pod %s/%s: %w", namespace, primary, err)
	}
	live, err := c.settings.Settings(ctx, pod, names...)
	if err != nil {
		return nil, fmt.Errorf("reading pg_settings on %s: %w", primary, err)
	}
	return live, nil
}

// clusterBudget is the connection budget of what the release points at
// the cluster: its rw Pooler when it renders one (the app then counts as
// the pooler's clients), else the app Deployments on the -rw Service.
func (c *Client) clusterBudget(ctx context.Context, t releaseTarget, req Parameters, rp *releasePlan) (*BudgetReport, error) {
	in := Connections{Others: req.Others, Cluster: rp.after.Object, ClusterName: rp.name}
	hosts := []string{rp.name + apiv1.ServiceReadWriteSuffix}
	for _, p := range cnpgObjects(rp.hp.After, "Pooler", rp.name) {
		if typ, _, _ := unstructured.NestedString(p.Object, "spec", "type"); typ != "" && typ != string(apiv1.PoolerTypeRW) {
			continue
		}
		pooler, err := PoolerOf(p.Object)
		if err != nil {
			return nil, err
		}
		pooler.Pairs = req.Pairs
		in.Pooler, in.PoolerRollout = pooler, true
		hosts = append(hosts, p.GetName())
		break
	}
	if _, _, err := c.readApps(ctx, t.Namespace, rp.hp, req.PoolSizePath, func(host string) bool {
		return slices.ContainsFunc(hosts, func(h string) bool { return routesTo(host, h) })
	}, &in); err != nil {
		return nil, err
	}
	return ConnectionBudget(in)
}

func (c *Client) deriveParameters(ctx context.Context, spec *parametersSpec) (*scaling.Plan, *parametersSpec, error) {
	return c.planParameters(ctx, spec.Request)
}

func (c *Client) applyParameters(ctx context.Context, plan *scaling.Plan, spec *parametersSpec) (*scaling.Applied, error) {
	r := spec.Request
	return c.upgradeRelease(ctx, plan, r.target(), spec.Revision, r.Chart, spec.Values)
}

// verifyParameters watches the Cluster and its instances and reads SHOW on
// each.
func (c *Client) verifyParameters(ctx context.Context, plan *scaling.Plan, spec *parametersSpec) (*scaling.Verification, error) {
	r := spec.Request
	t := r.target()
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	if c.settings == nil {
		return nil, &scaling.InvalidInputError{Field: "Options.Settings", Value: nil, Reason: "Verify reads SHOW on the instances"}
	}
	rel, vals, err := c.releaseValues(ctx, t, r.Chart)
	if err != nil {
		return nil, err
	}
	var relChecks []scaling.Check
	names := slices.Sorted(maps.Keys(spec.Want))
	for _, n := range names {
		if n == maxConnectionsName {
			relChecks = append(relChecks, releaseCheck(rel, vals, t.value(maxConnectionsValue), spec.Want[n]))
			continue
		}
		m, _ := values.Get(vals, t.value(parametersValue))
		mm, _ := m.(map[string]any)
		got, ok := mm[n]
		ch := scaling.Check{Name: "release-value " + t.value(parametersValue) + "[" + n + "]", Expected: spec.Want[n], Observed: "unset", ObservedAt: time.Now()}
		if ok {
			ch.Observed, ch.Passed = fmt.Sprint(got), fmt.Sprint(got) == spec.Want[n]
		}
		relChecks = append(relChecks, ch)
	}
	if !verify.Passed(relChecks) {
		return notApplied(v, t, relChecks), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clusters := c.dyn.Resource(clustersGVR).Namespace(t.Namespace)
	pods := c.kube.CoreV1().Pods(t.Namespace)
	stores, changed, err := await.Watch(ctx, []await.Source{
		await.Typed(c.dyn, "cluster", &unstructured.Unstructured{}, clusters.List, clusters.Watch, await.ByName(spec.Cluster)),
		await.Typed(c.kube, "pods", &corev1.Pod{}, pods.List, pods.Watch, metav1.ListOptions{LabelSelector: instanceSelector(spec.Cluster)}),
	})
	if err != nil {
		return nil, err
	}
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err = await.Signalled(ctx, await.Merge(ctx, changed, backstop(ctx, streamingBackstop)), func() (bool, error) {
		now := time.Now()
		u := named(await.List[*unstructured.Unstructured](stores[0]), spec.Cluster)
		if u == nil {
			return false, &scaling.NotFoundError{Object: plan.Target, Detail: "deleted while verifying"}
		}
		cl, err := toCluster(u)
		if err != nil {
			return false, err
		}
		checks := slices.Clone(relChecks)
		var missing []string
		for _, n := range names {
			if cl.Spec.PostgresConfiguration.Parameters[n] != spec.Want[n] {
				missing = append(missing, n+"="+orEmpty(cl.Spec.PostgresConfiguration.Parameters[n]))
			}
		}
		checks = append(checks,
			scaling.Check{Name: "cluster-parameters", Expected: shownParameters(spec.Want), Observed: orEmpty(strings.Join(missing, ", ")), Passed: len(missing) == 0, ObservedAt: now},
			scaling.Check{Name: "phase", Expected: apiv1.PhaseHealthy, Observed: cl.Status.Phase, Passed: cl.Status.Phase == apiv1.PhaseHealthy, ObservedAt: now})
		var ready []*corev1.Pod
		for _, p := range await.List[*corev1.Pod](stores[1]) {
			if podReady(p) {
				ready = append(ready, p)
			}
		}
		slices.SortFunc(ready, func(a, b *corev1.Pod) int { return instanceOrder(a.Name, b.Name) })
		checks = append(checks, scaling.Check{Name: "instances-ready", Expected: strconv.Itoa(cl.Spec.Instances), Observed: strconv.Itoa(len(ready)), Passed: len(ready) == cl.Spec.Instances, ObservedAt: now})
		if verify.Passed(checks) {
			for _, p := range ready {
				checks = append(checks, c.showCheck(ctx, p, names, spec.Want, now))
			}
		}
		v.Checks = checks
		emitter.Emit(v.Checks)
		return verify.Passed(checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before every instance ran the parameters"), nil
}

// showCheck reads an instance's settings and compares them with want.
func (c *Client) showCheck(ctx context.Context, p *corev1.Pod, names []string, want map[string]string, now time.Time) scaling.Check {
	ch := scaling.Check{Name: "show " + p.Name, Expected: shownParameters(want), ObservedAt: now}
	got, err := c.settings.Settings(ctx, p, names...)
	if err != nil {
		ch.Observed = err.Error()
		return ch
	}
	var shown, off []string
	for _, n := range names {
		s, ok := got[n]
		switch {
		case !ok && strings.Contains(n, "."):
			shown = append(shown, n+"=(custom, unread)")
			continue
		case !ok:
			off = append(off, n+" unknown")
			continue
		}
		shown = append(shown, n+"="+s.Value)
		switch {
		case !sameSetting(s, want[n]):
			off = append(off, n+" is "+s.Value)
		case s.PendingRestart:
			off = append(off, n+" waits for a restart")
		}
	}
	ch.Observed, ch.Passed = strings.Join(shown, ", "), len(off) == 0
	if len(off) > 0 {
		ch.Detail = strings.Join(off, "; ")
	}
	return ch
}

// backstop delivers every d until ctx ends, for state no watch sees.
func backstop(ctx context.Context, d time.Duration) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		tk := time.NewTicker(d)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
