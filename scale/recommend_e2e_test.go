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
