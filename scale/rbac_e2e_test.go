package scale_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// TestE2EEveryOperationRunsUnderTheDocumentedRole: every operation of the
// package, Plan, Apply and Verify, on the medium release (NATS and CNPG
// objects), by a user holding exactly scale.Permissions() and nothing
// else. A missing rule is a forbidden request; a rule no request used is
// a failure too, so the README's Role stays the least the operations need.
func TestE2EEveryOperationRunsUnderTheDocumentedRole(t *testing.T) {
	e := newRealEnv(t, medium(t))
	env := testenv.Shared()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// A Deployment no release owns: scale.Replicas drives it through the
	// scale subresource.
	worker := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Labels: map[string]string{"app": "worker"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "worker"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "worker"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "worker:1"}}},
			},
		},
	}
	_, err := e.cluster.Kube.AppsV1().Deployments(e.ns).Create(ctx, worker, metav1.CreateOptions{})
	require.NoError(t, err)
	// A small release beside it: moving it to the medium template creates
	// what the small one lacks (the peers Service, PDBs, the Pooler) and
	// grows the NATS StatefulSet and the CNPG Cluster.
	small, err := chartutil.ReadValuesFile(filepath.Join(testenv.ChartPath("ironflow"), "values-small.yaml"))
	require.NoError(t, err)
	_, err = e.releases.Install(ctx, e.ns, "tiny", testenv.ChartPath("ironflow"), small.AsMap(), time.Minute)
	require.NoError(t, err)

	user := "scale-operator-" + e.ns
	perms := scale.Permissions()
	rbactest.Grant(t, e.cluster.Kube, user, perms, e.ns)
	rec := &reqcount.Recorder{}
	cfg := rbactest.As(env.RESTConfig(), user)
	cfg.Wrap(rec.Wrap)
	cluster, err := scaling.NewCluster(cfg)
	require.NoError(t, err)
	client, err := scale.New(cluster, scale.Options{Releases: helmrelease.New(cfg, cluster.Kube), Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}})
	require.NoError(t, err)

	run := func(name string, plan func() (*scaling.Plan, error)) { plantest.Done(t, ctx, client, name, plan) }
	app := scaling.ObjectRef{Kind: "Deployment", Namespace: e.ns, Name: release}
	run("Replicas 3 -> 5", func() (*scaling.Plan, error) {
		return client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	})
	run("Down to 3", func() (*scaling.Plan, error) {
		return client.PlanDown(ctx, scale.Down{Namespace: e.ns, Release: release, Replicas: ptr[int32](3)})
	})
	run("Autoscale 3..6", func() (*scaling.Plan, error) {
		return client.PlanAutoscale(ctx, scale.Autoscale{Namespace: e.ns, Release: release, MinReplicas: 3, MaxReplicas: 6})
	})
	// The disruption controller counts the pods the autoscale move left
	// a moment after Verify saw them Ready; the restart's PDB guard reads
	// its count, so plan once it is in, as an operator would.
	require.Eventually(t, func() bool {
		pdb, err := e.cluster.Kube.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, release, metav1.GetOptions{})
		return err == nil && pdb.Status.CurrentHealthy == 3 && pdb.Status.DisruptionsAllowed > 0
	}, time.Minute, 20*time.Millisecond)
	run("RolloutRestart", func() (*scaling.Plan, error) {
		return client.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: app})
	})
	run("Template large", func() (*scaling.Plan, error) {
		return client.PlanTemplate(ctx, scale.Template{Namespace: e.ns, Release: release, To: scale.Large})
	})
	run("Template back to medium (the HPA goes)", func() (*scaling.Plan, error) {
		return client.PlanTemplate(ctx, scale.Template{Namespace: e.ns, Release: release, To: scale.Medium})
	})
	run("Template small to medium", func() (*scaling.Plan, error) {
		return client.PlanTemplate(ctx, scale.Template{Namespace: e.ns, Release: "tiny", To: scale.Medium})
	})
	run("Resources: requests and limits of the app", func() (*scaling.Plan, error) {
		return client.PlanResources(ctx, scale.Resources{Namespace: e.ns, Release: release,
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("768Mi")}})
	})
	run("Replicas of a workload without a release", func() (*scaling.Plan, error) {
		return client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Workload: &scaling.ObjectRef{Kind: "Deployment", Namespace: e.ns, Name: "worker"}, Replicas: 2})
	})
	rbactest.Check(t, perms, rec.Requests())
}
