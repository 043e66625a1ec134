package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/postgres"
)

// underRole is a client of e's cluster whose requests are made as a user
// holding exactly perms, recorded by rec.
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
	client, err := postgres.New(cluster, postgres.Options{})
	require.NoError(t, err)
	return client, rec
}

// TestEveryOperationRunsUnderTheDocumentedRole: each operation, Plan,
// Apply and Verify, by a user holding exactly postgres.Permissions(). A
// missing rule is a forbidden request; a rule no request used fails too.
func TestEveryOperationRunsUnderTheDocumentedRole(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 3, pooler: true})
	client, rec := e.underRole(t, postgres.Permissions())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	plantest.Done(t, ctx, client, "Switchover with the pooler paused", func() (*scaling.Plan, error) {
		return client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, PausePooler: true})
	})
	t.Logf("observed:\n%s", rbactest.Observed(rec.Requests()))
	rbactest.Check(t, postgres.Permissions(), rec.Requests())
}
