package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/postgres"
)

// TestMain starts the real control plane, with CloudNativePG's CRDs, once
// for the package; the unit tests share the binary and ignore it.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{CNPG: true}))
}

const release = "ironflow"

// pgEnv is a release of the reference chart with PostgreSQL (a CNPG
// Cluster and, when asked, its Pooler) installed with real Helm on the real
// control plane, the operator double running it over a backend, and a
// postgres client whose every request is recorded.
type pgEnv struct {
	ns, cluster, pooler string
	op                  *testenv.Operator
	rec                 *reqcount.Recorder
	sc                  *scaling.Cluster
	dyn                 dynamic.Interface
	releases            *helmrelease.Client
	client              *postgres.Client
}

type pgFixture struct {
	instances int
	pooler    bool
	backend   testenv.Backend
	refuse    func(string) bool
	progress  scaling.Progress
	// values are set over the install's values, by dotted path
	// ("postgresql.persistence.storageClass").
	values map[string]any
}

func newPGEnv(t testing.TB, f pgFixture) *pgEnv {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	e := &pgEnv{ns: env.Namespace(t), rec: &reqcount.Recorder{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	e.op, err = env.StartOperator(ctx, testenv.OperatorOptions{Namespace: e.ns, Backend: f.backend, Refuse: f.refuse})
	require.NoError(t, err)
	t.Cleanup(func() {
		e.op.Stop()
		assert.Empty(t, e.op.Errors(), "the operator double's reconciles failed")
	})
	cfg := e.op.WrapConfig(env.RESTConfig())
	cfg.Wrap(e.rec.Wrap)
	e.sc, err = scaling.NewCluster(cfg)
	require.NoError(t, err)
	e.dyn = e.sc.Dynamic
	e.releases = helmrelease.New(cfg, e.sc.Kube)
	vals := map[string]any{
		"replicaCount": 1,
		"nats":         map[string]any{"enabled": false},
		"postgresql": map[string]any{"enabled": true, "instances": f.instances,
			"pooler": map[string]any{"enabled": f.pooler, "instances": 1}},
	}
	for path, v := range f.values {
		require.NoError(t, values.Set(vals, path, v))
	}
	_, err = e.releases.Install(ctx, e.ns, release, testenv.ChartPath("ironflow"), vals, 2*time.Minute)
	require.NoError(t, err)
	list, err := e.dyn.Resource(testenv.ClustersGVR).Namespace(e.ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1, "the chart renders one CNPG Cluster")
	e.cluster = list.Items[0].GetName()
	if f.pooler {
		e.pooler = e.cluster + "-pooler-rw"
	}
	e.waitHealthy(t, ctx, f.instances)
	e.client, err = postgres.New(e.sc, postgres.Options{Progress: f.progress})
	require.NoError(t, err)
	e.rec.Reset()
	return e
}

// status reads the Cluster's status.
func (e *pgEnv) status(t testing.TB, ctx context.Context) map[string]any {
	t.Helper()
	u, err := e.dyn.Resource(testenv.ClustersGVR).Namespace(e.ns).Get(ctx, e.cluster, metav1.GetOptions{})
	require.NoError(t, err)
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	return st
}

// waitHealthy waits (a watch) until the double reports n ready instances
// in the healthy phase.
func (e *pgEnv) waitHealthy(t testing.TB, ctx context.Context, n int) {
	t.Helper()
	require.NoError(t, testenv.WaitClusterHealthy(ctx, e.dyn, e.ns, e.cluster, n))
}

func instance(e *pgEnv, n int) string { return fmt.Sprintf("%s-%d", e.cluster, n) }

func TestSwitchoverPromotesTheLeastLaggingReplica(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 3, backend: mem})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, behind, ahead := instance(e, 1), instance(e, 2), instance(e, 3)
	mem.Lag(e.ns, behind, true)
	mem.Write(e.ns, primary, 1<<20)

	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	t.Logf("requests for one plan: %d\n%s", e.rec.Total(), e.rec.Summary())
	require.Empty(t, plan.Blocking(), plan.String())
	require.Len(t, plan.Steps, 1)
	assert.Equal(t, primary, plan.Steps[0].Before)
	assert.Equal(t, ahead, plan.Steps[0].After, "the replica whose replay is paused is not the pick")
	g, ok := plan.Guard(postgres.GuardPooler)
	require.True(t, ok)
	assert.Equal(t, scaling.Warn, g.Outcome, "no pooler fronts this cluster")

	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	for _, name := range []string{"current-primary", "primary-pod", "rw-endpoints", "phase"} {
		c, ok := v.Check(name)
		require.True(t, ok, name)
		assert.True(t, c.Passed, c.Name)
	}
	assert.Equal(t, ahead, e.status(t, ctx)["currentPrimary"])
	assert.Equal(t, 1, mem.Switchovers)

	// Applying the same plan again writes nothing: the primary moved, so
	// it is stale, not a second switchover.
	e.rec.Reset()
	_, err = e.client.Apply(ctx, plan)
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale)
	assert.Empty(t, e.rec.Mutating())
	assert.Equal(t, 1, mem.Switchovers)
}

func TestSwitchoverRefusesUnsafeMovesWithoutWriting(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 3, backend: mem})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, lagging := instance(e, 1), instance(e, 2)
	mem.Lag(e.ns, lagging, true)
	mem.Write(e.ns, primary, 64<<20)

	cases := []struct {
		name string
		req  postgres.Switchover
		want error
	}{
		{"lagging target", postgres.Switchover{Target: lagging}, postgres.ErrLag},
		{"the primary itself", postgres.Switchover{Target: primary}, postgres.ErrTarget},
		{"another cluster's pod", postgres.Switchover{Target: "other-1"}, postgres.ErrTarget},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Namespace, tc.req.Cluster = e.ns, e.cluster
			plan, err := e.client.PlanSwitchover(ctx, tc.req)
			require.NoError(t, err)
			require.NotEmpty(t, plan.Blocking())
			e.rec.Reset()
			_, err = e.client.Apply(ctx, plan)
			var blocked *scaling.GuardBlockedError
			require.ErrorAs(t, err, &blocked)
			assert.ErrorIs(t, err, tc.want)
			assert.Empty(t, e.rec.Mutating(), "a blocked plan writes nothing")
		})
	}
	var lag *postgres.LagError
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, Target: lagging})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.ErrorAs(t, err, &lag)
	assert.Equal(t, int64(64<<20), lag.LagBytes)

	// Bad input: typed, before any request.
	e.rec.Reset()
	_, err = e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns})
	var invalid *scaling.InvalidInputError
	require.ErrorAs(t, err, &invalid)
	assert.Zero(t, e.rec.Total())
	assert.Equal(t, primary, e.status(t, ctx)["currentPrimary"])
	assert.Zero(t, mem.Switchovers)
}

func TestSwitchoverOfASingleInstanceClusterIsRefused(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster})
	require.NoError(t, err)
	e.rec.Reset()
	_, err = e.client.Apply(ctx, plan)
	var single *postgres.SingleInstanceError
	require.ErrorAs(t, err, &single)
	assert.Equal(t, instance(e, 1), single.Primary)
	assert.Contains(t, err.Error(), "failover is not available")
	assert.Empty(t, e.rec.Mutating())
}

func TestSwitchoverDetectsTheOperatorsRevert(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	var refused string
	e := newPGEnv(t, pgFixture{instances: 2, backend: mem, refuse: func(i string) bool { return i == refused }})
	refused = instance(e, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase, v.String())
	var reverted *postgres.RevertedError
	require.ErrorAs(t, v.Err, &reverted)
	assert.Equal(t, instance(e, 2), reverted.Target)
	assert.Zero(t, mem.Switchovers)
}

func TestSwitchoverOfAPrimaryThatMovedSincePlanningIsStale(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 3, backend: mem})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, Target: instance(e, 2)})
	require.NoError(t, err)
	// Someone promotes instance 3 by hand, as the plugin does.
	patch := fmt.Sprintf(`{"status":{"targetPrimary":%q,"phase":"Switchover in progress"}}`, instance(e, 3))
	_, err = e.dyn.Resource(testenv.ClustersGVR).Namespace(e.ns).Patch(ctx, e.cluster, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	require.NoError(t, err)
	e.waitHealthy(t, ctx, 3)
	for e.status(t, ctx)["currentPrimary"] != instance(e, 3) {
		e.waitHealthy(t, ctx, 3)
	}
	e.rec.Reset()
	_, err = e.client.Apply(ctx, plan)
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale, "%v", err)
	assert.Empty(t, e.rec.Mutating())
	assert.Equal(t, 1, mem.Switchovers)
}

func TestSwitchoverPausesThePoolerAroundThePromotion(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 2, pooler: true, backend: mem})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, PausePooler: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	var actions []string
	for _, s := range plan.Steps {
		actions = append(actions, s.Action+" "+s.Object.Name)
	}
	assert.Equal(t, []string{"pause " + e.pooler, "promote " + e.cluster, "resume " + e.pooler}, actions)
	g, _ := plan.Guard(postgres.GuardPooler)
	assert.Equal(t, scaling.Pass, g.Outcome)

	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	c, ok := v.Check("poolers-resumed")
	require.True(t, ok)
	assert.True(t, c.Passed)
	p, ok := mem.PoolerState(e.ns, e.pooler)
	require.True(t, ok)
	assert.Equal(t, instance(e, 2), p.Primary, "the pooler follows the new primary")
	u, err := e.dyn.Resource(testenv.PoolersGVR).Namespace(e.ns).Get(ctx, e.pooler, metav1.GetOptions{})
	require.NoError(t, err)
	paused, _, _ := unstructured.NestedBool(u.Object, "spec", "pgbouncer", "paused")
	assert.False(t, paused, "resumed: the field is removed, and the CRD's default is false")
}

// A switch that fails after the pause still resumes the pooler: here the
// operator refuses the target, and the caller's ctx ends while Apply waits.
func TestSwitchoverResumesThePoolerWhenTheSwitchFails(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	var refused string
	e := newPGEnv(t, pgFixture{instances: 2, pooler: true, backend: mem, refuse: func(i string) bool { return i == refused }})
	refused = instance(e, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, PausePooler: true})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	var reverted *postgres.RevertedError
	require.ErrorAs(t, err, &reverted, "%v", err)
	u, err := e.dyn.Resource(testenv.PoolersGVR).Namespace(e.ns).Get(ctx, e.pooler, metav1.GetOptions{})
	require.NoError(t, err)
	paused, _, _ := unstructured.NestedBool(u.Object, "spec", "pgbouncer", "paused")
	assert.False(t, paused, "resumed after the failed switch")

	// The caller gives up while Apply waits for the promotion.
	refused = ""
	e.waitHealthy(t, ctx, 2)
	e.op.Hold(true) // nothing promotes now
	plan, err = e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, PausePooler: true})
	require.NoError(t, err)
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	_, err = e.client.Apply(short, plan)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	u, err = e.dyn.Resource(testenv.PoolersGVR).Namespace(e.ns).Get(ctx, e.pooler, metav1.GetOptions{})
	require.NoError(t, err)
	paused, _, _ = unstructured.NestedBool(u.Object, "spec", "pgbouncer", "paused")
	assert.False(t, paused, "resumed after ctx ended")
}
