package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/internal/verify"
)

// OpConfigurePooler is the Plan.Operation of PlanConfigurePooler's plans.
const OpConfigurePooler = "postgres.ConfigurePooler"

// The steps that show what a ConfigurePooler upgrade makes happen (not
// run: the upgrade renders the app's env, the operator rolls PgBouncer).
const (
	ActionRoute      = "route-app"
	ActionRollPooler = "roll-pooler"
)

// DefaultPoolSizePath is the app's per-pod connection pool value in the
// reference chart (at the chart's root, not under the prefix).
const DefaultPoolSizePath = "database.poolSize"

// ConfigurePooler enables, resizes or retunes the PgBouncer Pooler a Helm
// release renders for its CloudNativePG cluster (postgresql.pooler.*:
// enabled, instances, type, poolMode, maxClientConn, defaultPoolSize). The
// plan always leaves the pooler enabled; a zero field keeps the release's
// setting. Turning the pooler off is not this operation (the app's DB_HOST
// moves back to the -rw Service: an upgrade of its own).
type ConfigurePooler struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Instances are the PgBouncer pods (>= 1; 0 keeps).
	Instances int32 `json:"instances,omitempty"`
	// Type is rw (in front of the primary; the reference chart then
	// points the app's DB_HOST at it), ro or r; "" keeps.
	Type string `json:"type,omitempty"`
	// PoolMode is session or transaction; "" keeps.
	PoolMode string `json:"poolMode,omitempty"`
	// MaxClientConn and DefaultPoolSize are PgBouncer's max_client_conn
	// and default_pool_size (>= 1; 0 keeps).
	MaxClientConn   int64 `json:"maxClientConn,omitempty"`
	DefaultPoolSize int64 `json:"defaultPoolSize,omitempty"`
	// Budget: Pairs are the user/database pairs the clients use (default
	// 1), Others the server connections of other clients, MaxConnections
	// the server's max_connections (0 reads the rendered Cluster's, else
	// PostgreSQL's 100), PoolSizePath the app's per-pod pool value
	// (default DefaultPoolSizePath; a chart without it counts no clients).
	Pairs          int    `json:"pairs,omitempty"`
	Others         int64  `json:"others,omitempty"`
	MaxConnections int    `json:"maxConnections,omitempty"`
	PoolSizePath   string `json:"poolSizePath,omitempty"`
	// ValuePrefix and Standalone locate the values, as in ExpandStorage.
	ValuePrefix string `json:"valuePrefix,omitempty"`
	Standalone  bool   `json:"standalone,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r ConfigurePooler) target() releaseTarget {
	return newReleaseTarget(r.Namespace, r.Release, r.ValuePrefix, r.Standalone)
}

func (r ConfigurePooler) validate() error {
	if err := validateRelease("ConfigurePooler", r.Namespace, r.Release, r.ValuePrefix, r.Standalone); err != nil {
		return err
	}
	bad := func(field string, v any, why string) error {
		return &scaling.InvalidInputError{Field: "ConfigurePooler." + field, Value: v, Reason: why}
	}
	switch {
	case r.Instances < 0:
		return bad("Instances", r.Instances, "must be 1 or more (0 keeps the release's)")
	case r.Type != "" && r.Type != string(apiv1.PoolerTypeRW) && r.Type != string(apiv1.PoolerTypeRO) && r.Type != string(apiv1.PoolerTypeR):
		return bad("Type", r.Type, "must be rw, ro or r")
	case r.PoolMode != "" && r.PoolMode != string(apiv1.PgBouncerPoolModeSession) && r.PoolMode != string(apiv1.PgBouncerPoolModeTransaction):
		return bad("PoolMode", r.PoolMode, "must be session or transaction")
	case r.MaxClientConn < 0:
		return bad("MaxClientConn", r.MaxClientConn, "must be 1 or more (0 keeps the release's)")
	case r.DefaultPoolSize < 0:
		return bad("DefaultPoolSize", r.DefaultPoolSize, "must be 1 or more (0 keeps the release's)")
	case r.Pairs < 0 || r.Others < 0 || r.MaxConnections < 0:
		return bad("Pairs", r, "budget counts must not be negative")
	}
	if r.PoolSizePath != "" {
		if _, err := values.Split(r.PoolSizePath); err != nil {
			return bad("PoolSizePath", r.PoolSizePath, err.Error())
		}
	}
	return nil
}

// sets are the values the plan writes.
func (r ConfigurePooler) sets(t releaseTarget) []helmplan.Set {
	sets := []helmplan.Set{{Path: t.value("pooler.enabled"), Value: true}}
	if r.Instances > 0 {
		sets = append(sets, helmplan.Set{Path: t.value("pooler.instances"), Value: int64(r.Instances)})
	}
	if r.Type != "" {
		sets = append(sets, helmplan.Set{Path: t.value("pooler.type"), Value: r.Type})
	}
	if r.PoolMode != "" {
		sets = append(sets, helmplan.Set{Path: t.value("pooler.poolMode"), Value: r.PoolMode})
	}
	// PgBouncer's parameters are strings, as the chart's values.yaml has them.
	if r.MaxClientConn > 0 {
		sets = append(sets, helmplan.Set{Path: t.value("pooler.maxClientConn"), Value: strconv.FormatInt(r.MaxClientConn, 10)})
	}
	if r.DefaultPoolSize > 0 {
		sets = append(sets, helmplan.Set{Path: t.value("pooler.defaultPoolSize"), Value: strconv.FormatInt(r.DefaultPoolSize, 10)})
	}
	return sets
}

// poolerSpec is a ConfigurePooler plan's Spec.
type poolerSpec struct {
	Request ConfigurePooler `json:"request"`
	Cluster string          `json:"cluster"`
	Pooler  string          `json:"pooler"`
	// Instances is the planned PgBouncer count; Expected the planned
	// Pooler's spec (what Verify compares the live one with).
	Instances int32          `json:"instances"`
	Expected  map[string]any `json:"expected"`
	Apps      []appRoute     `json:"apps,omitempty"`
	// Sets are the values the plan writes (Verify reads them back).
	Sets     []helmplan.Set `json:"sets"`
	Revision int            `json:"revision"`
	Values   map[string]any `json:"values"`
	Causes   opkit.Causes   `json:"causes,omitempty"`
}

func (s poolerSpec) shown(c *Client) poolerSpec {
	s.Values = c.red.Values(s.Values)
	return s
}

// PlanConfigurePooler reads the release, the CloudNativePG Cluster and
// Pooler it renders, the live Pooler and its Deployment, and the app
// Deployments the chart routes through the pooler (their count, HPA and
// pool), and plans one upgrade with the pooler values. Invalid input is a
// *scaling.InvalidInputError before anything is read. The pooler-budget
// guard blocks, with the numbers and the recommended max_connections
// (*PoolerBudgetError), when (instances + surge of its own rollout) x
// (default_pool_size + reserve_pool_size) x user/db pairs + others exceeds
// max_connections minus the reserved connections, or the app's pods (the
// HPA's maxReplicas when one owns them, plus their rollout surge) x pool
// exceed instances x max_client_conn; the app-rollout warning says when
// the upgrade rolls the app (its DB_HOST moves to the pooler).
//
// Verify watches the Pooler, its Deployment (named after it) and the
// routed app Deployments until the Pooler has the planned spec, its
// Deployment runs the planned instances, all updated and Ready, and each
// app Deployment's DB_HOST names the pooler's Service, its rollout done.
func (c *Client) PlanConfigurePooler(ctx context.Context, req ConfigurePooler) (*scaling.Plan, error) {
	plan, _, err := c.planConfigurePooler(ctx, req)
	return plan, err
}

func (c *Client) planConfigurePooler(ctx context.Context, req ConfigurePooler) (*scaling.Plan, *poolerSpec, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	if err := c.needReleases("ConfigurePooler"); err != nil {
		return nil, nil, err
	}
	t := req.target()
	src, err := req.Chart.For("ConfigurePooler.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	sets := req.sets(t)
	rp, err := c.planRelease(ctx, t, src, sets)
	if err != nil {
		return nil, nil, err
	}
	hp := rp.hp
	cl, err := c.getCluster(ctx, t.Namespace, rp.name)
	if err != nil {
		return nil, nil, err
	}
	st, live, err := c.readPooler(ctx, t, req, rp, sets)
	if err != nil {
		return nil, nil, err
	}
	d := decidePooler(t, st)
	fp := releaseFingerprint(t, hp, cl)
	poolerRef := scaling.ObjectRef{Kind: "Pooler", Namespace: t.Namespace, Name: st.name}
	fp[scaling.FingerprintKey(poolerRef, scaling.AspectGeneration)] = live
	p := st.budget.Budget.Pooler.withDefaults()
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpConfigurePooler, Target: poolerRef, CreatedAt: time.Now().UTC(), Guards: d.guards, Fingerprint: fp,
		Summary: fmt.Sprintf("Configure PgBouncer Pooler %s/%s of cluster %s through release %s: %d instances, pool %d, max_client_conn %d.",
			t.Namespace, st.name, rp.name, t.Release, p.Instances, p.DefaultPoolSize, p.MaxClientConn),
	}
	if d.holds {
		plan.NoOp = true
	} else {
		plan.Diff = hp.Diff
		paths := make([]string, len(sets))
		for i, s := range sets {
			paths[i] = s.Path
		}
		plan.Steps = append(c.valueSteps(t.ref(), hp, paths, "renders the Pooler"), d.steps...)
		// A new type renames the Pooler (<cluster>-pooler-<type>): the
		// old one is deleted on purpose.
		plan.Guards = append(plan.Guards, blastGuard(hp, func(dm helmplan.Damage) bool {
			return dm.Action == "delete" && dm.Object.Kind == "Pooler" && st.before != nil && dm.Object.Name == st.before.GetName() && st.before.GetName() != st.name
		}))
	}
	req.Chart = hp.Chart
	spec := &poolerSpec{Request: req, Cluster: rp.name, Pooler: st.name, Instances: p.Instances, Apps: st.apps, Sets: sets, Revision: hp.Release.Revision, Values: hp.Values}
	spec.Expected, _, _ = unstructured.NestedMap(st.after.Object, "spec")
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// readPooler reads what the pooler's budget and routing need; live is the
// live Pooler's generation ("absent" when there is none yet).
func (c *Client) readPooler(ctx context.Context, t releaseTarget, req ConfigurePooler, rp *releasePlan, sets []helmplan.Set) (*poolerState, string, error) {
	hp := rp.hp
	st := &poolerState{cluster: rp.name, after: cnpgObject(hp.After, "Pooler", rp.name), before: cnpgObject(hp.Before, "Pooler", rp.name)}
	if st.after == nil {
		return nil, "", &scaling.NotFoundError{Object: t.ref(), Detail: "the planned release renders no CloudNativePG Pooler for cluster " + rp.name + " (" + t.value("pooler.enabled") + "=true renders none)"}
	}
	st.name = st.after.GetName()
	for _, s := range sets {
		cur, _ := values.Get(hp.Current, s.Path)
		if cur == nil || fmt.Sprint(cur) != fmt.Sprint(s.Value) {
			st.valueChanges = true
		}
	}
	live := "absent"
	if u, err := c.dyn.Resource(poolersGVR).Namespace(t.Namespace).Get(ctx, st.name, metav1.GetOptions{}); err == nil {
		live = strconv.FormatInt(u.GetGeneration(), 10)
	} else if !apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("reading Pooler %s/%s: %w", t.Namespace, st.name, err)
	}
	pooler, err := PoolerOf(st.after.Object)
	if err != nil {
		return nil, "", err
	}
	pooler.Pairs = req.Pairs
	var strategy *appsv1.DeploymentStrategy
	if raw, ok, _ := unstructured.NestedMap(st.after.Object, "spec", "deploymentStrategy"); ok {
		strategy = &appsv1.DeploymentStrategy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, strategy); err != nil {
			return nil, "", fmt.Errorf("Pooler %s: spec.deploymentStrategy: %w", st.name, err)
		}
	}
	in := Connections{Others: req.Others, MaxConnections: req.MaxConnections, Cluster: rp.after.Object, ClusterName: rp.name, Pooler: pooler, PoolerRollout: true, PoolerStrategy: strategy}
	if st.apps, st.rolls, err = c.readApps(ctx, t.Namespace, hp, req.PoolSizePath, func(host string) bool { return routesTo(host, st.name) }, &in); err != nil {
		return nil, "", err
	}
	if st.budget, err = ConnectionBudget(in); err != nil {
		return nil, "", err
	}
	return st, live, nil
}

// readApps finds the app Deployments the planned release points at the
// database through a host routed accepts (DB_HOST), and adds their pods to
// the budget in: their live count, or the maxReplicas of an HPA that owns
// them, with their rollout surge and the pool at poolPath (a chart without
// it counts no clients). rolls names the apps whose pod template the
// upgrade changes.
func (c *Client) readApps(ctx context.Context, namespace string, hp *helmplan.Result, poolPath string, routed func(host string) bool, in *Connections) (apps []appRoute, rolls []string, err error) {
	var hpas []autoscalingHPA
	if poolPath == "" {
		poolPath = DefaultPoolSizePath
	}
	pool, hasPool := values.Int(hp.Rendered.Computed, poolPath)
	for _, o := range manifest.Workloads(hp.After) {
		if o.Obj.GetKind() != "Deployment" {
			continue
		}
		var dep appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &dep); err != nil {
			return nil, nil, fmt.Errorf("the rendered Deployment %s: %w", o.Obj.GetName(), err)
		}
		host, ok := envOf(dep.Spec.Template.Spec, "DB_HOST")
		if !ok || !routed(host) {
			continue
		}
		route := appRoute{Name: dep.Name, DBHost: host}
		if before, ok := deploymentIn(hp.Before, dep.Name); ok {
			route.From, _ = envOf(before.Spec.Template.Spec, "DB_HOST")
			if !equality.Semantic.DeepEqual(before.Spec.Template, dep.Spec.Template) {
				rolls = append(rolls, dep.Name)
			}
		}
		apps = append(apps, route)
		if !hasPool {
			continue
		}
		live, err := c.kube.AppsV1().Deployments(namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("reading Deployment %s/%s: %w", namespace, dep.Name, err)
		}
		replicas := int32(1)
		switch {
		case err == nil && live.Spec.Replicas != nil:
			replicas = *live.Spec.Replicas
		case dep.Spec.Replicas != nil:
			replicas = *dep.Spec.Replicas
		}
		if hpas == nil {
			if hpas, err = c.listHPAs(ctx, namespace); err != nil {
				return nil, nil, err
			}
		}
		in.Replicas += replicas
		in.Pool = pool
		in.Strategy = &dep.Spec.Strategy
		for _, h := range hpas {
			if h.kind == "Deployment" && h.target == dep.Name {
				in.HPA = &HPALimit{Name: h.name, MaxReplicas: h.max}
			}
		}
	}
	return apps, rolls, nil
}

type autoscalingHPA struct {
	name, kind, target string
	max                int32
}

// listHPAs reads the namespace's HPAs (autoscaling/v2), as scale does.
func (c *Client) listHPAs(ctx context.Context, namespace string) ([]autoscalingHPA, error) {
	list, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing HPAs in %s: %w", namespace, err)
	}
	out := []autoscalingHPA{}
	for _, h := range list.Items {
		out = append(out, autoscalingHPA{name: h.Name, kind: h.Spec.ScaleTargetRef.Kind, target: h.Spec.ScaleTargetRef.Name, max: h.Spec.MaxReplicas})
	}
	return out, nil
}

// routesTo reports whether a DB_HOST names the pooler's Service (its name,
// or a DNS name under it).
func routesTo(host, pooler string) bool {
	return host == pooler || strings.HasPrefix(host, pooler+".")
}

func envOf(pod corev1.PodSpec, name string) (string, bool) {
	for _, ctr := range pod.Containers {
		for _, e := range ctr.Env {
			if e.Name == name && e.ValueFrom == nil {
				return e.Value, true
			}
		}
	}
	return "", false
}

func deploymentIn(objs map[string]manifest.Object, name string) (*appsv1.Deployment, bool) {
	for _, o := range manifest.Workloads(objs) {
		if o.Obj.GetKind() != "Deployment" || o.Obj.GetName() != name {
			continue
		}
		var dep appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &dep); err == nil {
			return &dep, true
		}
	}
	return nil, false
}

func (c *Client) deriveConfigurePooler(ctx context.Context, spec *poolerSpec) (*scaling.Plan, *poolerSpec, error) {
	return c.planConfigurePooler(ctx, spec.Request)
}

func (c *Client) applyConfigurePooler(ctx context.Context, plan *scaling.Plan, spec *poolerSpec) (*scaling.Applied, error) {
	r := spec.Request
	return c.upgradeRelease(ctx, plan, r.target(), spec.Revision, r.Chart, spec.Values)
}

// verifyConfigurePooler watches the Pooler, its Deployment and the routed
// apps' Deployments.
func (c *Client) verifyConfigurePooler(ctx context.Context, plan *scaling.Plan, spec *poolerSpec) (*scaling.Verification, error) {
	r := spec.Request
	t := r.target()
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	rel, vals, err := c.releaseValues(ctx, t, r.Chart)
	if err != nil {
		return nil, err
	}
	var values []scaling.Check
	for _, s := range spec.Sets {
		values = append(values, releaseCheck(rel, vals, s.Path, s.Value))
	}
	if !verify.Passed(values) {
		return notApplied(v, t, values), nil
	}
	poolers := c.dyn.Resource(poolersGVR).Namespace(t.Namespace)
	deps := c.kube.AppsV1().Deployments(t.Namespace)
	sources := []await.Source{
		await.Typed(c.dyn, "pooler", &unstructured.Unstructured{}, poolers.List, poolers.Watch, await.ByName(spec.Pooler)),
		await.Typed(c.kube, "pooler-deployment", &appsv1.Deployment{}, deps.List, deps.Watch, await.ByName(spec.Pooler)),
	}
	for _, a := range spec.Apps {
		sources = append(sources, await.Typed(c.kube, "app "+a.Name, &appsv1.Deployment{}, deps.List, deps.Watch, await.ByName(a.Name)))
	}
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err = await.Until(ctx, sources, func(s await.Stores) (bool, error) {
		now := time.Now()
		checks := slices.Clone(values)
		pc := scaling.Check{Name: "pooler-spec", Expected: "Pooler " + spec.Pooler + " as planned", Observed: "absent", ObservedAt: now}
		if u := named(await.List[*unstructured.Unstructured](s[0]), spec.Pooler); u != nil {
			got, _, _ := unstructured.NestedMap(u.Object, "spec")
			pc.Observed, pc.Passed = poolerShown(got), subset(spec.Expected, got)
			if !pc.Passed {
				pc.Detail = "planned " + poolerShown(spec.Expected)
			}
		}
		checks = append(checks, pc)
		want := strconv.Itoa(int(spec.Instances))
		dc := scaling.Check{Name: "pooler-deployment", Expected: want + " updated, Ready pods", Observed: "absent", ObservedAt: now}
		if d := named(await.List[*appsv1.Deployment](s[1]), spec.Pooler); d != nil {
			dc.Observed = rolloutShown(d)
			dc.Passed = rolledOut(d) && d.Spec.Replicas != nil && *d.Spec.Replicas == spec.Instances
		}
		checks = append(checks, dc)
		for i, a := range spec.Apps {
			hc := scaling.Check{Name: "app-db-host " + a.Name, Expected: a.DBHost + " (the pooler's Service)", Observed: "absent", ObservedAt: now}
			rc := scaling.Check{Name: "app-rollout " + a.Name, Expected: "every pod updated and Ready", Observed: "absent", ObservedAt: now}
			if d := named(await.List[*appsv1.Deployment](s[2+i]), a.Name); d != nil {
				host, _ := envOf(d.Spec.Template.Spec, "DB_HOST")
				hc.Observed, hc.Passed = orEmpty(host), host == a.DBHost && routesTo(host, spec.Pooler)
				rc.Observed, rc.Passed = rolloutShown(d), rolledOut(d)
			}
			checks = append(checks, hc, rc)
		}
		v.Checks = checks
		emitter.Emit(v.Checks)
		return verify.Passed(checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before the pooler served as planned"), nil
}

// rolledOut: the Deployment's controller saw its newest spec and every pod
// runs it, Ready, none of an older revision left.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want && st.AvailableReplicas == want && st.Replicas == want
}

func rolloutShown(d *appsv1.Deployment) string {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return fmt.Sprintf("spec %d: %d updated, %d Ready, %d in all (generation %d observed %d)", want, st.UpdatedReplicas, st.ReadyReplicas, st.Replicas, d.Generation, st.ObservedGeneration)
}

// subset reports whether every field of want has the same value in got
// (the API server adds defaults to what the chart renders).
func subset(want, got map[string]any) bool {
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return false
		}
		wm, wIsMap := w.(map[string]any)
		gm, gIsMap := g.(map[string]any)
		switch {
		case wIsMap && gIsMap:
			if !subset(wm, gm) {
				return false
			}
		case fmt.Sprint(normalNumber(w)) != fmt.Sprint(normalNumber(g)):
			return false
		}
	}
	return true
}

func normalNumber(v any) any {
	switch n := v.(type) {
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	case int:
		return int64(n)
	case int32:
		return int64(n)
	}
	return v
}

func poolerShown(spec map[string]any) string {
	n, _, _ := unstructured.NestedFieldNoCopy(spec, "instances")
	typ, _, _ := unstructured.NestedString(spec, "type")
	mode, _, _ := unstructured.NestedString(spec, "pgbouncer", "poolMode")
	params, _, _ := unstructured.NestedMap(spec, "pgbouncer", "parameters")
	return fmt.Sprintf("instances %v, type %s, poolMode %s, parameters %v", n, typ, mode, params)
}

// named picks the object of a name from a watched list (a field selector
// narrows the list on a real API server; this does not rely on it).
func named[T interface{ GetName() string }](objs []T, name string) T {
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	return zero
}
