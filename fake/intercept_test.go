package fake_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/scale"
)

// env is a release of the reference chart (clustered, 3 replicas) in
// releases intercepted by funcs, and a scale client on them.
type env struct {
	kube     *k8sfake.Clientset
	releases *fake.Releases
	client   *scale.Client
}

func newEnv(t *testing.T, funcs ...fake.Funcs) *env {
	t.Helper()
	kube := k8sfake.NewClientset()
	var opts []fake.Option
	for _, f := range funcs {
		opts = append(opts, fake.WithInterceptor(f))
	}
	e := &env{kube: kube, releases: fake.NewReleases(kube, opts...)}
	_, err := e.releases.Install(context.Background(), "prod", "web", chart, map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true}})
	require.NoError(t, err)
	e.client, err = scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: e.releases, Chart: chartSource})
	require.NoError(t, err)
	kube.ClearActions()
	return e
}

func (e *env) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := e.kube.AppsV1().Deployments("prod").Get(context.Background(), "web-ironflow", metav1.GetOptions{})
	require.NoError(t, err)
	return d
}

func (e *env) revision(t *testing.T) int {
	t.Helper()
	rel, err := e.releases.Last(context.Background(), "prod", "web")
	require.NoError(t, err)
	return rel.Revision
}

// writes lists the clientset's mutating actions since the last ClearActions.
func (e *env) writes() []string { return plantest.Writes(e.kube) }

// failUpgrade fails every Upgrade with err, without calling next.
func failUpgrade(err error) fake.Funcs {
	return fake.Funcs{Upgrade: func(context.Context, *fake.Releases, string, string, int, scaling.ChartSource, map[string]any) (*scaling.Release, error) {
		return nil, err
	}}
}

func TestInjectedUpgradeFailureFailsApplyAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("helm: upgrade refused")
	e := newEnv(t, failUpgrade(injected))
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: 5})
	require.NoError(t, err, "planning renders and never upgrades")
	require.Empty(t, plan.Blocking())

	applied, err := e.client.Apply(ctx, plan)
	assert.Nil(t, applied)
	require.ErrorIs(t, err, injected)
	require.ErrorIs(t, err, scaling.ErrStepFailed)
	var step *scaling.StepError
	require.ErrorAs(t, err, &step)
	assert.Equal(t, "helm upgrade", step.Step.Action, "the failed step is the upgrade")
	assert.Empty(t, step.Done, "nothing ran before it")

	assert.Equal(t, 1, e.revision(t), "no new revision")
	d := e.deployment(t)
	assert.EqualValues(t, 3, *d.Spec.Replicas, "the Deployment keeps its count")
	assert.EqualValues(t, 1, d.Generation, "and was not written")
	assert.Empty(t, e.writes())
}

func TestInjectedRenderFailureFailsPlanAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("helm: template: deployment.yaml: nil pointer")
	var renders atomic.Int32
	e := newEnv(t, fake.Funcs{Render: func(context.Context, *fake.Releases, string, string, int, scaling.ChartSource, map[string]any) (*scaling.Release, error) {
		renders.Add(1)
		return nil, injected
	}})
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: 5})
	assert.Nil(t, plan)
	require.ErrorIs(t, err, injected)
	assert.Positive(t, renders.Load(), "the plan went through the interceptor")
	assert.Equal(t, 1, e.revision(t))
	assert.EqualValues(t, 1, e.deployment(t).Generation)
	assert.Empty(t, e.writes())
}

func TestUpgradeFailsAfterNCalls(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("helm: another operation is in progress")
	var upgrades atomic.Int32
	e := newEnv(t, fake.Funcs{Upgrade: func(ctx context.Context, next *fake.Releases, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
		if upgrades.Add(1) > 1 {
			return nil, injected
		}
		return next.Upgrade(ctx, namespace, name, revision, source, values)
	}})
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: 5})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err, "the first upgrade reaches the storage")
	assert.Equal(t, 2, e.revision(t))
	assert.EqualValues(t, 5, *e.deployment(t).Spec.Replicas)

	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: 6})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, injected, "the second fails")
	assert.Equal(t, 2, e.revision(t))
	assert.EqualValues(t, 5, *e.deployment(t).Spec.Replicas)
	assert.EqualValues(t, 2, upgrades.Load())
}

func TestInterceptedLastReturnsAModifiedRelease(t *testing.T) {
	e := newEnv(t, fake.Funcs{Last: func(ctx context.Context, next *fake.Releases, namespace, name string) (*scaling.Release, error) {
		rel, err := next.Last(ctx, namespace, name)
		if err == nil {
			rel.Status = "pending-upgrade" // a `helm upgrade` interrupted elsewhere
		}
		return rel, err
	}})
	_, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: "prod", Release: "web", Replicas: 5})
	require.ErrorIs(t, err, scaling.ErrReleasePending, "the operation sees the modified release")
	var pending *scaling.ReleasePendingError
	require.ErrorAs(t, err, &pending)
	assert.Equal(t, "pending-upgrade", pending.Status)
}

func TestInterceptorsStackInOrderAndNilFieldsPassThrough(t *testing.T) {
	ctx := context.Background()
	var calls []string
	record := func(layer string) fake.Funcs {
		return fake.Funcs{
			Install: func(ctx context.Context, next *fake.Releases, namespace, name, chartPath string, values map[string]any) (*scaling.Release, error) {
				calls = append(calls, layer+" install")
				return next.Install(ctx, namespace, name, chartPath, values)
			},
			Upgrade: func(ctx context.Context, next *fake.Releases, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
				calls = append(calls, layer+" upgrade")
				return next.Upgrade(ctx, namespace, name, revision, source, values)
			},
		}
	}
	kube := k8sfake.NewClientset()
	r := fake.NewReleases(kube, fake.WithInterceptor(record("outer")), fake.WithInterceptor(fake.Funcs{}), fake.WithInterceptor(record("inner")), nil)
	rel, err := r.Install(ctx, "prod", "web", chart, map[string]any{"replicaCount": 2})
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Revision)
	rel, err = r.Upgrade(ctx, "prod", "web", 1, chartSource, map[string]any{"replicaCount": 4})
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Revision)
	assert.Equal(t, []string{"outer install", "inner install", "outer upgrade", "inner upgrade"}, calls)

	last, err := r.Last(ctx, "prod", "web")
	require.NoError(t, err, "Last has no interceptor: it reaches the storage")
	assert.Equal(t, 2, last.Revision)
	d, err := kube.AppsV1().Deployments("prod").Get(ctx, "web-ironflow", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 4, *d.Spec.Replicas, "the upgrade through every layer was mirrored")
}

func TestInjectedInstallFailureStoresNothing(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("helm: chart not found")
	kube := k8sfake.NewClientset()
	r := fake.NewReleases(kube, fake.WithInterceptor(fake.Funcs{Install: func(context.Context, *fake.Releases, string, string, string, map[string]any) (*scaling.Release, error) {
		return nil, injected
	}}))
	_, err := r.Install(ctx, "prod", "web", chart, nil)
	require.ErrorIs(t, err, injected)
	_, err = r.Last(ctx, "prod", "web")
	assert.ErrorIs(t, err, scaling.ErrNotFound)
	assert.Empty(t, kube.Actions())
}

// A reactor that fails the mirrored write of the Deployment: Helm stored the
// new revision, the apply of its objects failed, as half-way in a real
// upgrade. The package doc says so; this holds it to it.
func TestAFailingMirroredWriteFailsTheUpgradeAfterItWasStored(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.kube.PrependReactor("update", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	rel, err := e.releases.Upgrade(ctx, "prod", "web", 1, chartSource, map[string]any{"replicaCount": 4, "cluster": map[string]any{"enabled": true}})
	require.Error(t, err)
	assert.True(t, apierrors.IsServiceUnavailable(err), "the reactor's error is kept: %v", err)
	require.NotNil(t, rel)
	assert.Equal(t, 2, rel.Revision)
	assert.Equal(t, 2, e.revision(t))
	assert.EqualValues(t, 3, *e.deployment(t).Spec.Replicas)
}
