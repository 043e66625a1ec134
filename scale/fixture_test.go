package scale_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	scalingfake "github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/scale"
)

const ns, release = "demo", "ironflow"

func chartPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "charts", "ironflow")
}

// fakeEnv is the unit-test fixture: the public in-memory releases, whose
// workloads land in a fake clientset.
type fakeEnv struct {
	kube     *fake.Clientset
	releases *scalingfake.Releases
	client   *scale.Client
}

func newFakeEnv(t testing.TB, vals map[string]any) *fakeEnv {
	t.Helper()
	kube := fake.NewClientset()
	e := &fakeEnv{kube: kube, releases: scalingfake.NewReleases(kube)}
	_, err := e.releases.Install(context.Background(), ns, release, chartPath(), vals)
	require.NoError(t, err)
	e.client, err = scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()}})
	require.NoError(t, err)
	e.kube.ClearActions()
	return e
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

func (e *fakeEnv) mutatingActions() []string { return plantest.Writes(e.kube) }

func (e *fakeEnv) last(t testing.TB) *scaling.Release {
	t.Helper()
	rel, err := e.releases.Last(context.Background(), ns, release)
	require.NoError(t, err)
	return rel
}

func clustered(replicas int) map[string]any {
	return map[string]any{"replicaCount": replicas, "cluster": map[string]any{"enabled": true}}
}

// stepsByField indexes a plan's steps by the value path they change.
func stepsByField(plan *scaling.Plan) map[string]scaling.Step {
	out := map[string]scaling.Step{}
	for _, s := range plan.Steps {
		out[s.Field] = s
	}
	return out
}
