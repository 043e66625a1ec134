package scale_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// recE2E is a release of the reference chart at the guide's large tier
// (requests 1000m/2Gi, limits 2000m/4Gi, HPA 3-10 on CPU 70 % and memory
// 80 %, NATS and PostgreSQL off) on the real control plane, and a client
// that writes the HPA's status as the HPA controller would. That client is
// not the recorded one: e.rec sees only what Recommend sends.
type recE2E struct {
	*realEnv
	writer kubernetes.Interface
}

func newRecE2E(t *testing.T) *recE2E {
	t.Helper()
	e := newRealEnv(t, tierValues(scale.TierLarge))
	writer, err := kubernetes.NewForConfig(testenv.Shared().RESTConfig())
	require.NoError(t, err)
	// The chart renders no spec.replicas under an HPA: the Deployment starts
	// at 1 and the real HPA controller raises it to its minimum of 3.
	require.Eventually(t, func() bool { return e.readyPods(t) == 3 }, time.Minute, 50*time.Millisecond, "HPA scales to minReplicas")
	return &recE2E{realEnv: e, writer: writer}
}

// writeStatus sets the HPA's status as the HPA controller writes it when
// it has metrics: current and desired replicas, and the CPU and memory
// averageUtilization in status.currentMetrics.
func (e *recE2E) writeStatus(t *testing.T, ctx context.Context, replicas, cpu, mem int32) {
	t.Helper()
	util := func(name corev1.ResourceName, v int32) autoscalingv2.MetricStatus {
		return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: name, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &v}}}
	}
	hpas := e.writer.AutoscalingV2().HorizontalPodAutoscalers(e.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		h, err := hpas.Get(ctx, release, metav1.GetOptions{})
		if err != nil {
			return err
		}
		h.Status.CurrentReplicas, h.Status.DesiredReplicas = replicas, replicas
		h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{util(corev1.ResourceCPU, cpu), util(corev1.ResourceMemory, mem)}
		_, err = hpas.UpdateStatus(ctx, h, metav1.UpdateOptions{})
		return err
	})
	require.NoError(t, err)
}

// recommendSeeing writes the status and calls Recommend at once, until
// Recommend reads the status written.
//
// The real kube-controller-manager runs the HPA controller. With no
// metrics API it cannot compute utilization: on each sync of the HPA
// (every --horizontal-pod-autoscaler-sync-period, 15 s by default; an
// update of the HPA only re-queues it behind that interval) it writes
// ScalingActive=False (FailedGetResourceMetric: "unable to fetch metrics
// from resource metrics API"), sets currentReplicas from the Deployment's
// scale (3) and replaces status.currentMetrics with one empty entry per
// spec metric (no type, no value), leaving desiredReplicas. Observed here:
// a written status lasted about 13 s. So it lives until the next sync:
// Recommend, a few reads taking milliseconds, almost always sees it; when
// a sync lands between the write and the read, the write is repeated.
func (e *recE2E) recommendSeeing(t *testing.T, ctx context.Context, replicas, cpu, mem int32) *scale.Recommendation {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for attempt := 1; ; attempt++ {
		e.writeStatus(t, ctx, replicas, cpu, mem)
		e.rec.Reset()
		r, err := e.client.Recommend(ctx, scale.Recommend{Namespace: e.ns, Release: release})
		require.NoError(t, err)
		mutating := e.rec.Mutating()
		require.Empty(t, mutating, "Recommend reads only: %v", mutating)
		for _, q := range e.rec.Requests() {
			assert.False(t, q.Group == "metrics.k8s.io" && q.Resource == "pods", "no metrics API, no read of it: %s", q)
		}
		if h := r.HPA; h != nil && h.CPU != nil && *h.CPU == cpu && h.Memory != nil && *h.Memory == mem && h.CurrentReplicas == replicas {
			t.Logf("Recommend saw the written status at attempt %d (%d requests, none mutating):\n%s", attempt, e.rec.Total(), r)
			return r
		}
		t.Logf("attempt %d: the HPA controller rewrote the status before Recommend read it: %+v", attempt, r.HPA)
		require.True(t, time.Now().Before(deadline), "Recommend never saw the written HPA status within a minute")
	}
}

// controllerConditions logs what the HPA controller has written itself.
func (e *recE2E) controllerConditions(t *testing.T, ctx context.Context) {
	t.Helper()
	h, err := e.writer.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	for _, c := range h.Status.Conditions {
		t.Logf("HPA condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
}

func reasonWith(r *scale.Recommendation, parts ...string) bool {
	for _, line := range r.Reasons {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestE2ERecommendHPAAtMaxAboveCPUSuggestsXL: the HPA runs its maximum of
// 10 pods at 85 % CPU (above the guide's 70 %) and 60 % memory: scale out,
// to the xl tier, with the numbers in the reasons and no write.
func TestE2ERecommendHPAAtMaxAboveCPUSuggestsXL(t *testing.T) {
	e := newRecE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.controllerConditions(t, ctx)

	r := e.recommendSeeing(t, ctx, 10, 85, 60)
	assert.Equal(t, "scale-out", r.Verdict, r.String())
	require.NotNil(t, r.Current)
	assert.Equal(t, "large", r.Current.Short())
	assert.True(t, r.Exact, "requests, limits and HPA bounds are the large tier's")
	require.NotNil(t, r.Suggested)
	assert.Equal(t, "xl", r.Suggested.Short())
	require.NotNil(t, r.HPA)
	assert.Equal(t, release, r.HPA.Name)
	assert.EqualValues(t, 3, r.HPA.MinReplicas)
	assert.EqualValues(t, 10, r.HPA.MaxReplicas)
	assert.True(t, r.HPA.AtMax)
	assert.EqualValues(t, 3, r.Replicas, "the ready pods are the cluster's, not the written status's")

	cpu := signal(t, r, "cpu")
	assert.InDelta(t, 85, cpu.Percent, 0.01)
	assert.EqualValues(t, 70, cpu.Threshold)
	assert.True(t, cpu.Above)
	assert.False(t, cpu.Sustained, "one read proves nothing about 5 minutes")
	assert.Contains(t, cpu.Source, "HPA "+release+" status.currentMetrics")
	mem := signal(t, r, "memory")
	assert.InDelta(t, 60, mem.Percent, 0.01)
	assert.False(t, mem.Above)

	assert.True(t, reasonWith(r, "cpu 85.0% above the 70% trigger"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "memory 60.0% below the 80% trigger"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "HPA "+release+" is at its maximum of 10 pods"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "move to the xl tier", "100,000 - 1,000,000 users"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "database:", "not judged"), "PostgreSQL is off in this release: %q", r.Reasons)

	// The metrics API is not served here (no metrics-server): said so.
	assert.False(t, r.MetricsServed)
	assert.Empty(t, r.MetricsError, "not registered is no error")
	assert.True(t, reasonWith(r, "pods' usage: the metrics API (metrics.k8s.io/v1beta1) not served"), "%q", r.Reasons)
	assert.Contains(t, r.String(), "verdict: scale-out -> xl tier")
	assert.Contains(t, r.String(), "hpa: ironflow 10/3-10 pods, cpu 85%, memory 60%")
}

// TestE2ERecommendBelowTriggersFits: 3 of at most 10 pods at 40 % CPU and
// 55 % memory: no trigger fires, the release fits its tier.
func TestE2ERecommendBelowTriggersFits(t *testing.T) {
	e := newRecE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := e.recommendSeeing(t, ctx, 3, 40, 55)
	assert.Equal(t, "fits", r.Verdict, r.String())
	assert.Nil(t, r.Suggested)
	require.NotNil(t, r.Current)
	assert.Equal(t, "large", r.Current.Short())
	require.NotNil(t, r.HPA)
	assert.False(t, r.HPA.AtMax)
	assert.False(t, signal(t, r, "cpu").Above)
	assert.False(t, signal(t, r, "memory").Above)
	assert.True(t, reasonWith(r, "cpu 40.0% below the 70% trigger"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "memory 55.0% below the 80% trigger"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "no trigger fired"), "%q", r.Reasons)
	assert.False(t, r.MetricsServed)
	assert.True(t, reasonWith(r, "metrics API (metrics.k8s.io/v1beta1) not served"), "%q", r.Reasons)
	e.controllerConditions(t, ctx)
}

// recPGValues are the medium tier's app (3 replicas, requests 500m/1Gi)
// with the chart's PostgreSQL on as a user who has not yet put PgBouncer in
// front runs it: one CNPG instance with max_connections 100
// (postgresql.maxConnections, rendered as the Cluster's
// spec.postgresql.parameters.max_connections) and each app pod holding a
// pool of 30 (database.poolSize, the pod's DB_POOL_SIZE): 3 x 30 = 90
// connections, 90 % of max_connections.
func recPGValues() map[string]any {
	v := tierValues(scale.TierMedium)
	v["postgresql"] = map[string]any{"enabled": true, "instances": 1, "maxConnections": 100,
		"pooler": map[string]any{"enabled": false}}
	v["database"] = map[string]any{"poolSize": 30}
	return v
}

// newRecPGEnv is newRealEnv with the CloudNativePG operator double running
// in the namespace before the install, as CNPG runs in a user's cluster:
// the Cluster the release renders is live (its instance pod, Services and
// status healthy), next to the app's pods. The operator's requests are
// its own client's; e.rec records only the scale client's.
func newRecPGEnv(t *testing.T, vals map[string]any) *realEnv {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	e := &realEnv{ns: env.Namespace(t), rec: &reqcount.Recorder{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	op, err := env.StartOperator(ctx, testenv.OperatorOptions{Namespace: e.ns, Backend: testenv.NewMemoryBackend()})
	require.NoError(t, err)
	t.Cleanup(func() {
		op.Stop()
		assert.Empty(t, op.Errors(), "the operator double's reconciles failed")
	})
	cfg := env.RESTConfig()
	cfg.Wrap(e.rec.Wrap)
	e.cluster, err = scaling.NewCluster(cfg)
	require.NoError(t, err)
	e.releases = helmrelease.New(cfg, e.cluster.Kube)
	_, err = e.releases.Install(ctx, e.ns, release, testenv.ChartPath("ironflow"), vals, 2*time.Minute)
	require.NoError(t, err)
	e.client, err = scale.New(e.cluster, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}})
	require.NoError(t, err)
	recWaitClusterHealthy(t, ctx, e, release+"-pg", 1)
	replicas, _ := vals["replicaCount"].(int)
	require.Eventually(t, func() bool { return e.readyPods(t) == replicas }, time.Minute, 50*time.Millisecond, "the app's pods are ready")
	e.rec.Reset()
	return e
}

// recWaitClusterHealthy waits (a watch) until the operator double reports
// the CNPG Cluster healthy with n ready instances.
func recWaitClusterHealthy(t *testing.T, ctx context.Context, e *realEnv, name string, n int) {
	t.Helper()
	require.NoError(t, testenv.WaitClusterHealthy(ctx, e.cluster.Dynamic, e.ns, name, n))
}

// recommendReadOnly calls Recommend and requires that it wrote nothing and
// read no CNPG Cluster live: with no Budget.Cluster, max_connections is the
// Cluster the release renders.
func recommendReadOnly(t *testing.T, ctx context.Context, e *realEnv, r scale.Recommend) *scale.Recommendation {
	t.Helper()
	e.rec.Reset()
	out, err := e.client.Recommend(ctx, r)
	require.NoError(t, err)
	mutating := e.rec.Mutating()
	require.Empty(t, mutating, "Recommend reads only: %v", mutating)
	require.NotZero(t, e.rec.Total(), "Recommend reads the cluster")
	for _, q := range e.rec.Requests() {
		assert.NotEqual(t, "postgresql.cnpg.io", q.Group, "max_connections comes from the release's rendered Cluster: %s", q)
	}
	t.Logf("Recommend (%d requests, none mutating):\n%s", e.rec.Total(), out)
	return out
}

// TestE2ERecommendConnectionsTrigger: the connection trigger on the real
// control plane, PostgreSQL on. 3 pods x pool 30 = 90 of max_connections
// 100 (the rendered CNPG Cluster's) is above the guide's 80 %: scale the
// database, sustained (the pools are held whenever the pods run), with the
// arithmetic in the reason. The caller's measured count wins over the
// budget in both directions, as one read. After the app is scaled to 2
// pods (a Replicas plan, applied and verified), 2 x 30 = 60 % is within
// the trigger: the pods are today's, not the values'. Recommend writes
// nothing throughout.
func TestE2ERecommendConnectionsTrigger(t *testing.T) {
	e := newRecPGEnv(t, recPGValues())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const cnpg = "CNPG Cluster " + release + "-pg"

	// The budget: the pods' pools at today's count.
	r := recommendReadOnly(t, ctx, e, scale.Recommend{Namespace: e.ns, Release: release})
	assert.EqualValues(t, 3, r.Replicas)
	assert.Nil(t, r.HPA)
	c := signal(t, r, "connections")
	assert.InDelta(t, 90, c.Percent, 0.01)
	assert.EqualValues(t, 80, c.Threshold)
	assert.True(t, c.Above)
	assert.True(t, c.Sustained, "a budget is what the pools hold whenever the pods run")
	budget := "(3 replicas + 0 surge) x pool 30 + 0 others = 90 connections; max_connections 100 - 3 reserved = 97"
	assert.Equal(t, "budget, not measured: "+budget+" (max_connections: "+cnpg+")", c.Source)
	assert.Equal(t, "scale-database", r.Verdict, r.String())
	assert.Nil(t, r.Suggested, "no pod trigger: no tier to move to")
	assert.True(t, reasonWith(r, "connections 90.0% above the 80% trigger", budget, cnpg), "%q", r.Reasons)
	assert.False(t, reasonWith(r, "connections", "seen at one read"), "a budget is not one read: %q", r.Reasons)
	assert.True(t, reasonWith(r, "database connections over the trigger", "PgBouncer pooler", "postgresql.pooler.enabled", "raise max_connections"), "%q", r.Reasons)
	assert.False(t, reasonWith(r, "not judged"), "PostgreSQL is on: %q", r.Reasons)
	assert.True(t, reasonWith(r, "no CPU or memory reading"), "no HPA and no metrics API here: %q", r.Reasons)
	assert.Contains(t, r.String(), "verdict: scale-database\n")

	// Measured by the caller, below: 40 of 100 fits, whatever the budget.
	r = recommendReadOnly(t, ctx, e, scale.Recommend{Namespace: e.ns, Release: release, Connections: 40})
	c = signal(t, r, "connections")
	assert.InDelta(t, 40, c.Percent, 0.01)
	assert.False(t, c.Above)
	assert.False(t, c.Sustained)
	assert.Equal(t, "40 connections measured by the caller; max_connections 100 ("+cnpg+")", c.Source)
	assert.Equal(t, "fits", r.Verdict, r.String())
	assert.True(t, reasonWith(r, "connections 40.0% below the 80% trigger", "measured by the caller"), "%q", r.Reasons)
	assert.True(t, reasonWith(r, "no trigger fired"), "%q", r.Reasons)

	// Measured by the caller, above: 85 of 100 is one read, not sustained.
	r = recommendReadOnly(t, ctx, e, scale.Recommend{Namespace: e.ns, Release: release, Connections: 85})
	c = signal(t, r, "connections")
	assert.InDelta(t, 85, c.Percent, 0.01)
	assert.True(t, c.Above)
	assert.False(t, c.Sustained, "a measured count is one read")
	assert.Equal(t, "scale-database", r.Verdict, r.String())
	assert.True(t, reasonWith(r, "connections 85.0% above the 80% trigger", "85 connections measured by the caller", "seen at one read, not shown to be sustained for 5 min"), "%q", r.Reasons)

	// Scale the app to 2 pods: 2 x 30 = 60 of 100, within the trigger.
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 2})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	e.applyAndVerify(t, ctx, plan)
	r = recommendReadOnly(t, ctx, e, scale.Recommend{Namespace: e.ns, Release: release})
	assert.EqualValues(t, 2, r.Replicas)
	c = signal(t, r, "connections")
	assert.InDelta(t, 60, c.Percent, 0.01)
	assert.False(t, c.Above)
	assert.False(t, c.Sustained)
	assert.Equal(t, "budget, not measured: (2 replicas + 0 surge) x pool 30 + 0 others = 60 connections; max_connections 100 - 3 reserved = 97 (max_connections: "+cnpg+")", c.Source)
	assert.Equal(t, "fits", r.Verdict, r.String())
	assert.True(t, reasonWith(r, "connections 60.0% below the 80% trigger"), "%q", r.Reasons)
	assert.False(t, reasonWith(r, "database connections over the trigger"), "%q", r.Reasons)
}

// TestE2ERecommendConnectionsBehindPooler: the same app (3 pods x pool 30)
// behind the chart's PgBouncer Pooler (postgresql.pooler.enabled, the
// reason's remedy): the server's connections are the Pooler's, its
// instances x default_pool_size, read from the rendered Pooler. With the
// chart's 2 x "20" that is 40 of max_connections 100, within the trigger;
// with default_pool_size "45", 2 x 45 = 90, above it.
func TestE2ERecommendConnectionsBehindPooler(t *testing.T) {
	const pooler = release + "-pg-pooler-rw"
	for _, tc := range []struct {
		poolSize string
		percent  float64
		above    bool
		verdict  string
		budget   string
	}{
		{"20", 40, false, "fits", "Pooler " + pooler + ": (2 instances + 0 surge) x (default_pool_size 20 + reserve 0) x 1 user/db pairs + 0 others = 40 server connections; " +
			"max_connections 100 - 3 reserved = 97; clients (3 replicas + 0 surge) x pool 30 = 90, PgBouncer accepts 2 instances x max_client_conn 1000 = 2000"},
		{"45", 90, true, "scale-database", "Pooler " + pooler + ": (2 instances + 0 surge) x (default_pool_size 45 + reserve 0) x 1 user/db pairs + 0 others = 90 server connections; " +
			"max_connections 100 - 3 reserved = 97; clients (3 replicas + 0 surge) x pool 30 = 90, PgBouncer accepts 2 instances x max_client_conn 1000 = 2000"},
	} {
		t.Run("default_pool_size="+tc.poolSize, func(t *testing.T) {
			vals := recPGValues()
			vals["postgresql"].(map[string]any)["pooler"] = map[string]any{"enabled": true, "instances": 2, "type": "rw", "defaultPoolSize": tc.poolSize}
			e := newRecPGEnv(t, vals)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := recommendReadOnly(t, ctx, e, scale.Recommend{Namespace: e.ns, Release: release})
			assert.EqualValues(t, 3, r.Replicas)
			c := signal(t, r, "connections")
			assert.InDelta(t, tc.percent, c.Percent, 0.01)
			assert.Equal(t, tc.above, c.Above)
			assert.Equal(t, tc.above, c.Sustained)
			assert.Equal(t, "budget, not measured: "+tc.budget+" (max_connections: CNPG Cluster "+release+"-pg)", c.Source)
			assert.Equal(t, tc.verdict, r.Verdict, r.String())
		})
	}
}
