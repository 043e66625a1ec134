package nodes_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/postgres"
)

var clustersGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}

const ns, nodeName = "app", "node-a"

type instances map[string]*postgres.InstanceStatus

func (m instances) Status(_ context.Context, p *corev1.Pod) (*postgres.InstanceStatus, error) {
	s := *m[p.Name]
	return &s, nil
}

type fixture struct {
	kube *k8sfake.Clientset
	dyn  *dynamicfake.FakeDynamicClient
	c    *nodes.Client
	st   instances
}

func newFixture(t *testing.T, cordoned bool, objs ...kruntime.Object) *fixture {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}, Spec: corev1.NodeSpec{Unschedulable: cordoned}}
	f := &fixture{kube: k8sfake.NewClientset(append(objs, node)...), st: instances{}}
	f.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(), map[schema.GroupVersionResource]string{
		clustersGVR: "ClusterList", {Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}: "PoolerList"})
	var err error
	f.c, err = nodes.New(&scaling.Cluster{Kube: f.kube, Dynamic: f.dyn}, nodes.Options{Postgres: postgres.Options{Instances: f.st}})
	require.NoError(t, err)
	return f
}

func (f *fixture) mutating() []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range append(f.kube.Actions(), f.dyn.Actions()...) {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a)
		}
	}
	return out
}

func (f *fixture) reset() { f.kube.ClearActions(); f.dyn.ClearActions() }

func ownerRS(name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: types.UID("uid-" + name), Controller: ptr.To(true)}}
}

func pod(name, node string, labels map[string]string, owners []metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), Labels: labels, OwnerReferences: owners},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
}

// cnpg adds a Cluster of n instances (pg-1 the primary, on the node; the
// others elsewhere) to the dynamic fake, and returns its pods.
func (f *fixture) cnpg(t *testing.T, n int, replayBehind uint64) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": map[string]any{"name": "pg", "namespace": ns, "uid": "uid-pg"},
		"spec":   map[string]any{"instances": int64(n)},
		"status": map[string]any{"currentPrimary": "pg-1", "targetPrimary": "pg-1", "phase": "Cluster in healthy state"},
	}}
	_, err := f.dyn.Resource(clustersGVR).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
	require.NoError(t, err)
	own := []metav1.OwnerReference{{APIVersion: "postgresql.cnpg.io/v1", Kind: "Cluster", Name: "pg", UID: "uid-pg", Controller: ptr.To(true)}}
	for i := 1; i <= n; i++ {
		name, node, role := "pg-"+string(rune('0'+i)), "node-b", "replica"
		if i == 1 {
			node, role = nodeName, "primary"
		}
		p := pod(name, node, map[string]string{postgres.LabelCluster: "pg", postgres.LabelPodRole: "instance", postgres.LabelInstanceRole: role, postgres.LabelRole: role}, own)
		_, err := f.kube.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err)
		s := &postgres.InstanceStatus{IsPrimary: i == 1, CurrentLSN: 1 << 30, ReceivedLSN: 1 << 30, ReplayLSN: postgres.LSN(1<<30 - replayBehind)}
		f.st[name] = s
	}
	f.reset()
}

func TestDrainRejectsBadInputBeforeAnyRequest(t *testing.T) {
	f := newFixture(t, false)
	for _, req := range []nodes.Drain{{}, {Node: nodeName, MaxLagBytes: -1}, {Node: "a/b"}} {
		_, err := f.c.PlanDrain(context.Background(), req)
		var bad *scaling.InvalidInputError
		require.ErrorAs(t, err, &bad, "%+v", req)
	}
	assert.Empty(t, f.kube.Actions(), "nothing is read")
	assert.Empty(t, f.dyn.Actions())
}

func TestDrainGuardsBlockWithTypedErrorsAndWriteNothing(t *testing.T) {
	web := pod("web-1", nodeName, map[string]string{"app": "web"}, ownerRS("web"))
	bare := pod("bare", nodeName, nil, nil)
	budget := func(name string, sel map[string]string) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}}
	}
	cases := []struct {
		name  string
		objs  []kruntime.Object
		pg    int
		lag   uint64
		guard string
		check func(t *testing.T, err error)
	}{
		{"single instance", nil, 1, 0, nodes.GuardSingleInstance, func(t *testing.T, err error) {
			var e *postgres.SingleInstanceError
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "pg", e.Cluster)
		}},
		{"budget", []kruntime.Object{web, budget("web", map[string]string{"app": "web"})}, 0, 0, nodes.GuardDisruptionBudget, func(t *testing.T, err error) {
			var e *nodes.DisruptionBudgetError
			require.ErrorAs(t, err, &e)
			assert.Equal(t, []string{ns + "/web"}, e.Budgets)
			assert.Equal(t, []string{ns + "/web-1"}, e.Pods)
		}},
		{"bare pod", []kruntime.Object{bare}, 0, 0, nodes.GuardUnmanaged, func(t *testing.T, err error) {
			var e *nodes.UnmanagedPodsError
			require.ErrorAs(t, err, &e)
			assert.Equal(t, []string{ns + "/bare"}, e.Pods)
		}},
		{"switchover lag", nil, 2, 1 << 26, nodes.GuardSwitchover, func(t *testing.T, err error) {
			var e *nodes.SwitchoverBlockedError
			require.ErrorAs(t, err, &e)
			var lag *postgres.LagError
			require.ErrorAs(t, err, &lag, "the postgres cause is there too")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, false, tc.objs...)
			if tc.pg > 0 {
				f.cnpg(t, tc.pg, tc.lag)
			}
			ctx := context.Background()
			plan, err := f.c.PlanDrain(ctx, nodes.Drain{Node: nodeName})
			require.NoError(t, err)
			g, ok := plan.Guard(tc.guard)
			require.True(t, ok)
			require.Equal(t, scaling.Block, g.Outcome, plan.String())
			tc.check(t, g.Cause)
			// Through Apply, in memory and after a JSON round trip.
			_, err = f.c.Apply(ctx, plan)
			var blocked *scaling.GuardBlockedError
			require.ErrorAs(t, err, &blocked)
			tc.check(t, err)
			stored := roundTrip(t, plan)
			_, err = f.c.Apply(ctx, stored)
			tc.check(t, err)
			assert.Empty(t, f.mutating(), "a blocked drain writes nothing")
		})
	}
}

func roundTrip(t *testing.T, p *scaling.Plan) *scaling.Plan {
	t.Helper()
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	var out scaling.Plan
	require.NoError(t, json.Unmarshal(raw, &out))
	return &out
}

func TestDrainAcceptDowntimeAndPrimaryBudgetAndNATS(t *testing.T) {
	nats := pod("nats-0", nodeName, map[string]string{"app.kubernetes.io/name": "nats"},
		[]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "nats", UID: "uid-nats", Controller: ptr.To(true)}})
	primaryBudget := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "pg-primary", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{postgres.LabelCluster: "pg", postgres.LabelInstanceRole: "primary"}}}}
	f := newFixture(t, false, nats, primaryBudget)
	f.cnpg(t, 2, 0)
	plan, err := f.c.PlanDrain(context.Background(), nodes.Drain{Node: nodeName})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "the primary's budget does not count: the plan switches it over first\n%s", plan.String())
	g, _ := plan.Guard(nodes.GuardNATS)
	assert.Equal(t, scaling.Warn, g.Outcome)
	assert.Contains(t, g.Reason, ns+"/nats-0")
	var actions []string
	for _, s := range plan.Steps {
		actions = append(actions, s.Action+" "+s.Object.Name)
	}
	assert.Equal(t, []string{"switchover pg", "cordon " + nodeName, "evict nats-0", "evict pg-1"}, actions)
	assert.Equal(t, "pg-2", plan.Steps[0].After)

	f1 := newFixture(t, false)
	f1.cnpg(t, 1, 0)
	plan, err = f1.c.PlanDrain(context.Background(), nodes.Drain{Node: nodeName, AcceptDowntime: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	g, _ = plan.Guard(nodes.GuardSingleInstance)
	assert.Equal(t, scaling.Warn, g.Outcome)
}

func TestDrainOfACordonedEmptyNodeIsANoOp(t *testing.T) {
	ds := pod("agent", nodeName, nil, []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "uid-ds", Controller: ptr.To(true)}})
	mirror := pod("etcd", nodeName, nil, nil)
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
	f := newFixture(t, true, ds, mirror)
	ctx := context.Background()
	plan, err := f.c.PlanDrain(ctx, nodes.Drain{Node: nodeName})
	require.NoError(t, err)
	require.True(t, plan.NoOp, plan.String())
	assert.Empty(t, plan.Steps)
	res, err := f.c.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, res.Changed)
	assert.Empty(t, f.mutating())
}

func TestDrainCordonsAndEvictsThroughTheEvictionAPI(t *testing.T) {
	web := pod("web-1", nodeName, map[string]string{"app": "web"}, ownerRS("web"))
	web.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	f := newFixture(t, false, web)
	ctx := context.Background()
	plan, err := f.c.PlanDrain(ctx, nodes.Drain{Node: nodeName})
	require.NoError(t, err)
	require.Len(t, plan.Steps, 2)
	assert.Contains(t, plan.Steps[1].Note, "emptyDir")
	f.reset()
	res, err := f.c.Apply(ctx, roundTrip(t, plan))
	require.NoError(t, err)
	assert.True(t, res.Changed)
	var got []string
	for _, a := range f.mutating() {
		got = append(got, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
		assert.NotEqual(t, "delete", a.GetVerb(), "evictions, never deletes")
	}
	assert.Equal(t, []string{"patch nodes/", "create pods/eviction"}, got)
	n, err := f.kube.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, n.Spec.Unschedulable)
}
