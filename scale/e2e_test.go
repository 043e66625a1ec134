package scale_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// TestMain starts the real control plane once for the package; unit tests
// share the binary and ignore it.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{CNPG: true}))
}

// realEnv is a release of the reference chart installed with real Helm on
// the real control plane, and a scale client whose every request is
// recorded.
type realEnv struct {
	ns       string
	cluster  *scaling.Cluster
	rec      *reqcount.Recorder
	releases *helmrelease.Client
	client   *scale.Client
}

func newRealEnv(t testing.TB, vals map[string]any) *realEnv {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	e := &realEnv{ns: env.Namespace(t), rec: &reqcount.Recorder{}}
	cfg := env.RESTConfig()
	cfg.Wrap(e.rec.Wrap)
	var err error
	e.cluster, err = scaling.NewCluster(cfg)
	require.NoError(t, err)
	e.releases = helmrelease.New(cfg, e.cluster.Kube)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = e.releases.Install(ctx, e.ns, release, testenv.ChartPath("ironflow"), vals, time.Minute)
	require.NoError(t, err)
	e.client, err = scale.New(e.cluster, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}})
	require.NoError(t, err)
	e.rec.Reset()
	return e
}

// appOnly keeps the release to the app Deployment: NATS and PostgreSQL have
// their own tests.
func appOnly(replicas int) map[string]any {
	v := clustered(replicas)
	v["nats"] = map[string]any{"enabled": false}
	v["postgresql"] = map[string]any{"enabled": false}
	return v
}

// applyAndVerify applies a plan that must change something and requires its
// Verify to succeed.
func (e *realEnv) applyAndVerify(t *testing.T, ctx context.Context, plan *scaling.Plan) *scaling.Verification {
	t.Helper()
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	require.True(t, applied.Changed, applied.Reason)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	return v
}

func (e *realEnv) readyPods(t *testing.T) int {
	t.Helper()
	n, err := testenv.Shared().ReadyPods(context.Background(), e.ns, "app.kubernetes.io/name=ironflow")
	require.NoError(t, err)
	return n
}

func TestE2EReplicas3To5Verified(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	t.Logf("requests for one plan: %d\n%s", e.rec.Total(), e.rec.Summary())
	require.Empty(t, plan.Blocking())
	require.Len(t, plan.Steps, 2)
	assert.Equal(t, "3", plan.Steps[1].Before)

	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	var observed []string
	watcher, err := scale.New(e.cluster, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}, Progress: func(ev scaling.Event) {
		if ev.Kind == scaling.CheckObserved {
			observed = append(observed, ev.Check.Name+"="+ev.Check.Observed)
		}
	}})
	require.NoError(t, err)
	v, err := watcher.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	assert.Contains(t, observed, "pods-ready=5 Ready of 5", "progress reports what Verify saw")
	c, ok := v.Check("pods-ready")
	require.True(t, ok)
	assert.Equal(t, "5 Ready of 5", c.Observed)
	assert.Equal(t, 5, e.readyPods(t), "the cluster agrees with Verify")
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Revision)
	assert.Equal(t, "deployed", rel.Status)
}

func TestE2EStalePlanWritesNothing(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)

	// Someone runs `kubectl scale --replicas=4` between plan and apply.
	_, err = e.cluster.Kube.AppsV1().Deployments(e.ns).UpdateScale(ctx, release,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: release, Namespace: e.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 4}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.rec.Reset()

	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, scaling.ErrStalePlan)
	assert.Empty(t, e.rec.Mutating(), "a stale plan sends no write")
	assert.NotZero(t, e.rec.Total(), "the recorder did see the reads")
	d, err := e.cluster.Kube.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 4, *d.Spec.Replicas)
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Revision)
}

func TestE2EApplyTwiceThenOverride(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	v := e.applyAndVerify(t, ctx, plan)

	e.rec.Reset()
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, again.Reason)
	assert.Empty(t, e.rec.Mutating(), "re-applying an applied plan sends no write")
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Revision)

	// Another actor changes the count after the apply: Verify says so and names it.
	_, err = e.cluster.Kube.AppsV1().Deployments(e.ns).UpdateScale(ctx, release,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: release, Namespace: e.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	v, err = e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Overridden, v.Phase, v.String())
	assert.Contains(t, v.Reason, "spec.replicas is 2, the plan set 5")
	assert.Contains(t, v.Reason, "(scale)", "the scale subresource wrote it")
}

func TestE2EQuotaTooSmallIsBlockedWithoutWrites(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}},
	}
	_, err := e.cluster.Kube.CoreV1().ResourceQuotas(e.ns).Create(ctx, q, metav1.CreateOptions{})
	require.NoError(t, err)
	// kube-controller-manager computes status.used; the guard reads it.
	require.Eventually(t, func() bool {
		got, err := e.cluster.Kube.CoreV1().ResourceQuotas(e.ns).Get(ctx, "team", metav1.GetOptions{})
		return err == nil && got.Status.Used.Pods().Value() == 3
	}, time.Minute, 20*time.Millisecond)
	e.rec.Reset()

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1)
	assert.Equal(t, "quota", blocked[0].Name)
	assert.Contains(t, blocked[0].Reason, "team pods: 2 more pods need 2, 1 left (hard 4, used 3)")
	// Stored and decoded, as an approval queue would: the typed cause with
	// its numbers comes back through errors.As.
	raw, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(raw)
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, stored)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var quota *scale.QuotaError
	require.ErrorAs(t, err, &quota)
	assert.ErrorIs(t, err, scale.ErrQuota)
	require.Len(t, quota.Short, 1)
	assert.Equal(t, scale.QuotaShortfall{Quota: "team", Resource: "pods", Pods: 2, Need: "2", Left: "1", Hard: "4", Used: "3"}, quota.Short[0])
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")
	d, err := e.cluster.Kube.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, *d.Spec.Replicas)
}

func TestE2EDownLowersHPAMinimumOnePodLeft(t *testing.T) {
	vals := appOnly(3)
	vals["autoscaling"] = map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 10}
	e := newRealEnv(t, vals)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The chart renders no spec.replicas under an HPA: the Deployment starts
	// at 1 and the real HPA controller raises it to its minimum of 3.
	require.Eventually(t, func() bool { return e.readyPods(t) == 3 }, time.Minute, 50*time.Millisecond, "HPA scales to minReplicas")

	plan, err := e.client.PlanDown(ctx, scale.Down{Namespace: e.ns, Release: release})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	require.Len(t, plan.Steps, 2)
	v := e.applyAndVerify(t, ctx, plan)
	c, _ := v.Check("hpa-min")
	assert.True(t, c.Passed)
	assert.Equal(t, 1, e.readyPods(t))
	h, err := e.cluster.Kube.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, *h.Spec.MinReplicas)
}

func TestE2EAutoscaleWithBehaviorReadBack(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := e.client.PlanAutoscale(ctx, requestRate(e.ns, 2, 6))
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	v := e.applyAndVerify(t, ctx, plan)
	c, _ := v.Check("hpa-spec")
	assert.True(t, c.Passed, c.Observed)

	h, err := e.cluster.Kube.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, *h.Spec.MinReplicas)
	assert.EqualValues(t, 6, h.Spec.MaxReplicas)
	require.Len(t, h.Spec.Metrics, 2)
	assert.Equal(t, "http_requests_per_second", h.Spec.Metrics[1].Pods.Metric.Name)
	assert.Equal(t, "1k", h.Spec.Metrics[1].Pods.Target.AverageValue.String())
	require.NotNil(t, h.Spec.Behavior)
	assert.EqualValues(t, 300, *h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds)
	assert.Len(t, h.Spec.Behavior.ScaleUp.Policies, 2)
	assert.Equal(t, autoscalingv2.MaxChangePolicySelect, *h.Spec.Behavior.ScaleUp.SelectPolicy)

	e.rec.Reset()
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed)
	assert.Empty(t, e.rec.Mutating())
}

func TestE2ERolloutRestartLandsPodsOnANewNode(t *testing.T) {
	e := newRealEnv(t, appOnly(6))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool { return e.readyPods(t) == 6 }, time.Minute, 50*time.Millisecond)
	node := "kwok-node-" + e.ns // unique per run, so reruns add a fresh node
	require.NoError(t, testenv.Shared().AddNode(ctx, testenv.NodeSpec{Name: node}))

	target := scaling.ObjectRef{Kind: "Deployment", Namespace: e.ns, Name: release}
	plan, err := e.client.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: target})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking())
	assert.NotContains(t, plan.Summary, node, "no pod runs on the new node before the restart")
	v := e.applyAndVerify(t, ctx, plan)
	spread, _ := v.Check("spread")
	assert.Contains(t, spread.Observed, node+"=", "the scheduler put new pods on the empty node: %s", spread.Observed)
	t.Logf("spread %s; after: %s", spread.Detail, spread.Observed)
}

func TestE2ETemplateSmallToMediumVerified(t *testing.T) {
	vals := appOnly(1)
	vals["cluster"] = map[string]any{"enabled": false}
	e := newRealEnv(t, vals)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The small template cannot take 3 replicas: blocked, nothing written.
	blocked, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.Len(t, blocked.Blocking(), 1)
	assert.Equal(t, "clustering", blocked.Blocking()[0].Name)
	_, err = e.client.Apply(ctx, blocked)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Empty(t, e.rec.Mutating())

	to := scale.Medium
	to.NATSReplicas, to.PostgresInstances = 1, 1 // the app only: NATS and PostgreSQL are off in this release
	plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: e.ns, Release: release, To: to})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	v := e.applyAndVerify(t, ctx, plan)
	c, _ := v.Check("pods-ready")
	assert.Equal(t, "3 Ready of 3", c.Observed)
	assert.Equal(t, 3, e.readyPods(t))
}

func TestE2EVerifyReportsUnschedulablePods(t *testing.T) {
	vals := appOnly(3)
	// 5 CPUs a pod on four 8-CPU nodes: 6 pods (30 CPUs) fit in what the
	// nodes have together, so the capacity guard passes, but one pod fits
	// per node: 2 stay Pending.
	vals["resources"] = map[string]any{"requests": map[string]any{"cpu": "5"}, "limits": nil}
	e := newRealEnv(t, vals)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 6, Budget: scale.ConnectionBudget{MaxConnections: 1000}})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking())
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	v, err := e.client.Verify(short, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase, v.String())
	c, _ := v.Check("pods-ready")
	assert.False(t, c.Passed)
	assert.Contains(t, c.Detail, "not scheduled")
	assert.Contains(t, c.Detail, "Insufficient cpu", "the scheduler's reason reaches the caller")
}

// TestE2ECapacityGuardBlocksWhatTheNodesCannotHold: 12 pods of 5 CPUs on
// four 8-CPU nodes, and 2,147,483,647 pods, are plans Kubernetes accepts and
// never finishes (issue 11: planned, every guard passing, and written); the
// capacity guard blocks both with the numbers, and nothing is written.
func TestE2ECapacityGuardBlocksWhatTheNodesCannotHold(t *testing.T) {
	vals := appOnly(3)
	vals["resources"] = map[string]any{"requests": map[string]any{"cpu": "5"}, "limits": nil}
	e := newRealEnv(t, vals)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.rec.Reset()
	for _, n := range []int32{12, 2147483647} {
		plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: n, Budget: scale.ConnectionBudget{MaxConnections: 1000}})
		require.NoError(t, err)
		_, err = e.client.Apply(ctx, plan)
		var capacity *scaling.CapacityError
		require.ErrorAs(t, err, &capacity, "%d replicas", n)
		assert.Equal(t, n, capacity.Replicas)
		require.NotEmpty(t, capacity.Short)
		assert.Equal(t, "cpu", capacity.Short[0].Resource)
		assert.Equal(t, "Total", capacity.Short[0].Of)
	}
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 3, Budget: scale.ConnectionBudget{MaxConnections: 1000}})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "3 pods of 5 CPUs fit")
	assert.Empty(t, e.rec.Mutating(), "nothing written")
}

func TestE2EWorkloadWithoutReleaseScaledThroughSubresource(t *testing.T) {
	e := newRealEnv(t, appOnly(1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	two := int32(2)
	labels := map[string]string{"app": "worker"}
	_, err := e.cluster.Kube.AppsV1().Deployments(e.ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "worker"},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "worker"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	worker := &scaling.ObjectRef{Kind: "Deployment", Name: "worker"}
	e.rec.Reset()

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Workload: worker, Replicas: 4})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Empty(t, e.rec.Mutating())
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"patch deployments/scale"}, verbs(e.rec.Mutating()), "one write, through the scale subresource")
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())

	e.rec.Reset()
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed)
	assert.Empty(t, e.rec.Mutating())
}

func verbs(reqs []reqcount.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Verb + " " + r.Resource
	}
	return out
}

func TestE2EHPAOwnedReleaseBlockedThenRetargeted(t *testing.T) {
	vals := appOnly(3)
	vals["autoscaling"] = map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 10}
	e := newRealEnv(t, vals)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool { return e.readyPods(t) == 3 }, time.Minute, 50*time.Millisecond)
	e.rec.Reset()

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 12})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1)
	assert.Contains(t, blocked[0].Reason, "HPA ironflow keeps Deployment/"+e.ns+"/ironflow within [3, 10]; 12 is outside")
	_, err = e.client.Apply(ctx, plan)
	var gb *scaling.GuardBlockedError
	require.ErrorAs(t, err, &gb)
	assert.Empty(t, e.rec.Mutating(), "blocked: no write")

	// The way out the guard names: retarget the HPA.
	retarget, err := e.client.PlanAutoscale(ctx, scale.Autoscale{Namespace: e.ns, Release: release, MinReplicas: 12, MaxReplicas: 15})
	require.NoError(t, err)
	require.Empty(t, retarget.Blocking(), retarget.String())
	v := e.applyAndVerify(t, ctx, retarget)
	c, _ := v.Check("replicas-in-range")
	assert.Equal(t, "spec 12, 12 Ready of 12", c.Observed)
}

func TestE2EConnectionBudgetReadsALiveCNPGCluster(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A database managed outside the release: the guard reads its
	// max_connections from the live Cluster object.
	cluster := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": map[string]any{"name": "pg"},
		"spec": map[string]any{"instances": int64(2), "storage": map[string]any{"size": "1Gi"},
			"postgresql": map[string]any{"parameters": map[string]any{"max_connections": "40"}}},
	}}
	dyn, err := dynamic.NewForConfig(testenv.Shared().RESTConfig())
	require.NoError(t, err)
	_, err = dyn.Resource(schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}).Namespace(e.ns).Create(ctx, cluster, metav1.CreateOptions{})
	require.NoError(t, err)

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5, Budget: scale.ConnectionBudget{Cluster: "pg"}})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1)
	assert.Equal(t, "(5 replicas + 2 surge) x pool 10 + 0 others = 70 connections; max_connections 40 (CNPG Cluster pg) - 3 reserved = 37", blocked[0].Reason)

	_, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5, Budget: scale.ConnectionBudget{Cluster: "missing"}})
	assert.ErrorIs(t, err, scaling.ErrNotFound)
}
