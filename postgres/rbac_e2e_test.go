package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/postgres"
)

// underRole is a client of e's cluster whose requests are made as a user
// holding exactly perms, recorded by rec. Its release operations write
// with real Helm as that user.
func (e *pgEnv) underRole(t *testing.T, perms scaling.Permissions) (*postgres.Client, *reqcount.Recorder) {
	t.Helper()
	env := testenv.Shared()
	user := "postgres-operator-" + e.ns
	rbactest.Grant(t, env.Client, user, perms, e.ns)
	rec := &reqcount.Recorder{}
	cfg := rbactest.As(e.op.WrapConfig(env.RESTConfig()), user)
	cfg.Wrap(rec.Wrap)
	cluster, err := scaling.NewCluster(cfg)
	require.NoError(t, err)
	client, err := postgres.New(cluster, postgres.Options{Releases: helmrelease.New(cfg, cluster.Kube), Chart: ironflowChart})
	require.NoError(t, err)
	return client, rec
}

// TestEveryOperationRunsUnderTheDocumentedRole: each operation, Plan,
// Apply and Verify, by a user holding exactly postgres.Permissions():
// Switchover with the pooler paused, ExpandStorage in place, ScaleInstances
// up and down and ConfigurePooler resizing a pooler, on one release, and
// ConfigurePooler enabling one on a release without. A missing rule is a
// forbidden request; a rule no request used fails too. (Parameters needs
// Options.Settings backed by real PostgreSQL; it is not run here yet.)
func TestEveryOperationRunsUnderTheDocumentedRole(t *testing.T) {
	perms := postgres.Permissions()
	var reqs []reqcount.Request
	t.Run("with a pooler", func(t *testing.T) {
		e := newPGEnv(t, pgFixture{instances: 3, pooler: true})
		client, rec := e.underRole(t, perms)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		plantest.Done(t, ctx, client, "Switchover with the pooler paused", func() (*scaling.Plan, error) {
			return client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, PausePooler: true})
		})
		plantest.Done(t, ctx, client, "ExpandStorage 10Gi -> 20Gi", func() (*scaling.Plan, error) {
			return client.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
		})
		plantest.Done(t, ctx, client, "ScaleInstances 3 -> 4", func() (*scaling.Plan, error) {
			return client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: e.ns, Release: release, Instances: 4})
		})
		plantest.Done(t, ctx, client, "ScaleInstances 4 -> 3", func() (*scaling.Plan, error) {
			return client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: e.ns, Release: release, Instances: 3})
		})
		plantest.Done(t, ctx, client, "ConfigurePooler 1 -> 2 instances", func() (*scaling.Plan, error) {
			return client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: e.ns, Release: release, Instances: 2})
		})
		reqs = append(reqs, rec.Requests()...)
	})
	t.Run("enabling a pooler", func(t *testing.T) {
		e := newPGEnv(t, pgFixture{instances: 2})
		client, rec := e.underRole(t, perms)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		plantest.Done(t, ctx, client, "ConfigurePooler enabled", func() (*scaling.Plan, error) {
			return client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: e.ns, Release: release})
		})
		reqs = append(reqs, rec.Requests()...)
	})
	t.Logf("observed:\n%s", rbactest.Observed(reqs))
	if t.Failed() {
		return // the rules are judged on a complete run only
	}
	rbactest.Check(t, postgres.Permissions(), reqs)
}
