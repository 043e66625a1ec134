package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/postgres"
)

const poolerName = pgCluster + "-pooler-rw"

// rollOut plays the Deployment controller (and, for the pooler, the
// operator creating it): the Deployment runs n updated, Ready pods.
func (e *releaseEnv) rollOut(t *testing.T, name string, n int32) {
	t.Helper()
	ctx := context.Background()
	deps := e.kube.AppsV1().Deployments(relNS)
	d, err := deps.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		d, err = deps.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: relNS, Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(n)}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	d.Spec.Replicas = ptr.To(n)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	_, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// TestPoolerBudgetBlocksWithTheRecommendation: 6 PgBouncer instances of
// 20 server connections, plus the 2 its rollout surges, against
// max_connections 100: blocked, with the numbers and the max_connections
// that would hold them.
func TestPoolerBudgetBlocksWithTheRecommendation(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, true), true)
	ctx := t.Context()
	plan, err := e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Instances: 6})
	require.NoError(t, err)
	g := guardOf(t, plan, postgres.GuardPoolerBudget)
	require.Equal(t, scaling.Block, g.Outcome, g.Reason)
	_, err = e.client.Apply(ctx, plantest.Edited(t, plan, func(map[string]any) {}))
	var budget *postgres.PoolerBudgetError
	require.ErrorAs(t, err, &budget)
	assert.ErrorIs(t, err, postgres.ErrPoolerBudget)
	assert.Equal(t, postgres.PoolerBudgetError{Pooler: poolerName, Instances: 6, Surge: 2, DefaultPoolSize: 20, Pairs: 1, Peak: 160, MaxConnections: 100, Reserved: 3,
		Usable: 97, Source: "CNPG Cluster " + pgCluster, Recommended: 163, Clients: 40, ClientLimit: 6000}, *budget)
	assert.Contains(t, budget.Error(), "max_connections must be at least 163")
	assert.Equal(t, 1, e.revision(t))
	assert.Empty(t, e.writes())

	// The caller's max_connections (a server configured outside the chart).
	plan, err = e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Instances: 6, MaxConnections: 200})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
}

// TestPoolerResizeVerified: 2 -> 3 instances and a new pool size: one
// upgrade; Verify waits for the Pooler's Deployment and the app's DB_HOST.
func TestPoolerResizeVerified(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, true), true)
	ctx := t.Context()
	e.rollOut(t, poolerName, 2)
	e.rollOut(t, relName, 3)
	e.clearActions()
	plan, err := e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Instances: 3, DefaultPoolSize: 22})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Contains(t, guardOf(t, plan, postgres.GuardPoolerBudget).Reason, "(3 instances + 1 surge) x (default_pool_size 22 + reserve 0)")
	fields := map[string]scaling.Step{}
	for _, s := range plan.Steps {
		fields[s.Field] = s
	}
	assert.Equal(t, "3", fields["postgresql.pooler.instances"].After)
	assert.Equal(t, "22", fields["postgresql.pooler.defaultPoolSize"].After)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	v, err := e.client.Verify(short, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Contains(t, v.Reason, "pooler-deployment")

	go func() { time.Sleep(100 * time.Millisecond); e.rollOut(t, poolerName, 3) }()
	v, err = e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	var host scaling.Check
	for _, c := range v.Checks {
		if c.Name == "app-db-host "+relName {
			host = c
		}
	}
	assert.Equal(t, poolerName, host.Observed)

	plan, err = e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Instances: 3, DefaultPoolSize: 22})
	require.NoError(t, err)
	assert.True(t, plan.NoOp, "the pooler is as asked: %s", plan)
}

// TestEnablingThePoolerRoutesTheApp: the app's DB_HOST moves to the
// pooler, which rolls the app: a warning and a step say so.
func TestEnablingThePoolerRoutesTheApp(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanConfigurePooler(t.Context(), postgres.ConfigurePooler{Namespace: relNS, Release: relName})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, scaling.Warn, guardOf(t, plan, postgres.GuardAppRollout).Outcome)
	var route scaling.Step
	for _, s := range plan.Steps {
		if s.Action == postgres.ActionRoute {
			route = s
		}
	}
	assert.Equal(t, pgCluster+"-rw", route.Before)
	assert.Equal(t, poolerName, route.After)
	assert.Equal(t, scaling.Pass, guardOf(t, plan, scaling.GuardBlastRadius).Outcome)
}
