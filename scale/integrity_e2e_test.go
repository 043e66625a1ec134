package scale_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// revision is the release's newest revision on the real API server.
func (e *realEnv) revision(t *testing.T) int {
	t.Helper()
	rel, err := e.releases.Last(context.Background(), e.ns, release)
	require.NoError(t, err)
	return rel.Revision
}

// TestE2EEditedPlansAreRefusedWithZeroWrites: the edited-plan cases of the
// fake tests, against real Helm storage on the real API server, where the
// recorder counts every request: each ends in a typed refusal and not one
// mutating request is sent.
func TestE2EEditedPlansAreRefusedWithZeroWrites(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking())
	blocked, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 100000})
	require.NoError(t, err)
	require.NotEmpty(t, blocked.Blocking(), "more pods than the nodes hold")

	for name, c := range map[string]struct {
		plan *scaling.Plan
		edit func(m map[string]any)
		want error
	}{
		"spec replicas 5 -> 50": {plan, func(m map[string]any) { request(m)["replicas"] = 50 }, scaling.ErrPlanMismatch},
		"spec values inject an image": {plan, func(m map[string]any) {
			spec(m)["values"].(map[string]any)["image"] = map[string]any{"repository": "evil.example/backdoor", "tag": "latest"}
		}, scaling.ErrPlanMismatch},
		"steps say 50":        {plan, func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["after"] = "50" }, scaling.ErrPlanMismatch},
		"steps null":          {plan, func(m map[string]any) { m["steps"] = nil }, scaling.ErrPlanMismatch},
		"fingerprint emptied": {plan, func(m map[string]any) { m["fingerprint"] = map[string]any{} }, scaling.ErrInvalidPlan},
		"request replicas -1": {plan, func(m map[string]any) { request(m)["replicas"] = -1 }, scaling.ErrInvalidInput},
		"chart source edited": {plan, func(m map[string]any) {
			request(m)["chart"].(map[string]any)["ref"] = "oci://10.255.255.1/charts/ironflow"
		}, scaling.ErrPlanMismatch},
		"retargeted to another namespace": {plan, func(m map[string]any) { request(m)["namespace"] = "kube-system" }, scaling.ErrNotFound},
		"blocked plan, guards edited to pass": {blocked, func(m map[string]any) {
			for _, g := range m["guards"].([]any) {
				g.(map[string]any)["outcome"] = "pass"
			}
			delete(spec(m), "causes")
		}, scaling.ErrGuardBlocked},
	} {
		t.Run(name, func(t *testing.T) {
			e.rec.Reset()
			_, err := e.client.Apply(ctx, stored(t, c.plan, c.edit))
			require.ErrorIs(t, err, c.want)
			assert.Empty(t, e.rec.Mutating(), "not one mutating request")
			assert.Equal(t, 1, e.revision(t))
		})
	}
	e.rec.Reset()
	applied, err := e.client.Apply(ctx, stored(t, plan, func(map[string]any) {}))
	require.NoError(t, err, "the plan as approved still applies")
	assert.True(t, applied.Changed)
	assert.Equal(t, 2, e.revision(t))
}

// TestE2EAnHPACreatedAfterPlanningBlocksApply: an HPA [2, 3] outside the
// release created between Plan and Apply. Before Apply re-evaluated the
// guards it wrote, Verify said Succeeded and the HPA undid the count 30 s
// later; now Apply is refused with the HPA's numbers and writes nothing.
func TestE2EAnHPACreatedAfterPlanningBlocksApply(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := e.applyAfter(t, ctx, func() {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: release},
				MinReplicas:    ptr[int32](2), MaxReplicas: 3,
			},
		}
		_, err := e.cluster.Kube.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Create(ctx, hpa, metav1.CreateOptions{})
		require.NoError(t, err)
	})
	var owned *scale.HPAError
	require.ErrorAs(t, err, &owned)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Equal(t, scale.HPAError{HPA: "someone-elses", Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: e.ns, Name: release}, Min: 2, Max: 3, Replicas: 5}, *owned)
}

// applyAfter plans 3 -> 5, lets change alter the cluster, and applies the
// stored plan; it checks that the refusal wrote nothing, and returns it.
func (e *realEnv) applyAfter(t *testing.T, ctx context.Context, change func()) error {
	t.Helper()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking())
	change()
	e.rec.Reset()
	_, err = e.client.Apply(ctx, stored(t, plan, func(map[string]any) {}))
	require.Error(t, err)
	assert.Empty(t, e.rec.Mutating(), "refused before the first write")
	assert.Equal(t, 1, e.revision(t))
	return err
}

// TestE2EAQuotaCreatedAfterPlanningBlocksApply: a ResourceQuota pods: 4
// created after a 3 -> 5 plan. Apply used to write, the quota stopped the
// rollout at 4 pods and Verify timed out.
func TestE2EAQuotaCreatedAfterPlanningBlocksApply(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := e.applyAfter(t, ctx, func() {
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "team"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}}}
		_, err := e.cluster.Kube.CoreV1().ResourceQuotas(e.ns).Create(ctx, q, metav1.CreateOptions{})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			got, err := e.cluster.Kube.CoreV1().ResourceQuotas(e.ns).Get(ctx, "team", metav1.GetOptions{})
			return err == nil && got.Status.Used.Pods().Value() == 3
		}, time.Minute, 20*time.Millisecond)
	})
	var quota *scale.QuotaError
	require.ErrorAs(t, err, &quota)
	assert.Equal(t, []scale.QuotaShortfall{{Quota: "team", Resource: "pods", Pods: 2, Need: "2", Left: "1", Hard: "4", Used: "3"}}, quota.Short)
}

// TestE2ETwentyConcurrentAppliesOfOneStoredPlan: twenty tools apply the
// same stored plan at once, each with its own client (its own Helm
// storage client, as twenty processes would). One upgrades; every other
// either finds the target holding (Changed false) or loses the race with a
// typed stale-plan or pending-release error. Before, 14 failed with an
// untyped "release: already exists" and one with an untyped "another
// operation is in progress".
func TestE2ETwentyConcurrentAppliesOfOneStoredPlan(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)

	const n = 20
	clients := make([]*scale.Client, n)
	for i := range clients {
		cluster, err := scaling.NewCluster(testenv.Shared().RESTConfig())
		require.NoError(t, err)
		clients[i], err = scale.New(cluster, scale.Options{Releases: helmrelease.New(testenv.Shared().RESTConfig(), cluster.Kube), Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}})
		require.NoError(t, err)
	}
	type outcome struct {
		applied *scaling.Applied
		err     error
	}
	results := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			a, err := clients[i].Apply(ctx, stored(t, plan, func(map[string]any) {}))
			results[i] = outcome{a, err}
		})
	}
	close(start)
	wg.Wait()

	changed, holds, lost := 0, 0, 0
	for i, r := range results {
		switch {
		case r.err == nil && r.applied.Changed:
			changed++
		case r.err == nil:
			holds++
		case errors.Is(r.err, scaling.ErrStalePlan), errors.Is(r.err, scaling.ErrReleasePending):
			lost++
		default:
			t.Errorf("apply %d: an untyped failure: %v", i, r.err)
		}
	}
	t.Logf("%d applies: %d upgraded, %d found the target holding, %d lost the race (typed)", n, changed, holds, lost)
	assert.Equal(t, 1, changed, "exactly one apply upgraded (holding %d, lost %d)", holds, lost)
	assert.Equal(t, n, changed+holds+lost)
	assert.Equal(t, 2, e.revision(t), "one revision was added")
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
}
