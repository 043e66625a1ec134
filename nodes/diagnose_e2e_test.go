package nodes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
)

// TestDiagnoseRecommendsWorkersTheRealSchedulerAgrees proves a
// recommendation against the real kube-scheduler: two cpx32 KWOK workers
// of a pool of its own hold two 1500m pods each, three more pend with the
// scheduler's "Insufficient cpu"; Diagnose, as a user holding exactly
// DiagnosePermissions, must report that reason and recommend 2 more cpx32
// workers; once 2 such nodes join, every pod schedules.
func TestDiagnoseRecommendsWorkersTheRealSchedulerAgrees(t *testing.T) {
	env := testenv.Shared()
	require.NotNil(t, env)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	pool := "diag-" + hex.EncodeToString(suffix) // no other test's pods select it
	poolLabels := map[string]string{corev1.LabelInstanceTypeStable: "cpx32", diagPoolLabel: pool}
	// One cleanup, registered after the namespace's so it runs before it:
	// the Deployment first (nothing re-creates pods), then the nodes.
	var added []string
	t.Cleanup(func() {
		bg := context.Background()
		_ = env.Client.AppsV1().Deployments(ns).Delete(bg, "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		for _, name := range added {
			_ = env.Client.CoreV1().Nodes().Delete(bg, name, metav1.DeleteOptions{})
		}
	})
	addNode := func(name string) {
		t.Helper()
		added = append(added, name)
		require.NoError(t, env.AddNode(ctx, testenv.NodeSpec{Name: name, CPU: "4", Memory: "8Gi", Labels: poolLabels}))
	}
	addNode(pool + "-1")
	addNode(pool + "-2")

	const replicas = 7 // 2 per node fit (3000m of 4), 3 pend
	labels := map[string]string{"app": "diag-web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{diagPoolLabel: pool},
			Containers:   []corev1.Container{{Name: "web", Image: "nginx", Resources: corev1.ResourceRequirements{Requests: diagRes("1500m", "64Mi")}}},
		}}}}
	_, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	diagWaitPods(t, ctx, env.Client, ns, func(bound, unschedulable int) bool { return bound == 4 && unschedulable == 3 })

	user := "diagnoser-" + ns
	// No metrics-server runs here: the metrics rules are not exercised
	// (the probe answers 404 and Diagnose reports usage missing).
	perms := nodes.DiagnosePermissions()
	perms.Cluster = []rbacv1.PolicyRule{}
	for _, r := range nodes.DiagnosePermissions().Cluster {
		if r.APIGroups[0] != "metrics.k8s.io" {
			perms.Cluster = append(perms.Cluster, r)
		}
	}
	rbactest.Grant(t, env.Client, user, perms)
	rec := &reqcount.Recorder{}
	cfg := rbactest.As(env.RESTConfig(), user)
	cfg.Wrap(rec.Wrap)
	sc, err := scaling.NewCluster(cfg)
	require.NoError(t, err)
	client, err := nodes.New(sc, nodes.Options{})
	require.NoError(t, err)
	rec.Reset()

	d, err := client.Diagnose(ctx, nodes.Diagnose{Namespace: ns, ServerType: "cpx32", NodeSelector: diagPoolLabel + "=" + pool})
	require.NoError(t, err)
	t.Logf("diagnosis:\n%s", d)
	t.Logf("requests: %d\n%s", rec.Total(), rec.Paths())
	rbactest.Check(t, perms, rec.Requests())
	assert.Empty(t, rec.Mutating(), "Diagnose writes nothing")
	resources, discovery := 0, 0
	for _, q := range rec.Requests() {
		if strings.HasPrefix(q.Resource, "/") {
			discovery++
		} else {
			resources++
		}
	}
	assert.Equal(t, 3, resources, "one list each of nodes, pods and DaemonSets")
	// The metrics probe goes through the Cluster's cached discovery: its
	// first use reads the groups (GET /api and /apis), later ones nothing.
	assert.LessOrEqual(t, discovery, 2)

	require.Len(t, d.Pending, 3, d.String())
	for _, p := range d.Pending {
		assert.Equal(t, nodes.ReasonInsufficientCPU, p.Reason, p.Message)
		assert.Contains(t, p.Message, "2 Insufficient cpu", "the real scheduler's words")
		assert.Contains(t, p.Reasons, nodes.ReasonCount{Reason: nodes.ReasonInsufficientCPU, Nodes: 2, Text: "Insufficient cpu"})
		assert.True(t, p.Fixable, p.NotFixable)
		assert.Equal(t, "1500m", ptr.To(p.Requests[corev1.ResourceCPU]).String())
	}
	var inPool int
	for _, n := range d.Nodes {
		if !n.Pool {
			continue
		}
		inPool++
		assert.Equal(t, "3", ptr.To(n.Requested[corev1.ResourceCPU]).String(), n.Name)
		assert.Equal(t, int64(75), n.Percent[corev1.ResourceCPU], n.Name)
		assert.True(t, n.Ready, n.Name)
	}
	assert.Equal(t, 2, inPool)
	assert.False(t, d.MetricsServed, "no metrics-server in the test environment")
	r := d.Recommendation
	require.NotNil(t, r)
	assert.Contains(t, r.AllocatableFrom, pool+"-1, "+pool+"-2")
	assert.Equal(t, "4", ptr.To(r.Allocatable[corev1.ResourceCPU]).String())
	require.Equal(t, 2, r.AddNodes, r.Reasons)
	assert.Empty(t, r.Unplaceable)

	// Add what was recommended: the real scheduler places every pod.
	for i := range r.AddNodes {
		addNode(fmt.Sprintf("%s-%d", pool, 3+i))
	}
	diagWaitPods(t, ctx, env.Client, ns, func(bound, unschedulable int) bool { return bound == replicas })

	rec.Reset()
	d, err = client.Diagnose(ctx, nodes.Diagnose{Namespace: ns, ServerType: "cpx32", NodeSelector: diagPoolLabel + "=" + pool})
	require.NoError(t, err)
	assert.Equal(t, 3, rec.Total(), "the discovery cache answers the probe: nodes, pods, DaemonSets")
	assert.Empty(t, d.Pending)
	assert.Equal(t, 0, d.Recommendation.AddNodes)
}

// diagWaitPods watches the namespace's pods until done(bound, unschedulable)
// holds: bound counts pods with a node, unschedulable the pending ones the
// scheduler has refused (PodScheduled False, Unschedulable).
func diagWaitPods(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns string, done func(bound, unschedulable int) bool) {
	t.Helper()
	w, err := kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	pods := map[string]*corev1.Pod{}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if ev.Type == "DELETED" {
			delete(pods, p.Name)
		} else {
			pods[p.Name] = p
		}
		bound, unschedulable := 0, 0
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				bound++
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					unschedulable++
				}
			}
		}
		if done(bound, unschedulable) {
			return
		}
	}
	require.NoError(t, ctx.Err(), "the pods of %s never reached the expected state", ns)
	t.Fatalf("the watch of %s's pods ended", ns)
}
