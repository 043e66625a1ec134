package scale_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/scale"
)

const ns, release = "demo", "ironflow"

func chartPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "charts", "ironflow")
}

// fakeEnv is the unit-test fixture: Helm with in-memory release storage and
// a fake clientset into which the test mirrors what Helm would apply (the
// memory driver applies nothing).
type fakeEnv struct {
	kube     *fake.Clientset
	releases *helmrelease.Client
	client   *scale.Client
}

func newFakeEnv(t *testing.T, vals map[string]any) *fakeEnv {
	t.Helper()
	e := &fakeEnv{kube: fake.NewClientset(), releases: helmrelease.NewMemory()}
	rel, err := e.releases.Install(context.Background(), ns, release, chartPath(), vals, 0)
	require.NoError(t, err)
	e.mirror(t, rel)
	e.client, err = scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases})
	require.NoError(t, err)
	e.kube.ClearActions()
	return e
}

// mirror plays Helm's apply of the release's workloads into the fake
// clientset, bumping metadata.generation on spec changes like the API server.
func (e *fakeEnv) mirror(t *testing.T, rel *scaling.Release) {
	t.Helper()
	objs, err := manifest.Parse(rel.Manifest, ns)
	require.NoError(t, err)
	ctx := context.Background()
	for _, o := range manifest.Workloads(objs) {
		if o.Obj.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		require.NoError(t, k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &d))
		cur, err := e.kube.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			d.Generation = 1
			_, err = e.kube.AppsV1().Deployments(ns).Create(ctx, &d, metav1.CreateOptions{})
			require.NoError(t, err)
			continue
		}
		require.NoError(t, err)
		d.ResourceVersion, d.Generation = cur.ResourceVersion, cur.Generation+1
		if d.Spec.Replicas == nil { // Helm's three-way merge keeps the live count when the chart stops rendering it
			d.Spec.Replicas = cur.Spec.Replicas
		}
		_, err = e.kube.AppsV1().Deployments(ns).Update(ctx, &d, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
}

// scaleBehindBack changes the Deployment the way `kubectl scale` would.
func (e *fakeEnv) scaleBehindBack(t *testing.T, replicas int32) {
	t.Helper()
	ctx := context.Background()
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	d.Spec.Replicas = &replicas
	d.Generation++
	_, err = e.kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()
}

func (e *fakeEnv) mutatingActions() []string {
	var out []string
	for _, a := range e.kube.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

func (e *fakeEnv) last(t *testing.T) *scaling.Release {
	t.Helper()
	rel, err := e.releases.Last(context.Background(), ns, release)
	require.NoError(t, err)
	return rel
}

func clustered(replicas int) map[string]any {
	return map[string]any{"replicaCount": replicas, "cluster": map[string]any{"enabled": true}}
}
