package tenants_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	scalingfake "github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/tenants"
)

func chartPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "charts", "ironflow")
}

// multiTenant is values-multi-tenant.yaml with the tenant's own ingress
// host: `helm install NAME ... -f values-multi-tenant.yaml --set
// ingress.host=NAME.ironflow.example.com`.
func multiTenant(t testing.TB, tenant string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartPath(), "values-multi-tenant.yaml"))
	require.NoError(t, err)
	vals := v.AsMap()
	vals["ingress"] = map[string]any{"host": tenant + ".ironflow.example.com"}
	return vals
}

// fakeEnv is the unit-test fixture: tenant namespaces in a fake clientset,
// their releases in the public in-memory releases, and each release's
// ResourceQuota mirrored into the clientset as Helm would apply it.
type fakeEnv struct {
	kube     *fake.Clientset
	releases *scalingfake.Releases
	client   *tenants.Client
}

func newFakeEnv(t testing.TB, names ...string) *fakeEnv {
	t.Helper()
	kube := fake.NewClientset()
	e := &fakeEnv{kube: kube, releases: scalingfake.NewReleases(kube)}
	for _, n := range names {
		e.addTenant(t, n)
	}
	var err error
	e.client, err = tenants.New(&scaling.Cluster{Kube: kube}, tenants.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()}})
	require.NoError(t, err)
	kube.ClearActions()
	return e
}

// addTenant creates tenant-NAME labelled as the tenant's, installs release
// NAME in it and mirrors its quota.
func (e *fakeEnv) addTenant(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	ns := "tenant-" + name
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{tenants.DefaultTenantLabel: name}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e.releases.Install(ctx, ns, name, chartPath(), multiTenant(t, name))
	require.NoError(t, err)
	e.syncQuota(t, ns, name, nil)
}

// syncQuota writes the ResourceQuota of the release's newest revision into
// the clientset, as Helm applies it (with its ownership annotations) and
// the quota controller completes it (status.hard; status.used from used,
// zero for the rest).
func (e *fakeEnv) syncQuota(t testing.TB, ns, release string, used corev1.ResourceList) {
	t.Helper()
	ctx := context.Background()
	rel, err := e.releases.Last(ctx, ns, release)
	require.NoError(t, err)
	objs, err := manifest.Parse(rel.Manifest, ns)
	require.NoError(t, err)
	for _, o := range objs {
		if o.Obj.GetKind() != "ResourceQuota" {
			continue
		}
		var q corev1.ResourceQuota
		require.NoError(t, k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &q))
		q.Annotations = map[string]string{"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns}
		api := e.kube.CoreV1().ResourceQuotas(ns)
		cur, err := api.Get(ctx, q.Name, metav1.GetOptions{})
		if used == nil && err == nil {
			used = cur.Status.Used
		}
		q.Status.Hard = q.Spec.Hard
		q.Status.Used = corev1.ResourceList{}
		for k := range q.Spec.Hard {
			q.Status.Used[k] = resource.MustParse("0")
		}
		for k, v := range used {
			q.Status.Used[k] = v
		}
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, &q, metav1.CreateOptions{})
		} else {
			q.ResourceVersion = cur.ResourceVersion
			_, err = api.Update(ctx, &q, metav1.UpdateOptions{})
		}
		require.NoError(t, err)
	}
	e.kube.ClearActions()
}

// addNodes adds n Ready nodes of cpu and memory.
func (e *fakeEnv) addNodes(t testing.TB, n int, cpu, memory string) {
	t.Helper()
	for i := range n {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + string(rune('a'+i))},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory), corev1.ResourcePods: resource.MustParse("110")},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			}}
		_, err := e.kube.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	e.kube.ClearActions()
}

func (e *fakeEnv) writes() []string { return plantest.Writes(e.kube) }

func (e *fakeEnv) last(t testing.TB, tenant string) *scaling.Release {
	t.Helper()
	rel, err := e.releases.Last(context.Background(), "tenant-"+tenant, tenant)
	require.NoError(t, err)
	return rel
}

// runbook is the runbook's raise of acme's quota.
func runbook() corev1.ResourceList {
	return corev1.ResourceList{
		"requests.cpu": resource.MustParse("4"), "limits.cpu": resource.MustParse("8"),
		"requests.memory": resource.MustParse("8Gi"), "limits.memory": resource.MustParse("16Gi"),
		"requests.storage": resource.MustParse("100Gi"), "pods": resource.MustParse("40"),
	}
}

func q(s string) resource.Quantity { return resource.MustParse(s) }
