package scale_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// teamQuota creates a ResourceQuota and waits for kube-controller-manager
// to count the release's pods in its status.used, which the guard reads.
func (e *realEnv) teamQuota(t *testing.T, ctx context.Context, hard corev1.ResourceList, usedCPU string) {
	t.Helper()
	_, err := e.cluster.Kube.CoreV1().ResourceQuotas(e.ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: corev1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		q, err := e.cluster.Kube.CoreV1().ResourceQuotas(e.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			return false
		}
		used := q.Status.Used[corev1.ResourceRequestsCPU]
		return used.String() == usedCPU
	}, time.Minute, 20*time.Millisecond)
	e.rec.Reset()
}

func (e *realEnv) appPods(t *testing.T, ctx context.Context) []corev1.Pod {
	t.Helper()
	pods, err := e.cluster.Kube.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=ironflow"})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// TestE2EResourcesRunbookRaiseVerified is the runbook's vertical scaling on
// a release with a namespace quota: requests cpu 100m -> 500m and memory
// 128Mi -> 1Gi. Asked alone, the memory request is above the chart's 256Mi
// limit, which the API server would refuse halfway through the upgrade:
// blocked, nothing written. With the limit raised too, it plans clean,
// applies, and Verify sees every pod Ready with the new resources.
func TestE2EResourcesRunbookRaiseVerified(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.teamQuota(t, ctx, resList("requests.cpu", "4", "requests.memory", "8Gi", "limits.memory", "8Gi", "pods", "10"), "300m")

	req := scale.Resources{Namespace: e.ns, Release: release, Requests: resList("cpu", "500m", "memory", "1Gi")}
	plan, err := e.client.PlanResources(ctx, req)
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	assert.Equal(t, scale.GuardLimitsBelowRequests, blocked[0].Name)
	_, err = e.client.Apply(ctx, plan)
	var inverted *scale.LimitsBelowRequestsError
	require.ErrorAs(t, err, &inverted)
	assert.Equal(t, []scale.LimitInversion{{Container: "ironflow", Resource: "memory", Request: "1Gi", Limit: "256Mi"}}, inverted.Inversions)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")

	req.Limits = resList("memory", "1Gi")
	plan, err = e.client.PlanResources(ctx, req)
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	for _, g := range plan.Guards {
		if g.Name == scale.GuardQuota {
			assert.Equal(t, scaling.Pass, g.Outcome)
			assert.Contains(t, g.Reason, "(3 replicas + 1 surge) fits in the 1 ResourceQuota(s)")
		}
		if g.Name == scale.GuardCapacity {
			assert.Equal(t, scaling.Pass, g.Outcome, "the environment's nodes are listed: %s", g.Reason)
		}
	}
	// Stored and decoded, as an approval queue would.
	raw, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(raw)
	require.NoError(t, err)
	v := e.applyAndVerify(t, ctx, stored)
	for name, want := range map[string]string{
		"pods-ready":         "3 Ready of 3",
		"pods-resources":     "3 of 3 pods",
		"old-pods-gone":      "0",
		"template-resources": "ironflow requests cpu=500m memory=1Gi; limits cpu=500m memory=1Gi",
	} {
		c, ok := v.Check(name)
		require.True(t, ok, name)
		assert.Equal(t, want, c.Observed, name)
		assert.True(t, c.Passed, name)
	}

	// The cluster agrees with Verify.
	pods := e.appPods(t, ctx)
	require.Len(t, pods, 3)
	for _, p := range pods {
		got := p.Spec.Containers[0].Resources
		assert.Equal(t, "500m", got.Requests.Cpu().String(), p.Name)
		assert.Equal(t, "1Gi", got.Requests.Memory().String(), p.Name)
		assert.Equal(t, "500m", got.Limits.Cpu().String(), p.Name)
		assert.Equal(t, "1Gi", got.Limits.Memory().String(), p.Name)
	}
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Revision)
	assert.EqualValues(t, 3, rel.Values["replicaCount"], "the other values are kept")

	e.rec.Reset()
	again, err := e.client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.False(t, again.Changed, again.Reason)
	assert.Empty(t, e.rec.Mutating(), "re-applying writes nothing")
}

// TestE2EResourcesAboveTheQuotaBlockedWithoutWrites: the same raise in a
// namespace whose quota holds today's pods but not the rollout's peak (3
// new pods of 500m and one old one of 100m, maxSurge 25% of 3): blocked
// with the numbers, also from a stored plan, and nothing written.
func TestE2EResourcesAboveTheQuotaBlockedWithoutWrites(t *testing.T) {
	e := newRealEnv(t, appOnly(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.teamQuota(t, ctx, resList("requests.cpu", "1", "requests.memory", "8Gi"), "300m")

	plan, err := e.client.PlanResources(ctx, scale.Resources{Namespace: e.ns, Release: release,
		Requests: resList("cpu", "500m", "memory", "1Gi"), Limits: resList("memory", "1Gi")})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	assert.Equal(t, scale.GuardQuota, blocked[0].Name)
	assert.Contains(t, blocked[0].Reason, "team requests.cpu: the peak of 4 pods adds 1300m, 700m left (hard 1, used 300m)")

	raw, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(raw)
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, stored)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var q *scale.QuotaError
	require.ErrorAs(t, err, &q)
	assert.ErrorIs(t, err, scale.ErrQuota)
	assert.Equal(t, []scale.QuotaShortfall{{Quota: "team", Resource: "requests.cpu", Pods: 4, Need: "1300m", Left: "700m", Hard: "1", Used: "300m"}}, q.Short)
	assert.Equal(t, int32(1), q.Rollout.Surge)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")

	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Revision)
	for _, p := range e.appPods(t, ctx) {
		assert.Equal(t, "100m", p.Spec.Containers[0].Resources.Requests.Cpu().String(), "the pods keep their resources")
	}
}
