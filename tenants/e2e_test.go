package tenants_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/tenants"
)

// TestMain starts the real control plane once for the package (KWOK nodes,
// the volume provisioner, CloudNativePG's CRDs for the tenants' PostgreSQL);
// unit tests share the binary and ignore it.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{CNPG: true}))
}

// realEnv is tenants of the reference chart installed with real Helm on the
// real control plane, as the runbook installs them, and a tenants client
// whose every request is recorded.
type realEnv struct {
	cluster  *scaling.Cluster
	rec      *reqcount.Recorder
	releases *helmrelease.Client
	client   *tenants.Client
	opts     tenants.Options
}

// newRealEnv connects with cfg (the admin's, or a user's) and the options;
// the options' prefix and label keep each test's tenants apart, since a
// Report lists every namespace with the label.
func newRealEnv(t testing.TB, cfg *rest.Config, opts tenants.Options) *realEnv {
	t.Helper()
	e := &realEnv{rec: &reqcount.Recorder{}, opts: opts}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(e.rec.Wrap)
	var err error
	e.cluster, err = scaling.NewCluster(cfg)
	require.NoError(t, err)
	e.releases = helmrelease.New(cfg, e.cluster.Kube)
	opts.Releases, opts.Chart = e.releases, scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}
	e.client, err = tenants.New(e.cluster, opts)
	require.NoError(t, err)
	return e
}

// install does the runbook's two commands for a tenant, as the admin:
// `kubectl create namespace PREFIX-NAME` (labelled as the tenant's) and
// `helm install NAME ... -f values-multi-tenant.yaml --set
// ingress.host=NAME.ironflow.example.com`, waiting for the workloads. The
// namespace is deleted when the test ends.
func install(t testing.TB, opts tenants.Options, name string) {
	t.Helper()
	installWith(t, opts, name, nil)
}

// tenantNamespace does `kubectl create namespace PREFIX-NAME` labelled as
// the tenant's, as the admin, and waits for its default ServiceAccount
// (without which pods are refused). The namespace is deleted when the test
// ends.
func tenantNamespace(t testing.TB, opts tenants.Options, name string) string {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := opts.NamespacePrefix + name
	_, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{opts.TenantLabel: name}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	require.Eventually(t, func() bool {
		_, err := env.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 10*time.Millisecond, "the default ServiceAccount, without which pods are refused")
	return ns
}

// installWith is install with the tenant's own values set over the
// multi-tenant ones, by dotted path (`--set path=value`).
func installWith(t testing.TB, opts tenants.Options, name string, set map[string]any) {
	t.Helper()
	ns := tenantNamespace(t, opts, name)
	helmInstall(t, ns, name, set)
}

// helmInstall is `helm install NAME ... -n NS -f values-multi-tenant.yaml
// --set ingress.host=NAME.ironflow.example.com` and the values of set, as
// the admin, waiting for the workloads.
func helmInstall(t testing.TB, ns, name string, set map[string]any) {
	t.Helper()
	env := testenv.Shared()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	vals := multiTenant(t, name)
	for path, v := range set {
		require.NoError(t, values.Set(vals, path, v))
	}
	_, err := helmrelease.New(env.RESTConfig(), env.Client).Install(ctx, ns, name, testenv.ChartPath("ironflow"), vals, 2*time.Minute)
	require.NoError(t, err)
}

// usePods creates n pods in the namespace, each asking cpu and memory
// (requests = limits, as the quota's limits.* keys require), and waits
// until the quota counts them.
func usePods(t *testing.T, ns string, n int, cpu, memory string) {
	t.Helper()
	env := testenv.Shared()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rl := corev1.ResourceList{corev1.ResourceCPU: q(cpu), corev1.ResourceMemory: q(memory)}
	for i := range n {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%d", i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: rl, Limits: rl}}}}}
		_, err := env.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// seedOptions are the runbook's defaults: tenant-<name>, ironflow.io/tenant.
var seedOptions = tenants.Options{NamespacePrefix: tenants.DefaultNamespacePrefix, TenantLabel: tenants.DefaultTenantLabel}

// TestE2ESeedScenario is the runbook's multi-tenant section on the real
// control plane: two tenants installed from the multi-tenant values file,
// acme's quota raised with the runbook's exact values (its ingress.host
// kept, globex's namespace not written at all, counted), a quota below
// acme's usage blocked with the numbers, and the report on both.
func TestE2ESeedScenario(t *testing.T) {
	install(t, seedOptions, "acme")
	install(t, seedOptions, "globex")
	env := testenv.Shared()
	e := newRealEnv(t, env.RESTConfig(), seedOptions)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Raise acme's quota: requests.cpu 4, limits.cpu 8, requests.memory 8Gi,
	// limits.memory 16Gi, requests.storage 100Gi, pods 40.
	e.rec.Reset()
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: runbook()})
	require.NoError(t, err)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	t.Logf("requests for one plan: %d\n%s", e.rec.Total(), e.rec.Summary())
	require.Empty(t, plan.Blocking(), plan.String())
	assert.NotContains(t, plan.Diff, "ingress", "the tenant's ingress.host is not touched")
	g, _ := plan.Guard(tenants.GuardOvercommit)
	t.Logf("overcommit: %s", g.Reason)
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	require.True(t, applied.Changed)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	t.Logf("verify: %s", v)
	for _, r := range e.rec.Mutating() {
		assert.Equal(t, "tenant-acme", r.Namespace, "a write outside acme's namespace: %s", r)
	}
	globexRequests := 0
	for _, r := range e.rec.Requests() {
		if r.Namespace == "tenant-globex" {
			globexRequests++
		}
	}
	assert.Zero(t, globexRequests, "acme's operation sends no request into globex's namespace")

	rq, err := env.Client.CoreV1().ResourceQuotas("tenant-acme").Get(ctx, "acme-ironflow-quota", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, sameList(runbook(), rq.Status.Hard), "status.hard %v", rq.Status.Hard)
	rel, err := e.releases.Last(ctx, "tenant-acme", "acme")
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Revision)
	host, _ := values.Get(rel.Values, "ingress.host")
	assert.Equal(t, "acme.ironflow.example.com", host, "the tenant's other values are kept")
	globex, err := e.releases.Last(ctx, "tenant-globex", "globex")
	require.NoError(t, err)
	assert.Equal(t, 1, globex.Revision, "the other tenant is untouched")
	gq, err := env.Client.CoreV1().ResourceQuotas("tenant-globex").Get(ctx, "globex-ironflow-quota", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "2", ptr(gq.Spec.Hard["requests.cpu"]).String())

	// Re-applying writes nothing.
	e.rec.Reset()
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, again.Reason)
	assert.Empty(t, e.rec.Mutating())

	// Use some of the quota, then a limit below the use is blocked.
	usePods(t, "tenant-acme", 2, "1", "1Gi")
	require.Eventually(t, func() bool {
		rq, err := env.Client.CoreV1().ResourceQuotas("tenant-acme").Get(ctx, "acme-ironflow-quota", metav1.GetOptions{})
		used := rq.Status.Used["requests.cpu"]
		return err == nil && used.Cmp(q("2")) >= 0
	}, time.Minute, 20*time.Millisecond)
	e.rec.Reset()
	below, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"requests.cpu": q("1"), "pods": q("2")}})
	require.NoError(t, err)
	bg, _ := below.Guard(tenants.GuardBelowUsage)
	require.Equal(t, scaling.Block, bg.Outcome, below.String())
	t.Logf("below usage: %s", bg.Reason)
	_, err = e.client.Apply(ctx, below)
	var bu *tenants.BelowUsageError
	require.ErrorAs(t, err, &bu)
	require.Len(t, bu.Resources, 2)
	assert.Equal(t, "pods", bu.Resources[0].Resource)
	assert.Equal(t, "2", bu.Resources[0].Hard)
	assert.Equal(t, "requests.cpu", bu.Resources[1].Resource)
	assert.Equal(t, "1", bu.Resources[1].Hard)
	assert.GreaterOrEqual(t, ptr(q(bu.Resources[1].Used)).Cmp(q("2")), 0, "the numbers: %+v", bu.Resources)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan sends no write")

	// The report on both tenants.
	e.rec.Reset()
	r, err := e.client.Report(ctx)
	require.NoError(t, err)
	t.Logf("report in %d requests:\n%s", e.rec.Total(), r)
	require.Len(t, r.Tenants, 2)
	assert.Equal(t, "acme", r.Tenants[0].Tenant)
	assert.Equal(t, 2, r.Tenants[0].Revision)
	assert.Equal(t, "globex", r.Tenants[1].Tenant)
	assert.Equal(t, 1, r.Tenants[1].Revision)
	var cpu *tenants.ResourceUsage
	for i, u := range r.Tenants[0].Resources {
		if u.Resource == "requests.cpu" {
			cpu = &r.Tenants[0].Resources[i]
		}
	}
	require.NotNil(t, cpu)
	assert.Equal(t, "4", cpu.Hard)
	assert.Greater(t, cpu.Percent, 50.0)
	assert.Equal(t, 4, e.rec.Total(), "one list of namespaces, one of quotas, one read of each release:\n%s", e.rec.Summary())
}

func ptr[T any](v T) *T { return &v }

// sameList compares two resource lists by quantity.
func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.Cmp(y) != 0 {
			return false
		}
	}
	return true
}
