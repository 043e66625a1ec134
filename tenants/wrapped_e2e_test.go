package tenants_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nats/natstest"
	"github.com/ironflow/scaling/postgres"
	"github.com/ironflow/scaling/scale"
	"github.com/ironflow/scaling/tenants"
)

// wrappedOptions keep this file's tenants apart from the seed test's (a
// namespace being deleted keeps its name for a while) and from its Report.
var wrappedOptions = tenants.Options{NamespacePrefix: "wrapped-", TenantLabel: "wrapped.ironflow.io/tenant"}

// roundTrip is a plan as stored and read back: JSON, as a reviewer keeps it
// between Plan and Apply.
func roundTrip(t testing.TB, plan *scaling.Plan) *scaling.Plan {
	t.Helper()
	b, err := json.Marshal(plan)
	require.NoError(t, err)
	var stored scaling.Plan
	require.NoError(t, json.Unmarshal(b, &stored))
	return &stored
}

// applyStored applies plan as an approval tool would, stored as JSON and
// read back, and requires the change made and its Verify Succeeded, and
// every write of the two in the tenant's namespace ns.
func applyStored(t testing.TB, ctx context.Context, e *realEnv, plan *scaling.Plan, ns string) *scaling.Applied {
	t.Helper()
	applied, err := e.client.Apply(ctx, roundTrip(t, plan))
	require.NoError(t, err)
	require.True(t, applied.Changed, applied.Reason)
	start := time.Now()
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	t.Logf("verify in %s: %s", time.Since(start).Round(time.Millisecond), v)
	for _, r := range e.rec.Mutating() {
		assert.Equal(t, ns, r.Namespace, "a write outside %s: %s", ns, r)
	}
	return applied
}

// refuseStored requires the guard named to block plan, and returns what
// Apply says of the plan stored as JSON and read back: the caller matches
// the typed cause and counts the writes.
func refuseStored(t testing.TB, ctx context.Context, e *realEnv, plan *scaling.Plan, guard string) error {
	t.Helper()
	g, ok := plan.Guard(guard)
	require.True(t, ok, "no guard %s: %s", guard, plan)
	require.Equal(t, scaling.Block, g.Outcome, plan.String())
	t.Logf("%s blocks: %s", guard, g.Reason)
	_, err := e.client.Apply(ctx, roundTrip(t, plan))
	return err
}

// requestsIn counts the recorded requests into namespace ns.
func requestsIn(reqs []reqcount.Request, ns string) int {
	n := 0
	for _, r := range reqs {
		if r.Namespace == ns {
			n++
		}
	}
	return n
}

// TestE2ETenantResourcesRaisedUntilTheQuotaBlocks is the seed scenario's
// "resources raised until the quota blocks" on the real control plane (KWOK
// nodes run the pods): acme, installed from the multi-tenant values with
// two replicas, gets the runbook's requests (cpu 500m, memory 1Gi; limits
// memory 1Gi), Verify waits until the new revision's pods are Ready with
// them; then cpu 1500m, whose rollout peak asks more than the quota's
// requests.cpu 2, is blocked with the numbers (*scale.QuotaError) on Apply
// of the stored plan, without a write. No request of acme's goes into
// globex's namespace.
func TestE2ETenantResourcesRaisedUntilTheQuotaBlocks(t *testing.T) {
	installWith(t, wrappedOptions, "acme", map[string]any{"replicaCount": 2})
	install(t, wrappedOptions, "globex")
	env := testenv.Shared()
	e := newRealEnv(t, env.RESTConfig(), wrappedOptions)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acme, globex := wrappedOptions.NamespacePrefix+"acme", wrappedOptions.NamespacePrefix+"globex"

	e.rec.Reset()
	plan, err := e.client.PlanResources(ctx, tenants.Resources{Tenant: "acme",
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	t.Logf("requests for one plan: %d\n%s", e.rec.Total(), e.rec.Summary())
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, tenants.OpResources, plan.Operation)
	_, ok := plan.Guard(tenants.GuardTenantNamespace)
	assert.True(t, ok, "the tenant's ownership guard comes with the plan: %s", plan)
	g, ok := plan.Guard(scale.GuardQuota)
	require.True(t, ok, plan.String())
	t.Logf("quota: %s", g.Reason)
	assert.NotContains(t, plan.Diff, "ingress", "the tenant's ingress.host is not touched")

	applied := applyStored(t, ctx, e, plan, acme)
	assert.Equal(t, tenants.OpResources, applied.Operation)
	dep, err := env.Client.AppsV1().Deployments(acme).Get(ctx, "acme-ironflow", metav1.GetOptions{})
	require.NoError(t, err)
	res := dep.Spec.Template.Spec.Containers[0].Resources
	assert.Equal(t, "500m", ptr(res.Requests[corev1.ResourceCPU]).String())
	assert.Equal(t, "1Gi", ptr(res.Requests[corev1.ResourceMemory]).String())
	assert.Equal(t, "1Gi", ptr(res.Limits[corev1.ResourceMemory]).String())
	assert.Equal(t, "500m", ptr(res.Limits[corev1.ResourceCPU]).String(), "a resource not named keeps the chart's value")
	rel, err := e.releases.Last(ctx, acme, "acme")
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Revision)

	// cpu 1500m: two replicas and the surge ask more than requests.cpu 2.
	e.rec.Reset()
	over, err := e.client.PlanResources(ctx, tenants.Resources{Tenant: "acme",
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("1500m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m")}})
	require.NoError(t, err)
	err = refuseStored(t, ctx, e, over, scale.GuardQuota)
	var qe *scale.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, acme, qe.Namespace)
	require.NotEmpty(t, qe.Short)
	var cpu *scale.QuotaShortfall
	for i := range qe.Short {
		if qe.Short[i].Resource == "requests.cpu" {
			cpu = &qe.Short[i]
		}
	}
	require.NotNil(t, cpu, "requests.cpu is short: %+v", qe.Short)
	t.Logf("shortfall: %+v rollout %+v", qe.Short, qe.Rollout)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")
	again, err := e.releases.Last(ctx, acme, "acme")
	require.NoError(t, err)
	assert.Equal(t, 2, again.Revision, "no new revision")

	assert.Zero(t, requestsIn(e.rec.Requests(), globex), "acme's operations send no request into globex's namespace")
	gl, err := e.releases.Last(ctx, globex, "globex")
	require.NoError(t, err)
	assert.Equal(t, 1, gl.Revision, "the other tenant is untouched")
}

// pgTenant is `kubectl create namespace`, then the cluster's defaults for
// containers that declare no resources (a LimitRange: the tenant quota's
// limits.* keys refuse pods without limits, and the operator's instance
// pods declare none), the CloudNativePG operator double reconciling the
// namespace, and `helm install` of the tenant with PostgreSQL enabled
// (one instance, persistence.size 10Gi, the class given; NATS off), waiting
// until the Cluster is healthy. It returns the operator double, whose
// WrapConfig serves the instances' status.
func pgTenant(t testing.TB, opts tenants.Options, name, class string) *testenv.Operator {
	t.Helper()
	env := testenv.Shared()
	ns := tenantNamespace(t, opts, name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	defaults := corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")}
	_, err := env.Client.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "container-defaults"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Default: defaults, DefaultRequest: defaults}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	op, err := env.StartOperator(ctx, testenv.OperatorOptions{Namespace: ns, Backend: testenv.NewMemoryBackend()})
	require.NoError(t, err)
	t.Cleanup(func() {
		op.Stop()
		assert.Empty(t, op.Errors(), "the operator double's reconciles failed")
	})
	helmInstall(t, ns, name, map[string]any{
		"nats.enabled": false, "postgresql.enabled": true, "postgresql.instances": 1,
		"postgresql.persistence.size": "10Gi", "postgresql.persistence.storageClass": class,
	})
	waitClusterHealthy(t, ctx, ns, 1)
	return op
}

// waitClusterHealthy waits (a watch) until the namespace's one CNPG
// Cluster reports n ready instances in the healthy phase.
func waitClusterHealthy(t testing.TB, ctx context.Context, ns string, n int) {
	t.Helper()
	sc, err := scaling.NewCluster(testenv.Shared().RESTConfig())
	require.NoError(t, err)
	require.NoError(t, testenv.WaitClusterHealthy(ctx, sc.Dynamic, ns, "", n))
}

// withOperators is cfg with each operator double's instance status served.
func withOperators(cfg *rest.Config, ops ...*testenv.Operator) *rest.Config {
	for _, op := range ops {
		cfg = op.WrapConfig(cfg)
	}
	return cfg
}

// pgClaims are the sizes of the namespace's CNPG instance claims.
func pgClaims(t testing.TB, ctx context.Context, ns string) map[string]string {
	t.Helper()
	list, err := testenv.Shared().Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: "cnpg.io/cluster"})
	require.NoError(t, err)
	sizes := map[string]string{}
	for _, c := range list.Items {
		sizes[c.Name] = ptr(c.Spec.Resources.Requests[corev1.ResourceStorage]).String()
	}
	return sizes
}

// TestE2ETenantStorageGrownOnlyOnTheExpandableClass is the seed
// scenario's "storage grown on the expandable class and refused on the
// fixed one": initech's PostgreSQL volumes (testenv.ExpandableClass) grow
// from 10Gi to 20Gi within its requests.storage 50Gi, Verify waiting until
// the claims have grown; hooli's, on testenv.FixedClass, are refused at
// Plan (postgres.GuardExpansion) and on Apply of the stored plan
// (*postgres.NotExpandableError), without a write.
func TestE2ETenantStorageGrownOnlyOnTheExpandableClass(t *testing.T) {
	expandable := pgTenant(t, wrappedOptions, "initech", testenv.ExpandableClass)
	fixed := pgTenant(t, wrappedOptions, "hooli", testenv.FixedClass)
	env := testenv.Shared()
	e := newRealEnv(t, withOperators(env.RESTConfig(), expandable, fixed), wrappedOptions)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	initech, hooli := wrappedOptions.NamespacePrefix+"initech", wrappedOptions.NamespacePrefix+"hooli"

	e.rec.Reset()
	plan, err := e.client.PlanStorage(ctx, tenants.Storage{Tenant: "initech", Volume: tenants.PostgreSQL, Size: "20Gi"})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	t.Logf("requests for one plan: %d\n%s", e.rec.Total(), e.rec.Summary())
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, tenants.OpStorage, plan.Operation)
	g, ok := plan.Guard(postgres.GuardExpansion)
	require.True(t, ok, plan.String())
	assert.Equal(t, scaling.Pass, g.Outcome)
	applyStored(t, ctx, e, plan, initech)
	claims := pgClaims(t, ctx, initech)
	require.NotEmpty(t, claims)
	for name, size := range claims {
		assert.Equal(t, "20Gi", size, "claim %s", name)
	}
	assert.Zero(t, requestsIn(e.rec.Requests(), hooli), "initech's operation sends no request into hooli's namespace")

	e.rec.Reset()
	refused, err := e.client.PlanStorage(ctx, tenants.Storage{Tenant: "hooli", Volume: tenants.PostgreSQL, Size: "20Gi"})
	require.NoError(t, err)
	err = refuseStored(t, ctx, e, refused, postgres.GuardExpansion)
	var ne *postgres.NotExpandableError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, testenv.FixedClass, ne.StorageClass)
	var blocked *scaling.GuardBlockedError
	assert.True(t, errors.As(err, &blocked), "the guard's error is the cause of a *scaling.GuardBlockedError: %v", err)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")
	for name, size := range pgClaims(t, ctx, hooli) {
		assert.Equal(t, "10Gi", size, "claim %s", name)
	}
	rel, err := e.releases.Last(ctx, hooli, "hooli")
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Revision)
}

// natsTenant installs the tenant with a clustered NATS of three servers
// (rolled on a config change, as nats's own e2e tests run it; PostgreSQL
// off) whose StatefulSet drives a real in-process JetStream cluster
// (natstest's Follow plays the kubelet), and returns a NATS client on its
// system account, settled: a meta leader and every peer current.
func natsTenant(t testing.TB, opts tenants.Options, name string, cluster *scaling.Cluster, releases scaling.Releases) *nats.Client {
	t.Helper()
	env := testenv.Shared()
	ns := tenantNamespace(t, opts, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sts := name + "-nats"
	servers, err := natstest.Start(ctx, natstest.Options{Name: sts, Size: 3})
	require.NoError(t, err)
	t.Cleanup(servers.Shutdown)
	helmInstall(t, ns, name, map[string]any{
		"postgresql.enabled": false, "nats.config.cluster.enabled": true, "nats.config.cluster.replicas": 3,
		"nats.reloader.enabled": false, "nats.podTemplate.configChecksumAnnotation": true,
	})
	stop := servers.Follow(env.Client, ns, sts)
	t.Cleanup(func() {
		for _, err := range stop() {
			t.Errorf("kubelet: %v", err)
		}
	})
	sys, err := servers.ConnectSystem()
	require.NoError(t, err)
	t.Cleanup(sys.Close)
	app, err := servers.Connect()
	require.NoError(t, err)
	t.Cleanup(app.Close)
	client, err := nats.New(cluster, nats.Options{System: sys, Accounts: map[string]*natsgo.Conn{"APP": app}, Releases: releases,
		Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}})
	require.NoError(t, err)
	var last *nats.Report
	settled := assert.Eventually(t, func() bool {
		r, err := nats.Inspect(ctx, sys, time.Second)
		if err != nil {
			return false
		}
		last = r
		if r.Meta.Leader == "" || len(r.Meta.Peers) < 2 {
			return false
		}
		for _, p := range r.Meta.Peers {
			if p.Offline || !p.Current {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond)
	if !settled && last != nil {
		t.Fatalf("the cluster did not settle:\n%s", last)
	}
	return client
}

// TestE2ETenantNATSStorageWithinTheQuota is Storage of the NATS volume
// through Options.NATS: umbrella's three JetStream volumes (10Gi each) grow
// to 15Gi, within its requests.storage 50Gi, Verify waiting until the
// claims have grown and the servers run the new max_file_store; 20Gi each
// (60Gi) is blocked by the tenant's storage quota, without a write.
func TestE2ETenantNATSStorageWithinTheQuota(t *testing.T) {
	env := testenv.Shared()
	var client *nats.Client
	opts := wrappedOptions
	opts.NATS = func(tenant string) (*nats.Client, error) {
		if tenant != "umbrella" {
			return nil, fmt.Errorf("no NATS client for tenant %s", tenant)
		}
		return client, nil
	}
	e := newRealEnv(t, env.RESTConfig(), opts)
	client = natsTenant(t, opts, "umbrella", e.cluster, e.releases)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := opts.NamespacePrefix + "umbrella"

	e.rec.Reset()
	over, err := e.client.PlanStorage(ctx, tenants.Storage{Tenant: "umbrella", Volume: tenants.NATS, Size: "20Gi"})
	require.NoError(t, err)
	// Three 20Gi volumes are more than requests.storage 50Gi.
	err = refuseStored(t, ctx, e, over, scaling.GuardStorage)
	var se *scaling.StorageError
	require.ErrorAs(t, err, &se)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")

	e.rec.Reset()
	plan, err := e.client.PlanStorage(ctx, tenants.Storage{Tenant: "umbrella", Volume: tenants.NATS, Size: "15Gi"})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	t.Logf("requests for one plan: %d\n%s", e.rec.Total(), e.rec.Summary())
	require.Empty(t, plan.Blocking(), plan.String())
	applyStored(t, ctx, e, plan, ns)
	for i := range 3 {
		name := fmt.Sprintf("umbrella-nats-js-umbrella-nats-%d", i)
		c, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "15Gi", c.Status.Capacity.Storage().String(), "claim %s grown in place", name)
	}
}
