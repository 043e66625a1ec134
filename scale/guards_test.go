package scale_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func guard(t *testing.T, p *scaling.Plan, name string) scaling.GuardResult {
	t.Helper()
	for _, g := range p.Guards {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("plan has no %s guard: %v", name, p.Guards)
	return scaling.GuardResult{}
}

func TestQuotaGuard(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "team", Namespace: ns},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("1")}},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("1")},
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3"), corev1.ResourceRequestsCPU: resource.MustParse("300m")},
		},
	}
	_, err := e.kube.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()

	// Default requests are 100m per pod: 2 more pods need 200m of the 700m left.
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guard(t, plan, "quota").Outcome, guard(t, plan, "quota").Reason)

	// 8 more pods need 800m: blocked, naming the resource and the numbers.
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 11})
	require.NoError(t, err)
	g := guard(t, plan, "quota")
	require.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "team requests.cpu: 8 more pods need 800m, 700m left (hard 1, used 300m)")
	assert.Contains(t, g.Reason, "team pods: 8 more pods need 8, 7 left")
	_, err = e.client.Apply(ctx, plan)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Equal(t, 1, e.last(t).Revision)
	assert.Empty(t, e.mutatingActions())

	// Scaling down needs nothing of the quota.
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 2})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guard(t, plan, "quota").Outcome)
}

func withPostgres(replicas, pool, maxConn int, pooler bool) map[string]any {
	v := clustered(replicas)
	v["database"] = map[string]any{"poolSize": pool}
	v["postgresql"] = map[string]any{"enabled": true, "instances": 2, "maxConnections": maxConn, "pooler": map[string]any{"enabled": pooler}}
	return v
}

func TestConnectionBudgetGuard(t *testing.T) {
	ctx := context.Background()
	// 3 -> 5 replicas with a pool of 20 against max_connections 100: the
	// peak during the rollout is (5 + 2 surge) x 20 = 140 > 97.
	e := newFakeEnv(t, withPostgres(3, 20, 100, false))
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	g := guard(t, plan, "connection-budget")
	require.Equal(t, scaling.Block, g.Outcome)
	assert.Equal(t, "(5 replicas + 2 surge) x pool 20 + 0 others = 140 connections; max_connections 100 (CNPG Cluster ironflow-pg) - 3 reserved = 97", g.Reason)
	assert.Contains(t, g.Remedy, "pooler")

	// The caller's own max_connections wins over the Cluster's.
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5, Budget: scale.ConnectionBudget{MaxConnections: 500, Others: 10}})
	require.NoError(t, err)
	g = guard(t, plan, "connection-budget")
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	assert.Contains(t, g.Reason, "+ 10 others = 150 connections; max_connections 500 (stated by the caller)")

	// A PgBouncer pooler in front passes.
	e = newFakeEnv(t, withPostgres(3, 20, 100, true))
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	g = guard(t, plan, "connection-budget")
	assert.Equal(t, scaling.Pass, g.Outcome)
	assert.Contains(t, g.Reason, "Pooler ironflow-pg-pooler-rw: (2 instances + 0 surge) x (default_pool_size 20 + reserve 0) x 1 user/db pairs + 0 others = 40 server connections; max_connections 100 - 3 reserved = 97")
	assert.Contains(t, g.Reason, "clients (5 replicas + 2 surge) x pool 20 = 140, PgBouncer accepts 2 instances x max_client_conn 1000 = 2000")

	// A pooler is not a pass by itself: 6 PgBouncer instances of 20 server
	// connections each hold more than max_connections leaves (the guard
	// used to pass any release with a pooler).
	v := withPostgres(3, 20, 100, true)
	v["postgresql"].(map[string]any)["pooler"].(map[string]any)["instances"] = 6
	e = newFakeEnv(t, v)
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	g = guard(t, plan, "connection-budget")
	require.Equal(t, scaling.Block, g.Outcome, g.Reason)
	budget, ok := g.Cause.(*scale.ConnectionBudgetError)
	require.True(t, ok)
	assert.Equal(t, "ironflow-pg-pooler-rw", budget.Pooler)
	assert.Equal(t, int64(120), budget.Peak, "6 x 20")
	assert.Equal(t, int64(123), budget.Recommended)
	assert.Contains(t, g.Remedy, "default_pool_size")
	_, err = e.client.Apply(ctx, plan)
	assert.ErrorIs(t, err, scale.ErrConnectionBudget)
	assert.Empty(t, e.mutatingActions())

	_, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5, Budget: scale.ConnectionBudget{MaxConnections: 3, Reserved: 3}})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	_, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5, Budget: scale.ConnectionBudget{Cluster: "pg"}})
	assert.ErrorIs(t, err, scaling.ErrNotFound, "a fake clientset cannot read the Cluster: said, not guessed")
}

// TestBlockedPlanCausesSurviveStorage: a blocked plan, stored as JSON and
// decoded, is refused with the guard's typed error and its numbers, for
// errors.As; nothing is written.
func TestBlockedPlanCausesSurviveStorage(t *testing.T) {
	e := newFakeEnv(t, map[string]any{"replicaCount": 1})
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	raw, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(raw)
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, stored)
	var clustering *scale.ClusteringError
	require.ErrorAs(t, err, &clustering)
	assert.Equal(t, scale.ClusteringError{Replicas: 3, Path: "cluster.enabled"}, *clustering)
	assert.ErrorIs(t, err, scale.ErrClustering)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var blocked *scaling.GuardBlockedError
	require.ErrorAs(t, err, &blocked)
	_, named := blocked.Guard(scale.GuardClustering)
	assert.True(t, named)
	assert.Empty(t, e.mutatingActions())
}

// TestConnectionBudgetCountsTheHPAMaximum: when an HPA owns the workload's
// count, the budget counts its maxReplicas (the most pods it may run,
// each with its pool), not the count asked for.
func TestConnectionBudgetCountsTheHPAMaximum(t *testing.T) {
	ctx := context.Background()
	e := newFakeEnv(t, withPostgres(3, 10, 100, false))
	minR := int32(2)
	_, err := e.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: release, APIVersion: "apps/v1"},
			MinReplicas: &minR, MaxReplicas: 8},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 4})
	require.NoError(t, err)
	g := guard(t, plan, "connection-budget")
	require.Equal(t, scaling.Block, g.Outcome, g.Reason)
	assert.Contains(t, g.Reason, "(8 replicas + 2 surge) x pool 10 + 0 others = 100 connections", "4 replicas would fit; the HPA may run 8")
	assert.Contains(t, g.Reason, "replicas: HPA web maxReplicas, 8")
	var budget *scale.ConnectionBudgetError
	require.ErrorAs(t, g.Cause, &budget)
	assert.Equal(t, int32(8), budget.Replicas)
	assert.Equal(t, int64(103), budget.Recommended)
}
