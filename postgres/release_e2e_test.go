package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/postgres"
	"github.com/ironflow/scaling/scale"
)

// The release operations on the real control plane: the reference chart
// installed with real Helm, the operator double running what it renders
// (claims grown by the environment's provisioner on the expandable class,
// replicas streaming from the MemoryBackend, the Pooler's Deployment and
// Service), and the scale package's connection-budget guard on the same
// release.

// ironflowChart is the reference chart every Helm write takes: it has
// subcharts, so the release's stored chart would not do.
var ironflowChart = scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}

// releaseClient is a postgres client of e's cluster that writes the
// release: the fixture's client has no chart source, which the release
// operations of a chart with subcharts need.
func (e *pgEnv) releaseClient(t testing.TB) *postgres.Client {
	t.Helper()
	c, err := postgres.New(e.sc, postgres.Options{Releases: e.releases, Chart: ironflowChart})
	require.NoError(t, err)
	return c
}

// claims are the instances' data claims by name (the double names each
// after its instance).
func (e *pgEnv) claims(t testing.TB, ctx context.Context) map[string]*corev1.PersistentVolumeClaim {
	t.Helper()
	list, err := testenv.Shared().Client.CoreV1().PersistentVolumeClaims(e.ns).List(ctx, metav1.ListOptions{LabelSelector: postgres.LabelCluster + "=" + e.cluster})
	require.NoError(t, err)
	out := map[string]*corev1.PersistentVolumeClaim{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// revision is the release's newest revision.
func (e *pgEnv) revision(t testing.TB, ctx context.Context) int {
	t.Helper()
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	return rel.Revision
}

// refused applies a plan that must be blocked and returns Apply's error,
// having checked that neither planning nor the refused Apply wrote.
func (e *pgEnv) refused(t *testing.T, ctx context.Context, c scaling.Operator, plan func() (*scaling.Plan, error)) error {
	t.Helper()
	e.rec.Reset()
	p, err := plan()
	require.NoError(t, err)
	require.NotEmpty(t, p.Blocking(), "%s", p)
	_, err = c.Apply(ctx, p)
	var blocked *scaling.GuardBlockedError
	require.ErrorAs(t, err, &blocked)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan writes nothing")
	return err
}

func TestExpandStorageGrowsEveryInstanceClaimInPlace(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := e.claims(t, ctx)
	require.Len(t, before, 2)
	for name, c := range before {
		require.Equal(t, "10Gi", c.Status.Capacity.Storage().String(), name)
		require.Equal(t, testenv.ExpandableClass, *c.Spec.StorageClassName, name)
	}

	e.rec.Reset()
	plan, err := client.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	require.Empty(t, plan.Blocking(), "%s", plan)
	var steps []string
	for _, s := range plan.Steps {
		steps = append(steps, s.Action+" "+s.Object.Name)
	}
	assert.Equal(t, []string{"helm upgrade " + release, postgres.ActionResizeClaim + " " + instance(e, 1), postgres.ActionResizeClaim + " " + instance(e, 2)}, steps)
	g, ok := plan.Guard(postgres.GuardExpansion)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)

	applied, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	after := e.claims(t, ctx)
	require.Len(t, after, 2)
	for name, c := range after {
		assert.Equal(t, before[name].UID, c.UID, "%s is the same claim, grown in place", name)
		assert.Equal(t, "20Gi", c.Status.Capacity.Storage().String(), name)
		assert.Equal(t, corev1.ClaimBound, c.Status.Phase, name)
	}
	assert.Equal(t, testenv.PhaseHealthy, e.status(t, ctx)["phase"])
	assert.Equal(t, 2, e.revision(t, ctx))

	// The same plan again: the size holds, nothing is written.
	e.rec.Reset()
	again, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, again.Reason)
	assert.Empty(t, e.rec.Mutating())
}

func TestExpandStorageRefusesToShrink(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := e.refused(t, ctx, client, func() (*scaling.Plan, error) {
		return client.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: e.ns, Release: release, Size: "5Gi"})
	})
	var shrink *postgres.ShrinkError
	require.ErrorAs(t, err, &shrink)
	assert.Equal(t, e.cluster, shrink.Cluster)
	assert.Equal(t, "10Gi", shrink.Current)
	assert.Equal(t, "5Gi", shrink.Requested)
	for name, c := range e.claims(t, ctx) {
		assert.Equal(t, "10Gi", c.Spec.Resources.Requests.Storage().String(), name)
	}
	assert.Equal(t, 1, e.revision(t, ctx))
}

func TestExpandStorageOnAFixedClassIsBlocked(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2, values: map[string]any{"postgresql.persistence.storageClass": testenv.FixedClass}})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, c := range e.claims(t, ctx) {
		require.Equal(t, testenv.FixedClass, *c.Spec.StorageClassName, name)
	}
	err := e.refused(t, ctx, client, func() (*scaling.Plan, error) {
		return client.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	})
	var notExp *postgres.NotExpandableError
	require.ErrorAs(t, err, &notExp)
	assert.Equal(t, testenv.FixedClass, notExp.StorageClass)
	assert.Equal(t, e.cluster, notExp.Cluster)
	assert.False(t, notExp.ResizeDisabled)
	assert.Contains(t, err.Error(), "backup and restore")
	for name, c := range e.claims(t, ctx) {
		assert.Equal(t, "10Gi", c.Spec.Resources.Requests.Storage().String(), name)
	}
	assert.Equal(t, 1, e.revision(t, ctx))
}

func TestExpandStorageBeyondTheStorageQuotaIsBlocked(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Two 10Gi claims use 20Gi of 30Gi: growing both to 20Gi needs 20Gi more.
	admin := testenv.Shared().Client
	_, err := admin.CoreV1().ResourceQuotas(e.ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "storage"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: resource.MustParse("30Gi")}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitQuotaUsed(t, ctx, e.ns, "storage", corev1.ResourceRequestsStorage, "20Gi")

	err = e.refused(t, ctx, client, func() (*scaling.Plan, error) {
		return client.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	})
	var storage *scaling.StorageError
	require.ErrorAs(t, err, &storage)
	assert.Equal(t, 2, storage.Claims)
	assert.Equal(t, "20Gi", storage.Size)
	require.Len(t, storage.Short, 1, "%+v", storage.Short)
	assert.Equal(t, scaling.StorageShortfall{Of: "ResourceQuota", Name: "storage", Resource: string(corev1.ResourceRequestsStorage), Need: "20Gi", Have: "10Gi"}, storage.Short[0])
	for name, c := range e.claims(t, ctx) {
		assert.Equal(t, "10Gi", c.Spec.Resources.Requests.Storage().String(), name)
	}
	assert.Equal(t, 1, e.revision(t, ctx))
}

// waitQuotaUsed waits (a watch) until the quota controller reports want
// used of a quota's resource.
func waitQuotaUsed(t *testing.T, ctx context.Context, ns, name string, res corev1.ResourceName, want string) {
	t.Helper()
	w, err := testenv.Shared().Client.CoreV1().ResourceQuotas(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	require.NoError(t, err)
	defer w.Stop()
	var last corev1.ResourceList
	for {
		select {
		case ev, ok := <-w.ResultChan():
			require.True(t, ok, "watch closed; last used %v", last)
			q, ok := ev.Object.(*corev1.ResourceQuota)
			if !ok {
				continue
			}
			last = q.Status.Used
			if used, ok := last[res]; ok && used.Cmp(resource.MustParse(want)) == 0 {
				return
			}
		case <-ctx.Done():
			require.FailNow(t, "quota usage not reported", "last used %v", last)
		}
	}
}

func TestScaleInstancesAddsAStreamingReplica(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 2, backend: mem})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	e.rec.Reset()
	plan, err := client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: e.ns, Release: release, Instances: 3})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	require.Empty(t, plan.Blocking(), "%s", plan)
	require.Len(t, plan.Steps, 2, "%s", plan)
	assert.Equal(t, postgres.ActionAddInstance, plan.Steps[1].Action)
	assert.Equal(t, instance(e, 3), plan.Steps[1].Object.Name)
	g, ok := plan.Guard(scaling.GuardStorage)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)

	applied, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	for _, name := range []string{"spec-instances", "ready-instances", "instance-pods", "primary", "replicas-streaming"} {
		c, ok := v.Check(name)
		require.True(t, ok, name)
		assert.True(t, c.Passed, "%s: %s", c.Name, c.Observed)
	}
	// The replicas are listed in the order the watch delivered them.
	c, _ := v.Check("replicas-streaming")
	assert.Regexp(t, `^2 streaming: `, c.Observed)
	assert.Contains(t, c.Observed, instance(e, 2))
	assert.Contains(t, c.Observed, instance(e, 3))
	st := e.status(t, ctx)
	assert.Equal(t, int64(3), st["readyInstances"])
	assert.Equal(t, instance(e, 1), st["currentPrimary"])
	// The backend agrees: the new instance is a replica receiving WAL.
	doc, found, err := mem.Status(ctx, e.ns, instance(e, 3))
	require.NoError(t, err)
	require.True(t, found)
	assert.Contains(t, string(doc), `"isWalReceiverActive":true`)
	assert.Contains(t, string(doc), `"isPrimary":false`)
	claims := e.claims(t, ctx)
	require.Contains(t, claims, instance(e, 3))
	assert.Equal(t, "10Gi", claims[instance(e, 3)].Status.Capacity.Storage().String())
}

func TestScaleInstancesRefusesToRemoveThePrimary(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 3, backend: mem})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Promote the highest-numbered instance, as the plugin does.
	patch := fmt.Sprintf(`{"status":{"targetPrimary":%q,"phase":"Switchover in progress"}}`, instance(e, 3))
	_, err := e.dyn.Resource(testenv.ClustersGVR).Namespace(e.ns).Patch(ctx, e.cluster, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	require.NoError(t, err)
	e.waitHealthy(t, ctx, 3)
	for e.status(t, ctx)["currentPrimary"] != instance(e, 3) {
		e.waitHealthy(t, ctx, 3)
	}
	require.Equal(t, 1, mem.Switchovers)

	err = e.refused(t, ctx, client, func() (*scaling.Plan, error) {
		return client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: e.ns, Release: release, Instances: 1})
	})
	var removal *postgres.PrimaryRemovalError
	require.ErrorAs(t, err, &removal)
	assert.Equal(t, instance(e, 3), removal.Primary)
	assert.Equal(t, int32(1), removal.Instances)
	assert.Equal(t, []string{instance(e, 3), instance(e, 2)}, removal.Removed)
	assert.Equal(t, []string{instance(e, 1)}, removal.Keep)
	st := e.status(t, ctx)
	assert.Equal(t, int64(3), st["readyInstances"])
	assert.Equal(t, 1, e.revision(t, ctx))
}

func TestConfigurePoolerEnablesAPoolerAndRoutesTheApp(t *testing.T) {
	mem := testenv.NewMemoryBackend()
	e := newPGEnv(t, pgFixture{instances: 2, backend: mem})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pooler := e.cluster + "-pooler-rw"
	kube := testenv.Shared().Client
	app, err := kube.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, e.cluster+"-rw", dbHost(app.Spec.Template.Spec), "without a pooler the app connects to the -rw Service")

	e.rec.Reset()
	plan, err := client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: e.ns, Release: release})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Equal(t, pooler, plan.Target.Name)
	var steps []string
	for _, s := range plan.Steps {
		steps = append(steps, s.Action+" "+s.Object.Name)
	}
	assert.Equal(t, []string{"helm upgrade " + release, postgres.ActionRoute + " " + release, postgres.ActionRollPooler + " " + pooler}, steps)
	g, ok := plan.Guard(postgres.GuardPoolerBudget)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	_, ok = plan.Guard(postgres.GuardAppRollout)
	assert.True(t, ok, "the app rolls: its DB_HOST moves")

	applied, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	for _, name := range []string{"pooler-spec", "pooler-deployment", "app-db-host " + release, "app-rollout " + release} {
		c, ok := v.Check(name)
		require.True(t, ok, name)
		assert.True(t, c.Passed, "%s: %s", c.Name, c.Observed)
	}
	dep, err := kube.AppsV1().Deployments(e.ns).Get(ctx, pooler, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(1), dep.Status.ReadyReplicas, "the chart's fixture asks for one PgBouncer")
	_, err = kube.CoreV1().Services(e.ns).Get(ctx, pooler, metav1.GetOptions{})
	require.NoError(t, err, "the operator made the pooler's Service")
	app, err = kube.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pooler, dbHost(app.Spec.Template.Spec), "the app connects through the pooler's Service")
	p, ok := mem.PoolerState(e.ns, pooler)
	require.True(t, ok, "the backend runs the pooler")
	assert.Equal(t, instance(e, 1), p.Primary)
	assert.Equal(t, 2, e.revision(t, ctx))
}

func TestConfigurePoolerBlocksAPoolLargerThanMaxConnections(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2, values: map[string]any{"postgresql.maxConnections": 100}})
	client := e.releaseClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// (3 instances + 1 surge) x default_pool_size 50 = 200 server
	// connections against max_connections 100 - 3 reserved.
	err := e.refused(t, ctx, client, func() (*scaling.Plan, error) {
		return client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: e.ns, Release: release, Instances: 3, DefaultPoolSize: 50})
	})
	var budget *postgres.PoolerBudgetError
	require.ErrorAs(t, err, &budget)
	assert.Equal(t, e.cluster+"-pooler-rw", budget.Pooler)
	assert.Equal(t, int32(3), budget.Instances)
	assert.Equal(t, int32(1), budget.Surge)
	assert.Equal(t, int64(50), budget.DefaultPoolSize)
	assert.Equal(t, int64(200), budget.Peak)
	assert.Equal(t, 100, budget.MaxConnections)
	assert.Equal(t, int64(97), budget.Usable)
	assert.Equal(t, int64(203), budget.Recommended)
	_, err = testenv.Shared().Client.AppsV1().Deployments(e.ns).Get(ctx, e.cluster+"-pooler-rw", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no pooler was made: %v", err)
	assert.Equal(t, 1, e.revision(t, ctx))
}

// budgetValues is the runbook's connection budget scenario: app pods with
// 25 connections each against max_connections 100, the app clustered so
// that more than one replica is allowed.
var budgetValues = map[string]any{"cluster.enabled": true, "database.poolSize": 25, "postgresql.maxConnections": 100}

func TestScaleReplicasConnectionBudgetWithoutAPoolerBlocks(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2, values: budgetValues})
	sc, err := scale.New(e.sc, scale.Options{Releases: e.releases, Chart: ironflowChart})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = e.refused(t, ctx, sc, func() (*scaling.Plan, error) {
		return sc.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 10})
	})
	var budget *scale.ConnectionBudgetError
	require.ErrorAs(t, err, &budget)
	// (10 replicas + 3 surge, 25% rounded up) x 25 = 325 > 100 - 3.
	assert.Equal(t, int32(10), budget.Replicas)
	assert.Equal(t, int32(3), budget.Surge)
	assert.Equal(t, int64(25), budget.Pool)
	assert.Equal(t, int64(325), budget.Peak)
	assert.Equal(t, 100, budget.MaxConnections)
	assert.Equal(t, int64(97), budget.Usable)
	assert.Empty(t, budget.Pooler)
	app, err := testenv.Shared().Client.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(1), *app.Spec.Replicas)
}

func TestScaleReplicasConnectionBudgetBehindAPoolerPasses(t *testing.T) {
	e := newPGEnv(t, pgFixture{instances: 2, pooler: true, values: budgetValues})
	sc, err := scale.New(e.sc, scale.Options{Releases: e.releases, Chart: ironflowChart})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := sc.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 10})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	require.Empty(t, plan.Blocking(), "%s", plan)
	g, ok := plan.Guard(scale.GuardConnectionBudget)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	// PgBouncer holds 1 x 20 server connections; the 325 client
	// connections fit in its max_client_conn 1000.
	assert.Contains(t, g.Reason, "Pooler "+e.pooler)
	assert.Contains(t, g.Reason, "= 20 server connections")
	assert.Contains(t, g.Reason, "= 325, PgBouncer accepts 1 instances x max_client_conn 1000")
}

func dbHost(pod corev1.PodSpec) string {
	for _, c := range pod.Containers {
		for _, env := range c.Env {
			if env.Name == "DB_HOST" {
				return env.Value
			}
		}
	}
	return ""
}
