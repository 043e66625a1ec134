package scale_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	scalingfake "github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/scale"
)

var recPodMetrics = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}

// recEnv is a fake release with a dynamic client, for the metrics API.
type recEnv struct {
	kube   *fake.Clientset
	dyn    *dynamicfake.FakeDynamicClient
	client *scale.Client
}

func newRecEnv(t testing.TB, vals map[string]any) *recEnv {
	t.Helper()
	e := &recEnv{kube: fake.NewClientset()}
	e.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(), map[schema.GroupVersionResource]string{recPodMetrics: "PodMetricsList"})
	releases := scalingfake.NewReleases(e.kube)
	_, err := releases.Install(context.Background(), ns, release, chartPath(), vals)
	require.NoError(t, err)
	e.client, err = scale.New(&scaling.Cluster{Kube: e.kube, Dynamic: e.dyn}, scale.Options{Releases: releases, Chart: scaling.ChartSource{Ref: chartPath()}})
	require.NoError(t, err)
	return e
}

// tierValues are the values a move to the tier writes (the app only).
func tierValues(t scale.Tier) map[string]any {
	v := map[string]any{
		"replicaCount": int(t.Replicas), "cluster": map[string]any{"enabled": t.Clustering},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": t.Requests.Cpu().String(), "memory": t.Requests.Memory().String()},
			"limits":   map[string]any{"cpu": t.Limits.Cpu().String(), "memory": t.Limits.Memory().String()},
		},
		"nats": map[string]any{"enabled": false}, "postgresql": map[string]any{"enabled": false},
	}
	if a := t.Autoscaling; a != nil {
		v["autoscaling"] = map[string]any{"enabled": true, "minReplicas": int(a.MinReplicas), "maxReplicas": int(a.MaxReplicas),
			"targetCPUUtilizationPercentage": int(a.TargetCPU), "targetMemoryUtilizationPercentage": int(a.TargetMemory)}
	}
	return v
}

// pods creates n ready pods of the app with the tier's resources.
func (e *recEnv) pods(t testing.TB, n int, tier scale.Tier) {
	t.Helper()
	ctx := context.Background()
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	for i := range n {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", release, i), Namespace: ns, Labels: d.Spec.Selector.MatchLabels},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: tier.Requests, Limits: tier.Limits}}}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
		_, err := e.kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// hpa creates the app's HPA with its status as the controller writes it.
func (e *recEnv) hpa(t testing.TB, min, max, current int32, cpu, mem int32) {
	t.Helper()
	util := func(name corev1.ResourceName, v int32) autoscalingv2.MetricStatus {
		return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: name, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &v}}}
	}
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: release, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &min, MaxReplicas: max,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: release}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: current, DesiredReplicas: current,
			CurrentMetrics: []autoscalingv2.MetricStatus{util(corev1.ResourceCPU, cpu), util(corev1.ResourceMemory, mem)}}}
	_, err := e.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(context.Background(), h, metav1.CreateOptions{})
	require.NoError(t, err)
}

// serveMetrics registers metrics.k8s.io and stores each pod's usage.
func (e *recEnv) serveMetrics(t testing.TB, n int, cpu, mem string) {
	t.Helper()
	e.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: "metrics.k8s.io/v1beta1",
		APIResources: []metav1.APIResource{{Name: "nodes", Kind: "NodeMetrics"}, {Name: "pods", Namespaced: true, Kind: "PodMetrics"}},
	}}
	for i := range n {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
			"metadata":   map[string]any{"name": fmt.Sprintf("%s-%d", release, i), "namespace": ns},
			"containers": []any{map[string]any{"name": "app", "usage": map[string]any{"cpu": cpu, "memory": mem}}}}}
		_, err := e.dyn.Resource(recPodMetrics).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

func (e *recEnv) writes(t testing.TB) []string {
	t.Helper()
	var w []string
	for _, a := range append(e.kube.Actions(), e.dyn.Actions()...) {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			w = append(w, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return w
}

func signal(t testing.TB, r *scale.Recommendation, name string) scale.Signal {
	t.Helper()
	for _, s := range r.Signals {
		if s.Name == name {
			return s
		}
	}
	require.Failf(t, "no signal", "%s in %+v", name, r.Signals)
	return scale.Signal{}
}

func TestRecommendHPAAtMaxAboveCPUMovesUpATier(t *testing.T) {
	e := newRecEnv(t, tierValues(scale.TierLarge))
	e.pods(t, 10, scale.TierLarge)
	e.hpa(t, 3, 10, 10, 85, 60)
	e.kube.ClearActions()
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.Empty(t, e.writes(t), "Recommend reads only")
	require.NotNil(t, r.Current)
	assert.Equal(t, "large", r.Current.Short())
	assert.True(t, r.Exact)
	assert.Equal(t, "scale-out", r.Verdict)
	require.NotNil(t, r.Suggested)
	assert.Equal(t, "xl", r.Suggested.Short())
	cpu := signal(t, r, "cpu")
	assert.InDelta(t, 85, cpu.Percent, 0.01)
	assert.True(t, cpu.Above)
	assert.False(t, cpu.Sustained, "one read proves nothing about 5 minutes")
	assert.Contains(t, cpu.Source, "HPA ironflow status.currentMetrics")
	assert.False(t, signal(t, r, "memory").Above)
	assert.False(t, r.MetricsServed)
	assert.Equal(t, int32(10), r.Replicas)
	assert.Contains(t, r.String(), "verdict: scale-out -> xl tier")
	assert.Contains(t, r.String(), "not shown to be sustained")
}

func TestRecommendHPABelowMaxLetsTheHPAWork(t *testing.T) {
	e := newRecEnv(t, tierValues(scale.TierLarge))
	e.pods(t, 4, scale.TierLarge)
	e.hpa(t, 3, 10, 4, 90, 50)
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.Equal(t, "hpa-scaling", r.Verdict)
	assert.Nil(t, r.Suggested)
}

func TestRecommendBelowTriggersFits(t *testing.T) {
	e := newRecEnv(t, tierValues(scale.TierLarge))
	e.pods(t, 3, scale.TierLarge)
	e.hpa(t, 3, 10, 3, 40, 55)
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.Equal(t, "fits", r.Verdict)
	assert.Nil(t, r.Suggested)
	assert.Contains(t, r.Reasons[len(r.Reasons)-1], "no trigger fired")
}

func TestRecommendMetricsAPIServedJudgesMemoryAgainstLimits(t *testing.T) {
	// Medium tier, no HPA: 3 pods each using 300m of 500m requests and
	// 1800Mi of 2Gi limits.
	e := newRecEnv(t, tierValues(scale.TierMedium))
	e.pods(t, 3, scale.TierMedium)
	e.serveMetrics(t, 3, "300m", "1800Mi")
	e.kube.ClearActions()
	e.dyn.ClearActions()
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.Empty(t, e.writes(t))
	assert.True(t, r.MetricsServed)
	assert.Nil(t, r.HPA)
	assert.Equal(t, "medium", r.Current.Short())
	cpu, mem := signal(t, r, "cpu"), signal(t, r, "memory")
	assert.InDelta(t, 60, cpu.Percent, 0.01)
	assert.False(t, cpu.Above)
	assert.InDelta(t, 87.9, mem.Percent, 0.01)
	assert.True(t, mem.Above)
	assert.Contains(t, mem.Source, "working set / limits")
	assert.Equal(t, "scale-out", r.Verdict)
	assert.Equal(t, "large", r.Suggested.Short())
	var listed bool
	for _, a := range e.dyn.Actions() {
		listed = listed || (a.GetVerb() == "list" && a.GetResource() == recPodMetrics)
	}
	assert.True(t, listed, "pod usage comes from metrics.k8s.io through the dynamic client")
}

func TestRecommendMetricsAPINotServedNoHPA(t *testing.T) {
	e := newRecEnv(t, tierValues(scale.TierSmall))
	e.pods(t, 1, scale.TierSmall)
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.False(t, r.MetricsServed)
	assert.Empty(t, e.dyn.Actions(), "no metrics API, no request to it")
	assert.Equal(t, "fits", r.Verdict)
	assert.Contains(t, r.String(), "metrics API (metrics.k8s.io/v1beta1) not served")
	assert.Contains(t, r.String(), "no CPU or memory reading")
}

func TestRecommendSampledWindowIsSustained(t *testing.T) {
	e := newRecEnv(t, tierValues(scale.TierLarge))
	e.pods(t, 10, scale.TierLarge)
	e.hpa(t, 3, 10, 10, 85, 60)
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release, Window: 20 * time.Millisecond, Interval: 5 * time.Millisecond})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, r.Samples, 2)
	assert.True(t, signal(t, r, "cpu").Sustained)
	assert.NotContains(t, r.String(), "not shown to be sustained")
}

func TestRecommendConnections(t *testing.T) {
	vals := tierValues(scale.TierMedium)
	vals["postgresql"] = map[string]any{"enabled": true, "instances": 1, "maxConnections": 100}
	vals["database"] = map[string]any{"poolSize": 30}
	e := newRecEnv(t, vals)
	e.pods(t, 3, scale.TierMedium)

	// The budget: 3 pods x pool 30 = 90 of max_connections 100.
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	c := signal(t, r, "connections")
	assert.InDelta(t, 90, c.Percent, 0.01)
	assert.True(t, c.Above)
	assert.Contains(t, c.Source, "budget, not measured")
	assert.Equal(t, "scale-database", r.Verdict)
	assert.Contains(t, r.String(), "PgBouncer pooler")

	// The caller's measured count wins over the budget.
	r, err = e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release, Connections: 40})
	require.NoError(t, err)
	c = signal(t, r, "connections")
	assert.InDelta(t, 40, c.Percent, 0.01)
	assert.False(t, c.Above)
	assert.Contains(t, c.Source, "measured by the caller")
	assert.Equal(t, "fits", r.Verdict)
}

func TestRecommendInvalidInputBeforeAnyRequest(t *testing.T) {
	e := newRecEnv(t, tierValues(scale.TierSmall))
	e.kube.ClearActions()
	for name, r := range map[string]scale.Recommend{
		"no release":      {Namespace: ns},
		"negative window": {Namespace: ns, Release: release, Window: -time.Second},
		"interval>window": {Namespace: ns, Release: release, Window: time.Second, Interval: time.Minute},
		"negative conns":  {Namespace: ns, Release: release, Connections: -1},
		"trigger > 100":   {Namespace: ns, Release: release, CPUTrigger: 101},
		"negative budget": {Namespace: ns, Release: release, Budget: scale.ConnectionBudget{MaxConnections: -1}},
	} {
		_, err := e.client.Recommend(context.Background(), r)
		var invalid *scaling.InvalidInputError
		assert.True(t, errors.As(err, &invalid), "%s: %v", name, err)
	}
	assert.Empty(t, e.kube.Actions())
	assert.Empty(t, e.dyn.Actions())
}

// Ask which tier fits a release whose HPA runs its maximum of 10 pods at
// 85 % CPU. The cluster here serves no metrics API, so the HPA's own
// currentMetrics are the reading; one read cannot show the guide's "for 5
// min" (set Window to sample).
func ExampleClient_Recommend() {
	ctx := context.Background()
	kube := fake.NewClientset()
	releases := scalingfake.NewReleases(kube)
	if _, err := releases.Install(ctx, "prod", "ironflow", "../examples/charts/ironflow", map[string]any{
		"replicaCount": 3, "cluster": map[string]any{"enabled": true}, "postgresql": map[string]any{"enabled": false},
		"resources":   map[string]any{"requests": map[string]any{"cpu": "1", "memory": "2Gi"}, "limits": map[string]any{"cpu": "2", "memory": "4Gi"}},
		"autoscaling": map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 10},
	}); err != nil {
		fmt.Println(err)
		return
	}
	minR, cpu := int32(3), int32(85)
	_, _ = kube.AutoscalingV2().HorizontalPodAutoscalers("prod").Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "ironflow", Namespace: "prod"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &minR, MaxReplicas: 10,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "ironflow"}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 10, DesiredReplicas: 10, CurrentMetrics: []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &cpu}}}}},
	}, metav1.CreateOptions{})
	client, _ := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases})
	rec, err := client.Recommend(ctx, scale.Recommend{Namespace: "prod", Release: "ironflow"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec)
	// A move to the suggested tier is a Template plan.
	plan, err := client.PlanTemplate(ctx, scale.Template{Namespace: "prod", Release: "ironflow", To: rec.Suggested.Preset,
		Chart: scaling.ChartSource{Ref: "../examples/charts/ironflow"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(plan.Summary)
	// Output:
	// release prod/ironflow (Deployment/ironflow): 0 ready pod(s)
	// tier: large
	// hpa: ironflow 10/3-10 pods, cpu 85%
	// verdict: scale-out -> xl tier
	// - database: the release renders no CloudNativePG Cluster and no connection numbers were given: not judged
	// - cpu 85.0% above the 70% trigger (HPA ironflow status.currentMetrics (of requests)); seen at one read, not shown to be sustained for 5 min
	// - pods' usage: the metrics API (metrics.k8s.io/v1beta1) not served
	// - HPA ironflow is at its maximum of 10 pods
	// - cpu over the trigger: move to the xl tier (100,000 - 1,000,000 users)
	// Move release prod/ironflow to the tier-xl template.
}

func TestRecommendPoolerRefusingClientsIsADatabaseFinding(t *testing.T) {
	// Behind a Pooler with 2 instances x max_client_conn 40 = 80 clients,
	// 3 pods x pool 30 = 90: PgBouncer refuses 10 of them, while the server
	// side (2 x 20 = 40 of 100) is fine. Raising max_connections would not
	// help; the finding says what does.
	vals := tierValues(scale.TierMedium)
	vals["postgresql"] = map[string]any{"enabled": true, "instances": 1, "maxConnections": 100,
		"pooler": map[string]any{"enabled": true, "instances": 2, "maxClientConn": "40"}}
	vals["database"] = map[string]any{"poolSize": 30}
	e := newRecEnv(t, vals)
	e.pods(t, 3, scale.TierMedium)
	e.kube.ClearActions()
	e.dyn.ClearActions()
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.False(t, signal(t, r, "connections").Above, "the server side fits")
	p := signal(t, r, "pooler-clients")
	assert.True(t, p.Above, r.String())
	assert.InDelta(t, 112.5, p.Percent, 0.01)
	assert.Contains(t, p.Source, "open 90 clients")
	assert.Contains(t, p.Source, "accepts 80")
	assert.Contains(t, p.Source, "raise max_client_conn or the Pooler's instances")
	assert.Equal(t, "scale-database", r.Verdict, r.String())
	assert.Empty(t, e.writes(t))

	// With room for them, the pooler is no finding.
	vals["postgresql"].(map[string]any)["pooler"].(map[string]any)["maxClientConn"] = "1000"
	e = newRecEnv(t, vals)
	e.pods(t, 3, scale.TierMedium)
	r, err = e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.False(t, signal(t, r, "pooler-clients").Above)
	assert.Equal(t, "fits", r.Verdict, r.String())
}

func TestRecommendSaysWhenItCannotReadThePooler(t *testing.T) {
	vals := tierValues(scale.TierMedium)
	vals["postgresql"] = map[string]any{"enabled": true, "instances": 1, "maxConnections": 100,
		"pooler": map[string]any{"enabled": true, "instances": 2, "maxClientConn": "lots"}}
	vals["database"] = map[string]any{"poolSize": 10}
	e := newRecEnv(t, vals)
	e.pods(t, 3, scale.TierMedium)
	r, err := e.client.Recommend(context.Background(), scale.Recommend{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.Contains(t, r.String(), "its budget is not judged, the pods' pools are counted against the server")
	assert.Contains(t, signal(t, r, "connections").Source, "(3 replicas + 0 surge) x pool 10", "counted as without a pooler")
}
