package nodes_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nodes"
)

// Two cpx32 workers are full; three more pods of 1500m pend with the
// scheduler's "Insufficient cpu". Diagnose says why and how many cpx32
// workers to add.
func ExampleClient_Diagnose() {
	cpu := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	worker := func(name string) *corev1.Node {
		alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelInstanceTypeStable: "cpx32", "pool": "web"}},
			Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	}
	objs := []kruntime.Object{worker("worker-1"), worker("worker-2")}
	for i := 1; i <= 7; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i)},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": "web"}, Containers: []corev1.Container{{Name: "web", Resources: corev1.ResourceRequirements{Requests: cpu("1500m")}}}}}
		switch {
		case i <= 4: // two per worker
			p.Spec.NodeName = fmt.Sprintf("worker-%d", (i+1)/2)
			p.Status.Phase = corev1.PodRunning
		default:
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."}}
		}
		objs = append(objs, p)
	}
	cluster := &scaling.Cluster{Kube: k8sfake.NewClientset(objs...), Dynamic: dynamicfake.NewSimpleDynamicClient(kruntime.NewScheme())}
	client, err := nodes.New(cluster, nodes.Options{})
	if err != nil {
		panic(err)
	}

	d, err := client.Diagnose(context.Background(), nodes.Diagnose{Namespace: "shop", ServerType: "cpx32", NodeSelector: "pool=web"})
	if err != nil {
		panic(err)
	}
	for _, p := range d.Pending {
		fmt.Println(p.Key(), p.Reason, "fixable:", p.Fixable)
	}
	fmt.Println("add", d.Recommendation.AddNodes, d.Recommendation.ServerType)
	fmt.Println()
	fmt.Print(d)
	// Output:
	// shop/web-5 InsufficientCPU fixable: true
	// shop/web-6 InsufficientCPU fixable: true
	// shop/web-7 InsufficientCPU fixable: true
	// add 2 cpx32
	//
	// Pending pods (namespace shop): 3
	//   NAMESPACE  POD    CPU    MEMORY  REASON           NODES  NEW CPX32 NODES HELP
	//   shop       web-5  1500m  0       InsufficientCPU  2/2    yes
	//   shop       web-6  1500m  0       InsufficientCPU  2/2    yes
	//   shop       web-7  1500m  0       InsufficientCPU  2/2    yes
	// Scheduler messages:
	//   shop/web-5, shop/web-6, shop/web-7: 0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.
	//
	// Nodes: 2 (no usage: the metrics API is not served, kubectl top would fail too)
	//   NAME        TYPE   READY  SCHEDULABLE  PODS   CPU REQUESTS  MEMORY REQUESTS
	//   worker-1 *  cpx32  True   yes          2/110  3 (75%) of 4  0 (0%) of 8Gi
	//   worker-2 *  cpx32  True   yes          2/110  3 (75%) of 4  0 (0%) of 8Gi
	//   * the pool the new nodes join (pool=web)
	//
	// Add 2 more cpx32 worker(s): the 3 pending pod(s) they help would then schedule.
	//   - one new cpx32 offers 4 cpu, 8Gi memory, 110 pods: the smallest allocatable of the 2 cpx32 nodes (worker-1, worker-2), per resource, minus no DaemonSet pod
	//   - 3 pending pod(s) new cpx32 nodes would take request 4500m cpu, 0 memory, 3 pods in all
	//   - by cpu alone they need at least 2 node(s) (4500m / 4)
	//   - first-fit decreasing by each pod's dominant resource places them on 2 new node(s): 2+1 pod(s)
	//   new node 1: shop/web-5, shop/web-6 (3 cpu, 0 memory, 2 pods)
	//   new node 2: shop/web-7 (1500m cpu, 0 memory, 1 pod)
	//   new nodes' labels: kubernetes.io/arch=amd64, kubernetes.io/os=linux, node.kubernetes.io/instance-type=cpx32, pool=web
}
