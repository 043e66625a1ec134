package nodes_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nodes"
)

var diagUpdate = flag.Bool("diagnose.update", false, "rewrite the golden files of the Diagnose tests")

var (
	diagNodeMetricsGVR = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "nodes"}
	diagPodMetricsGVR  = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}
)

const (
	diagPoolLabel = "scaling.ironflow.dev/pool"
	diagNS        = "shop"
)

type diagFixture struct {
	kube *k8sfake.Clientset
	dyn  *dynamicfake.FakeDynamicClient
	c    *nodes.Client
}

func newDiagFixture(t testing.TB, objs ...kruntime.Object) *diagFixture {
	t.Helper()
	f := &diagFixture{kube: k8sfake.NewClientset(objs...)}
	f.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(), map[schema.GroupVersionResource]string{
		diagNodeMetricsGVR: "NodeMetricsList", diagPodMetricsGVR: "PodMetricsList"})
	var err error
	f.c, err = nodes.New(&scaling.Cluster{Kube: f.kube, Dynamic: f.dyn}, nodes.Options{})
	require.NoError(t, err)
	return f
}

// serveMetrics registers metrics.k8s.io in the fake discovery and stores
// the usage: node name -> "cpu,memory", namespace/pod -> "cpu,memory".
func (f *diagFixture) serveMetrics(t testing.TB, nodeUsage, podUsage map[string][2]string) {
	t.Helper()
	f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: "metrics.k8s.io/v1beta1",
		APIResources: []metav1.APIResource{{Name: "nodes", Kind: "NodeMetrics", Verbs: []string{"get", "list"}}, {Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}}},
	}}
	ctx := context.Background()
	for name, u := range nodeUsage {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
			"metadata": map[string]any{"name": name}, "window": "20s", "usage": map[string]any{"cpu": u[0], "memory": u[1]}}}
		_, err := f.dyn.Resource(diagNodeMetricsGVR).Create(ctx, obj, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for key, u := range podUsage {
		ns, name := splitKey(key)
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
			"metadata":   map[string]any{"name": name, "namespace": ns},
			"containers": []any{map[string]any{"name": "app", "usage": map[string]any{"cpu": u[0], "memory": u[1]}}}}}
		_, err := f.dyn.Resource(diagPodMetricsGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

func (f *diagFixture) requests() int { return len(f.kube.Actions()) + len(f.dyn.Actions()) }

func (f *diagFixture) reset() { f.kube.ClearActions(); f.dyn.ClearActions() }

func splitKey(k string) (string, string) {
	for i := range k {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}

func diagRes(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

// diagNode is a Ready node whose allocatable is its capacity.
func diagNode(name, cpu, mem string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	l := map[string]string{corev1.LabelHostname: name}
	for k, v := range labels {
		l[k] = v
	}
	alloc := diagRes(cpu, mem)
	alloc[corev1.ResourcePods] = resource.MustParse("110")
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func diagContainer(cpu, mem string) corev1.Container {
	return corev1.Container{Name: "app", Image: "app", Resources: corev1.ResourceRequirements{Requests: diagRes(cpu, mem)}}
}

// diagBound is a running pod on a node.
func diagBound(ns, name, node string, cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node, Containers: cs}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

// diagPending is a pod the scheduler refused with msg ("" = no verdict
// yet).
func diagPending(ns, name, msg string, cs ...corev1.Container) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: cs}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if msg != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}}
	}
	return p
}

func TestDiagnoseRejectsBadInputBeforeAnyRequest(t *testing.T) {
	f := newDiagFixture(t, diagNode("n1", "4", "8Gi", nil))
	zero := nodes.ServerTypes{{Name: "tiny"}}
	for _, req := range []nodes.Diagnose{
		{Selector: "app in (web"},
		{Namespace: "Not_A_Namespace"},
		{ServerType: "cpx99"},
		{ServerType: "cpx32", NodeSelector: "pool in (a,"},
		{ServerType: "cpx32", Reserved: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}},
		{ServerType: "tiny", ServerTypes: zero},
		{NodeSelector: diagPoolLabel + "=a"}, // a pool, but no type to add
		{ServerType: "cpx32", NodeSelector: corev1.LabelInstanceTypeStable + "=cpx42"},
	} {
		_, err := f.c.Diagnose(context.Background(), req)
		var bad *scaling.InvalidInputError
		require.ErrorAs(t, err, &bad, "%+v", req)
		assert.True(t, errors.Is(err, scaling.ErrInvalidInput))
	}
	assert.Empty(t, f.kube.Actions(), "nothing is read, discovery included")
	assert.Empty(t, f.dyn.Actions())
}

func TestDiagnoseParsesTheSchedulersReasons(t *testing.T) {
	type rc = nodes.ReasonCount
	cases := []struct {
		name    string
		msg     string
		primary nodes.Reason
		nodes   int
		reasons []rc
	}{
		{"insufficient cpu with preemption", "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
			nodes.ReasonInsufficientCPU, 3, []rc{{Reason: nodes.ReasonInsufficientCPU, Nodes: 3, Text: "Insufficient cpu"}}},
		{"a control-plane taint and memory", "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
			nodes.ReasonInsufficientMemory, 3, []rc{{Reason: nodes.ReasonTaint, Nodes: 1, Text: "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"}, {Reason: nodes.ReasonInsufficientMemory, Nodes: 2, Text: "Insufficient memory"}}},
		{"a resource shortage on fewer nodes is still primary", "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
			nodes.ReasonInsufficientCPU, 4, []rc{{Reason: nodes.ReasonInsufficientCPU, Nodes: 1, Text: "Insufficient cpu"}, {Reason: nodes.ReasonAffinity, Nodes: 3, Text: "node(s) didn't match Pod's node affinity/selector"}}},
		{"node affinity", "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
			nodes.ReasonAffinity, 4, []rc{{Reason: nodes.ReasonAffinity, Nodes: 4, Text: "node(s) didn't match Pod's node affinity/selector"}}},
		{"1.37's taint wording", "0/3 nodes are available: 3 node(s) had untolerated taint(s). preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			nodes.ReasonTaint, 3, []rc{{Reason: nodes.ReasonTaint, Nodes: 3, Text: "node(s) had untolerated taint(s)"}}},
		{"volume node affinity conflict", "0/3 nodes are available: 3 node(s) had volume node affinity conflict. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			nodes.ReasonVolume, 3, []rc{{Reason: nodes.ReasonVolume, Nodes: 3, Text: "node(s) had volume node affinity conflict"}}},
		{"an unbound claim holds for every node", "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			nodes.ReasonVolume, 3, []rc{{Reason: nodes.ReasonVolume, Nodes: 3, Text: "pod has unbound immediate PersistentVolumeClaims"}}},
		{"too many pods", "0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
			nodes.ReasonInsufficientPods, 2, []rc{{Reason: nodes.ReasonInsufficientPods, Nodes: 2, Text: "Too many pods"}}},
		{"cordoned, cpu and memory: cpu wins the tie", "0/5 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu, 2 Insufficient memory. preemption: 0/5 nodes are available: 1 Preemption is not helpful for scheduling, 4 No preemption victims found for incoming pod.",
			nodes.ReasonInsufficientCPU, 5, []rc{{Reason: nodes.ReasonUnschedulable, Nodes: 1, Text: "node(s) were unschedulable"}, {Reason: nodes.ReasonInsufficientCPU, Nodes: 2, Text: "Insufficient cpu"}, {Reason: nodes.ReasonInsufficientMemory, Nodes: 2, Text: "Insufficient memory"}}},
		{"a PersistentVolume's node affinity and a selector", "0/6 nodes are available: 2 node(s) didn't match PersistentVolume's node affinity, 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.",
			nodes.ReasonAffinity, 6, []rc{{Reason: nodes.ReasonVolume, Nodes: 2, Text: "node(s) didn't match PersistentVolume's node affinity"}, {Reason: nodes.ReasonAffinity, Nodes: 4, Text: "node(s) didn't match Pod's node affinity/selector"}}},
		{"topology spread", "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
			nodes.ReasonOther, 3, []rc{{Reason: nodes.ReasonOther, Nodes: 3, Text: "node(s) didn't match pod topology spread constraints"}}},
		{"an extended resource", "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint {gpu: true}. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			nodes.ReasonTaint, 3, []rc{{Reason: nodes.ReasonOther, Nodes: 1, Text: "Insufficient nvidia.com/gpu"}, {Reason: nodes.ReasonTaint, Nodes: 2, Text: "node(s) had untolerated taint {gpu: true}"}}},
		{"no nodes", "no nodes available to schedule pods", nodes.ReasonNoNodes, 0, []rc{{Reason: nodes.ReasonNoNodes, Nodes: 0, Text: "no nodes available to schedule pods"}}},
		{"not tried yet", "", nodes.ReasonNotYetScheduled, 0, nil},
	}
	var objs []kruntime.Object
	for i, c := range cases {
		objs = append(objs, diagPending(diagNS, "p"+string(rune('a'+i)), c.msg, diagContainer("100m", "")))
	}
	gated := diagPending(diagNS, "zz-gated", "", diagContainer("100m", ""))
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
	gated.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated, Message: "Scheduling is blocked due to non-empty scheduling gates"}}
	objs = append(objs, gated)
	f := newDiagFixture(t, objs...)
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{Namespace: diagNS})
	require.NoError(t, err)
	require.Len(t, d.Pending, len(cases)+1)
	assert.Equal(t, nodes.ReasonSchedulingGated, d.Pending[len(cases)].Reason, "gated sorts last")
	for i, c := range cases {
		p := d.Pending[i]
		assert.Equal(t, c.msg, p.Message, c.name)
		assert.Equal(t, c.primary, p.Reason, c.name)
		assert.Equal(t, c.nodes, p.Nodes, c.name)
		assert.Equal(t, c.reasons, p.Reasons, c.name)
		assert.False(t, p.Fixable, "no ServerType: nothing is judged")
	}
	assert.Nil(t, d.Recommendation)
}

func TestDiagnoseCountsRequestsAsTheScheduler(t *testing.T) {
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	// max(app 100m+200m, init 500m) = 500m; memory max(128Mi, 32Mi).
	withInit := diagBound(diagNS, "with-init", "n1", diagContainer("100m", "64Mi"), diagContainer("200m", "64Mi"))
	withInit.Spec.InitContainers = []corev1.Container{diagContainer("500m", "32Mi")}
	// Sidecar 100m runs with the app (200m): 300m; the init container
	// after it runs with it: 300m + 100m = 400m, the larger.
	sidecar := diagBound(diagNS, "sidecar", "n1", diagContainer("200m", ""))
	sc := diagContainer("100m", "")
	sc.RestartPolicy = always
	sidecar.Spec.InitContainers = []corev1.Container{sc, diagContainer("300m", "")}
	// RuntimeClass overhead is added: 100m + 250m.
	overhead := diagBound(diagNS, "overhead", "n1", diagContainer("100m", ""))
	overhead.Spec.Overhead = diagRes("250m", "")
	// Pod-level requests replace the containers' for cpu.
	podLevel := diagBound(diagNS, "pod-level", "n1", diagContainer("100m", ""))
	podLevel.Spec.Resources = &corev1.ResourceRequirements{Requests: diagRes("1", "")}
	// A resize in flight counts at the larger of spec and status.
	resizing := diagBound(diagNS, "resizing", "n1", diagContainer("200m", ""))
	resizing.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", AllocatedResources: diagRes("500m", "")}}
	// Terminated pods hold nothing; terminating ones do.
	done := diagBound(diagNS, "done", "n1", diagContainer("3", ""))
	done.Status.Phase = corev1.PodSucceeded
	pendingInit := diagPending(diagNS, "pending", "0/1 nodes are available: 1 Insufficient cpu.", diagContainer("100m", "10Mi"))
	pendingInit.Spec.InitContainers = []corev1.Container{diagContainer("2", "")}

	f := newDiagFixture(t, diagNode("n1", "4", "8Gi", nil), withInit, sidecar, overhead, podLevel, resizing, done, pendingInit)
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{})
	require.NoError(t, err)
	require.Len(t, d.Nodes, 1)
	n := d.Nodes[0]
	assert.Equal(t, "2750m", ptr.To(n.Requested[corev1.ResourceCPU]).String(), "500 + 400 + 350 + 1000 + 500")
	assert.Equal(t, int64(128<<20), ptr.To(n.Requested[corev1.ResourceMemory]).Value())
	assert.Equal(t, int64(5), ptr.To(n.Requested[corev1.ResourcePods]).Value(), "5 non-terminated pods")
	assert.Equal(t, int64(68), n.Percent[corev1.ResourceCPU], "2750m of 4, truncated as kubectl describe node")
	assert.Equal(t, int64(1), n.Percent[corev1.ResourceMemory])
	assert.True(t, n.Ready)
	assert.Nil(t, n.Usage, "no metrics API")
	require.Len(t, d.Pending, 1)
	assert.Equal(t, "2", ptr.To(d.Pending[0].Requests[corev1.ResourceCPU]).String(), "max(init 2, app 100m)")
	assert.Equal(t, int64(1), ptr.To(d.Pending[0].Requests[corev1.ResourcePods]).Value())
	assert.False(t, d.MetricsServed)
}

// diagPool is two full cpx32 pool nodes, tainted for the pool, whose
// kubelets keep 100m: 3900m allocatable each.
func diagPool() []kruntime.Object {
	labels := map[string]string{corev1.LabelInstanceTypeStable: "cpx32", diagPoolLabel: "workers", corev1.LabelTopologyZone: "fsn1-dc14"}
	taint := corev1.Taint{Key: "dedicated", Value: "workers", Effect: corev1.TaintEffectNoSchedule}
	var out []kruntime.Object
	for _, name := range []string{"worker-1", "worker-2"} {
		out = append(out, diagNode(name, "3900m", "7Gi", labels, taint), diagBound(diagNS, "full-"+name, name, diagContainer("3", "4Gi")))
	}
	return append(out, diagNode("control-plane", "2", "4Gi", map[string]string{"node-role.kubernetes.io/control-plane": ""},
		corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}))
}

func diagTolerating(p *corev1.Pod) *corev1.Pod {
	p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "workers", Effect: corev1.TaintEffectNoSchedule}}
	p.Spec.NodeSelector = map[string]string{diagPoolLabel: "workers"}
	return p
}

const diagFullMsg = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."

func TestDiagnoseBinPacksTheFixablePodsOntoNewNodes(t *testing.T) {
	objs := diagPool()
	for _, name := range []string{"web-1", "web-2", "web-3", "web-4", "web-5"} {
		objs = append(objs, diagTolerating(diagPending(diagNS, name, diagFullMsg, diagContainer("1500m", "256Mi"))))
	}
	big := diagTolerating(diagPending(diagNS, "big", diagFullMsg, diagContainer("5", "1Gi")))
	// Schedulable elsewhere, but not on the pool: no toleration.
	untolerating := diagPending(diagNS, "untolerating", "0/3 nodes are available: 3 node(s) had untolerated taint(s). preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.", diagContainer("100m", ""))
	otherPool := diagTolerating(diagPending(diagNS, "other-pool", "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", diagContainer("100m", "")))
	otherPool.Spec.NodeSelector = map[string]string{diagPoolLabel: "gpu"}
	volume := diagTolerating(diagPending(diagNS, "db-0", "0/3 nodes are available: 3 node(s) had volume node affinity conflict.", diagContainer("100m", "")))
	// Required node affinity the new nodes' labels (the pool's zone) meet.
	zoned := diagTolerating(diagPending(diagNS, "zoned", diagFullMsg, diagContainer("500m", "")))
	zoned.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"fsn1-dc14", "nbg1-dc3"}}}}}}}}
	notTried := diagTolerating(diagPending(diagNS, "not-tried", "", diagContainer("100m", "")))
	f := newDiagFixture(t, append(objs, big, untolerating, otherPool, volume, zoned, notTried)...)

	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32", NodeSelector: diagPoolLabel + "=workers"})
	require.NoError(t, err)
	r := d.Recommendation
	require.NotNil(t, r)
	assert.Equal(t, "3900m", ptr.To(r.Allocatable[corev1.ResourceCPU]).String(), "the pool nodes' allocatable, not the type's 4 minus a guess")
	assert.Contains(t, r.AllocatableFrom, "worker-1, worker-2")
	assert.Nil(t, r.Reserved)
	assert.Equal(t, "workers", r.Labels[diagPoolLabel])
	assert.Equal(t, "fsn1-dc14", r.Labels[corev1.LabelTopologyZone])
	assert.NotContains(t, r.Labels, corev1.LabelHostname)
	assert.Equal(t, []corev1.Taint{{Key: "dedicated", Value: "workers", Effect: corev1.TaintEffectNoSchedule}}, r.Taints)

	// 5 x 1500m on 3900m nodes: 2+2+1, and the 500m pod, last in
	// decreasing order, into the first node with room.
	assert.Equal(t, 3, r.AddNodes, r.Reasons)
	require.Len(t, r.Placement, 3)
	assert.Equal(t, []string{diagNS + "/web-1", diagNS + "/web-2", diagNS + "/zoned"}, r.Placement[0].Pods)
	assert.Equal(t, []string{diagNS + "/web-3", diagNS + "/web-4"}, r.Placement[1].Pods)
	assert.Equal(t, []string{diagNS + "/web-5"}, r.Placement[2].Pods)
	assert.Equal(t, "3500m", ptr.To(r.Placement[0].Requested[corev1.ResourceCPU]).String())
	assert.Equal(t, []string{diagNS + "/big"}, r.Unplaceable)
	assert.Equal(t, 5, r.NotFixable, "big, untolerating, other-pool, db-0, not-tried")

	byName := map[string]nodes.PendingPod{}
	for _, p := range d.Pending {
		byName[p.Name] = p
	}
	assert.True(t, byName["web-1"].Fixable)
	assert.True(t, byName["zoned"].Fixable, "its required affinity matches the pool's zone")
	assert.Contains(t, byName["big"].NotFixable, "it requests 5 cpu, more than one new cpx32 offers (3900m after DaemonSets)")
	assert.Contains(t, byName["untolerating"].NotFixable, "does not tolerate the taint dedicated=workers:NoSchedule")
	assert.Contains(t, byName["other-pool"].NotFixable, "its nodeSelector asks "+diagPoolLabel+"=gpu")
	assert.Contains(t, byName["db-0"].NotFixable, "volume")
	assert.Equal(t, nodes.ReasonVolume, byName["db-0"].Reason)
	assert.Contains(t, byName["not-tried"].NotFixable, "not tried it yet")
	assert.Contains(t, r.Reasons, "by cpu alone they need at least 3 node(s) (8 / 3900m)")

	for _, n := range d.Nodes {
		assert.Equal(t, n.Name != "control-plane", n.Pool, n.Name)
	}
	assert.Empty(t, f.mutatingActions(), "Diagnose writes nothing")
}

func (f *diagFixture) mutatingActions() []string {
	var out []string
	for _, a := range append(f.kube.Actions(), f.dyn.Actions()...) {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func diagDaemonSet(name string, selector map[string]string, tolerate bool, c corev1.Container) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name, UID: types.UID("uid-ds-" + name)},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{c}}}}}
	if tolerate {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	return ds
}

func TestDiagnoseSubtractsDaemonSetOverheadFromTheEstimatedNode(t *testing.T) {
	// No cpx32 node yet: 4 - 100m and 8Gi - 512Mi, less the DaemonSets
	// whose pods would land on it.
	objs := []kruntime.Object{
		diagNode("small-1", "2", "4Gi", map[string]string{corev1.LabelInstanceTypeStable: "cpx22"}),
		diagDaemonSet("cni", nil, true, diagContainer("150m", "200Mi")),
		diagDaemonSet("node-exporter", map[string]string{corev1.LabelOSStable: "linux"}, false, diagContainer("50m", "56Mi")),
		diagDaemonSet("gpu-plugin", map[string]string{"nvidia.com/gpu.present": "true"}, true, diagContainer("500m", "")),
	}
	for _, name := range []string{"job-1", "job-2", "job-3", "job-4"} {
		objs = append(objs, diagPending(diagNS, name, "0/1 nodes are available: 1 Insufficient cpu.", diagContainer("1900m", "1Gi")))
	}
	f := newDiagFixture(t, objs...)
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32"})
	require.NoError(t, err)
	r := d.Recommendation
	require.NotNil(t, r)
	assert.Contains(t, r.AllocatableFrom, "estimated")
	assert.Equal(t, nodes.DefaultReserved(), r.Reserved)
	assert.Equal(t, "3900m", ptr.To(r.NodeAllocatable[corev1.ResourceCPU]).String())
	assert.Equal(t, []string{"kube-system/cni", "kube-system/node-exporter"}, r.DaemonSets, "not the GPU plugin: its selector misses a cpx32")
	assert.Equal(t, "200m", ptr.To(r.Overhead[corev1.ResourceCPU]).String())
	assert.Equal(t, "3700m", ptr.To(r.Allocatable[corev1.ResourceCPU]).String())
	assert.Equal(t, int64(8<<30-512<<20-256<<20), ptr.To(r.Allocatable[corev1.ResourceMemory]).Value())
	assert.Equal(t, int64(108), ptr.To(r.Allocatable[corev1.ResourcePods]).Value())
	// 1900m each: two would fit 3900m, but not the 3700m the DaemonSets leave.
	assert.Equal(t, 4, r.AddNodes, r.Reasons)

	// A reservation of our own, without DaemonSet pods in the way.
	d, err = f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32", Reserved: diagRes("0", "0"), NodeSelector: "none=none"})
	require.NoError(t, err)
	assert.Equal(t, "4", ptr.To(d.Recommendation.NodeAllocatable[corev1.ResourceCPU]).String())
}

func TestDiagnoseTakesDaemonSetRequestsFromTheirPodsOnThePool(t *testing.T) {
	pool := map[string]string{corev1.LabelInstanceTypeStable: "cpx32"}
	// The template asks nothing; a LimitRange gave its pod 300m.
	ds := diagDaemonSet("logs", map[string]string{"never": "matches"}, true, diagContainer("", ""))
	dsPod := diagBound("kube-system", "logs-abc", "w1", diagContainer("300m", "100Mi"))
	dsPod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "logs", UID: ds.UID, Controller: ptr.To(true)}}
	f := newDiagFixture(t, diagNode("w1", "4", "8Gi", pool), ds, dsPod,
		diagPending(diagNS, "web", "0/1 nodes are available: 1 Insufficient cpu.", diagContainer("3800m", "")))
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32"})
	require.NoError(t, err)
	r := d.Recommendation
	assert.Equal(t, []string{"kube-system/logs"}, r.DaemonSets, "it runs on the pool, whatever its template says")
	assert.Equal(t, "3700m", ptr.To(r.Allocatable[corev1.ResourceCPU]).String())
	assert.Equal(t, 0, r.AddNodes)
	assert.Equal(t, []string{diagNS + "/web"}, r.Unplaceable, "3800m does not fit the 3700m left")
}

func TestDiagnoseReadsTheMetricsAPIOnlyWhenServed(t *testing.T) {
	objs := []kruntime.Object{diagNode("n1", "4", "8Gi", nil), diagBound(diagNS, "web-1", "n1", diagContainer("1", "1Gi")),
		diagPending(diagNS, "web-2", "0/1 nodes are available: 1 Insufficient cpu.", diagContainer("3500m", ""))}

	f := newDiagFixture(t, objs...)
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{})
	require.NoError(t, err)
	assert.False(t, d.MetricsServed)
	assert.Empty(t, d.MetricsError, "not registered is no error")
	assert.Nil(t, d.Nodes[0].Usage)
	assert.Equal(t, 3, f.requests(), "nodes, pods, the discovery probe")
	assert.Empty(t, f.dyn.Actions(), "no metrics list when the API is not served")

	f = newDiagFixture(t, objs...)
	f.serveMetrics(t, map[string][2]string{"n1": {"1200m", "3Gi"}}, map[string][2]string{diagNS + "/web-1": {"250m", "700Mi"}})
	f.reset()
	d, err = f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32"})
	require.NoError(t, err)
	assert.True(t, d.MetricsServed)
	n := d.Nodes[0]
	assert.Equal(t, "1200m", ptr.To(n.Usage[corev1.ResourceCPU]).String())
	assert.Equal(t, int64(30), n.UsagePercent[corev1.ResourceCPU])
	assert.Equal(t, int64(37), n.UsagePercent[corev1.ResourceMemory])
	assert.Equal(t, "250m", ptr.To(n.PodsUsage[corev1.ResourceCPU]).String())
	assert.Equal(t, 6, f.requests(), "nodes, pods, DaemonSets, the probe, node and pod metrics")
}

func TestDiagnoseReportsAFailingMetricsAPIWithoutFailing(t *testing.T) {
	f := newDiagFixture(t, diagNode("n1", "4", "8Gi", nil))
	f.serveMetrics(t, nil, nil)
	f.dyn.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, kruntime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("metrics-server is restarting")
	})
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{})
	require.NoError(t, err, "usage is an extra, not a reason to fail the diagnosis")
	assert.False(t, d.MetricsServed)
	assert.Contains(t, d.MetricsError, "metrics-server is restarting")
	assert.Nil(t, d.Nodes[0].Usage)
	assert.Contains(t, d.String(), "no usage: reading metrics.k8s.io/v1beta1")
}

func TestDiagnoseMakesTheSameRequestsWhateverTheClusterSize(t *testing.T) {
	count := func(n int) int {
		var objs []kruntime.Object
		for i := range n {
			node := "n" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			objs = append(objs, diagNode(node, "4", "8Gi", map[string]string{corev1.LabelInstanceTypeStable: "cpx32"}),
				diagBound(diagNS, "run-"+node, node, diagContainer("1", "")),
				diagPending(diagNS, "pend-"+node, "0/1 nodes are available: 1 Insufficient cpu.", diagContainer("1", "")),
				diagDaemonSet("ds-"+node, nil, true, diagContainer("10m", "")))
		}
		f := newDiagFixture(t, objs...)
		f.serveMetrics(t, nil, nil)
		f.reset()
		_, err := f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32"})
		require.NoError(t, err)
		return f.requests()
	}
	assert.Equal(t, 6, count(1))
	assert.Equal(t, 6, count(60))
}

func TestDiagnoseStringMatchesTheGoldenFile(t *testing.T) {
	objs := diagPool()
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		objs = append(objs, diagTolerating(diagPending(diagNS, name, diagFullMsg, diagContainer("1500m", "256Mi"))))
	}
	objs = append(objs,
		diagTolerating(diagPending(diagNS, "big", diagFullMsg, diagContainer("6", "1Gi"))),
		diagTolerating(diagPending(diagNS, "db-0", "0/3 nodes are available: 3 node(s) had volume node affinity conflict. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.", diagContainer("250m", "512Mi"))),
		diagDaemonSet("cni", nil, true, diagContainer("100m", "128Mi")))
	cordoned := diagNode("worker-old", "1900m", "3Gi", map[string]string{corev1.LabelInstanceTypeStable: "cpx21"})
	cordoned.Spec.Unschedulable = true
	f := newDiagFixture(t, append(objs, cordoned)...)
	f.serveMetrics(t, map[string][2]string{"worker-1": {"2100m", "5Gi"}, "worker-2": {"900m", "3Gi"}, "control-plane": {"400m", "2Gi"}, "worker-old": {"50m", "512Mi"}},
		map[string][2]string{diagNS + "/full-worker-1": {"1800m", "3Gi"}, diagNS + "/full-worker-2": {"600m", "2Gi"}})
	d, err := f.c.Diagnose(context.Background(), nodes.Diagnose{ServerType: "cpx32", NodeSelector: diagPoolLabel + "=workers"})
	require.NoError(t, err)
	got := d.String()
	golden := filepath.Join("testdata", "diagnose", "string.golden")
	if *diagUpdate {
		require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test -run TestDiagnoseString ./nodes/ -diagnose.update")
	assert.Equal(t, string(want), got)
}
