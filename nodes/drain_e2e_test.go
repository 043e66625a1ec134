package nodes_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
)

// TestMain starts the real control plane, with CloudNativePG's CRDs, once
// for the package; the unit tests share the binary and ignore it.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{CNPG: true}))
}

func TestDrainSwitchesOverCordonsAndEvictsOnTheRealControlPlane(t *testing.T) {
	env := testenv.Shared()
	require.NotNil(t, env)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	op, err := env.StartOperator(ctx, testenv.OperatorOptions{Namespace: ns, Backend: testenv.NewMemoryBackend()})
	require.NoError(t, err)
	t.Cleanup(func() {
		op.Stop()
		assert.Empty(t, op.Errors(), "the operator double's reconciles failed")
	})
	rec := &reqcount.Recorder{}
	cfg := op.WrapConfig(env.RESTConfig())
	cfg.Wrap(rec.Wrap)
	sc, err := scaling.NewCluster(cfg)
	require.NoError(t, err)

	// A Deployment of 3 spread over the nodes.
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "nginx"}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
				WhenUnsatisfiable: corev1.DoNotSchedule, NodeTaintsPolicy: ptr.To(corev1.NodeInclusionPolicyHonor), LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}},
		}}}}
	_, err = env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	cl := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": map[string]any{"name": "pg"},
		"spec": map[string]any{"instances": int64(2), "storage": map[string]any{"size": "1Gi"}},
	}}
	_, err = sc.Dynamic.Resource(testenv.ClustersGVR).Namespace(ns).Create(ctx, cl, metav1.CreateOptions{})
	require.NoError(t, err)

	// Wait (a watch) for the cluster healthy and the Deployment ready.
	w, err := sc.Dynamic.Resource(testenv.ClustersGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=pg"})
	require.NoError(t, err)
	for ev := range w.ResultChan() {
		u, _ := ev.Object.(*unstructured.Unstructured)
		if u == nil {
			continue
		}
		st, _, _ := unstructured.NestedMap(u.Object, "status")
		if st["phase"] == testenv.PhaseHealthy && st["readyInstances"] == int64(2) {
			break
		}
	}
	w.Stop()
	dw, err := env.Client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=web"})
	require.NoError(t, err)
	for ev := range dw.ResultChan() {
		if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Status.ReadyReplicas == 3 {
			break
		}
	}
	dw.Stop()
	require.NoError(t, ctx.Err())

	primary, err := env.Client.CoreV1().Pods(ns).Get(ctx, "pg-1", metav1.GetOptions{})
	require.NoError(t, err)
	node := primary.Spec.NodeName
	require.NotEmpty(t, node)
	t.Cleanup(func() {
		_, _ = env.Client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(`{"spec":{"unschedulable":false}}`), metav1.PatchOptions{})
	})

	// The drain runs as a user holding exactly nodes.Permissions().
	user := "drainer-" + ns
	rbactest.Grant(t, env.Client, user, nodes.Permissions(), ns)
	roleCfg := rbactest.As(op.WrapConfig(env.RESTConfig()), user)
	roleCfg.Wrap(rec.Wrap)
	asRole, err := scaling.NewCluster(roleCfg)
	require.NoError(t, err)
	client, err := nodes.New(asRole, nodes.Options{EvictionRetry: time.Second})
	require.NoError(t, err)
	rec.Reset() // the fixture's own requests are not the drain's
	var all []reqcount.Request
	defer func() {
		all = append(all, rec.Requests()...)
		t.Logf("observed:\n%s", rbactest.Observed(all))
		rbactest.Check(t, nodes.Permissions(), all)
	}()

	// A PDB that allows no disruption (the real disruption controller
	// computes its status) blocks the drain, named, and nothing is written.
	pdbs := env.Client.PolicyV1().PodDisruptionBudgets(ns)
	_, err = pdbs.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr.To(intstr.FromInt32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitPDB(t, ctx, env.Client, ns, "web", 0)
	all = append(all, rec.Requests()...)
	rec.Reset()
	blockedPlan, err := client.PlanDrain(ctx, nodes.Drain{Node: node})
	require.NoError(t, err)
	require.NotEmpty(t, blockedPlan.Blocking(), blockedPlan.String())
	_, err = client.Apply(ctx, blockedPlan)
	var budget *nodes.DisruptionBudgetError
	require.ErrorAs(t, err, &budget)
	assert.Equal(t, []string{ns + "/web"}, budget.Budgets)
	assert.Empty(t, rec.Mutating(), "a blocked drain writes nothing")
	// One disruption allowed: the drain goes ahead and honours it.
	_, err = pdbs.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"minAvailable":2}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	waitPDB(t, ctx, env.Client, ns, "web", 1)

	all = append(all, rec.Requests()...)
	rec.Reset()
	plan, err := client.PlanDrain(ctx, nodes.Drain{Node: node})
	require.NoError(t, err)
	assert.Empty(t, rec.Mutating(), "planning writes nothing")
	require.Empty(t, plan.Blocking(), plan.String())
	require.GreaterOrEqual(t, len(plan.Steps), 3, plan.String())
	assert.Equal(t, nodes.ActionSwitchover, plan.Steps[0].Action)
	assert.Equal(t, "pg-1", plan.Steps[0].Before)
	assert.Equal(t, nodes.ActionCordon, plan.Steps[1].Action)
	evicted := map[string]bool{}
	for _, s := range plan.Steps[2:] {
		assert.Equal(t, nodes.ActionEvict, s.Action)
		evicted[s.Object.Name] = true
	}
	assert.True(t, evicted["pg-1"], "the old primary is evicted after the switchover")

	applied, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())

	u, err := sc.Dynamic.Resource(testenv.ClustersGVR).Namespace(ns).Get(ctx, "pg", metav1.GetOptions{})
	require.NoError(t, err)
	cur, _, _ := unstructured.NestedString(u.Object, "status", "currentPrimary")
	assert.Equal(t, "pg-2", cur, "the primary moved")
	n, err := env.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, n.Spec.Unschedulable)
	for _, r := range rec.Mutating() {
		assert.NotContains(t, r.String(), "DELETE", "evictions, never deletes: %s", r)
	}
	t.Logf("requests: %d\n%s", rec.Total(), rec.Summary())
}

// waitPDB watches a PDB until the disruption controller reports allowed
// disruptions for its current generation.
func waitPDB(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name string, allowed int32) {
	t.Helper()
	w, err := kube.PolicyV1().PodDisruptionBudgets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	require.NoError(t, err)
	defer w.Stop()
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*policyv1.PodDisruptionBudget); ok && p.Status.ObservedGeneration == p.Generation && p.Status.DisruptionsAllowed == allowed && p.Status.CurrentHealthy == 3 {
			return
		}
	}
	require.NoError(t, ctx.Err(), "PDB %s never allowed %d disruptions", name, allowed)
}
