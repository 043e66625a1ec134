// Package quota is the ResourceQuota arithmetic every operation that adds
// pods shares: what one pod asks of a quota, and whether N more of them fit
// in what the namespace's quotas leave (hard - used). It is pure: callers
// read the quotas and the pod template, this package only counts.
package quota

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
)

// PodRequests sums what one pod asks of a quota, keyed as a quota's hard
// keys are ("requests.cpu", "limits.memory", "pods"): its containers'
// requests and limits, or the largest init container's request when that is
// more (the scheduler's and the quota's rule).
func PodRequests(spec corev1.PodSpec) corev1.ResourceList {
	out := corev1.ResourceList{}
	add := func(key corev1.ResourceName, q resource.Quantity) {
		cur := out[key]
		cur.Add(q)
		out[key] = cur
	}
	for _, c := range spec.Containers {
		for name, q := range c.Resources.Requests {
			add(corev1.ResourceName("requests."+string(name)), q)
		}
		for name, q := range c.Resources.Limits {
			add(corev1.ResourceName("limits."+string(name)), q)
		}
	}
	for _, c := range spec.InitContainers {
		for name, q := range c.Resources.Requests {
			key := corev1.ResourceName("requests." + string(name))
			if cur := out[key]; q.Cmp(cur) > 0 {
				out[key] = q
			}
		}
	}
	out[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	return out
}

// Key maps a quota's hard key to PodRequests' key: "cpu" and
// "requests.cpu" are the same constraint, as are "count/pods" and "pods".
func Key(k corev1.ResourceName) corev1.ResourceName {
	switch k {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return corev1.ResourceName("requests." + string(k))
	case "count/pods":
		return corev1.ResourcePods
	}
	return k
}

// Shortfall is one resource of one quota that the extra pods do not fit in.
type Shortfall struct {
	Quota    string
	Resource corev1.ResourceName
	Pods     int32
	// Need is Pods x one pod's request; Left is Hard - Used.
	Need, Left, Hard, Used resource.Quantity
}

// Fit returns where extra more pods, each asking perPod, exceed what the
// quotas leave, in quota order and then by resource name; none means they
// fit. A quota key no pod asks for (services, claims) does not constrain.
func Fit(quotas []corev1.ResourceQuota, extra int32, perPod corev1.ResourceList) []Shortfall {
	if extra <= 0 {
		return nil
	}
	return shortfalls(quotas, func(k corev1.ResourceName) (resource.Quantity, int32, bool) {
		one, ok := perPod[k]
		if !ok {
			return resource.Quantity{}, 0, false
		}
		need := one.DeepCopy()
		need.Mul(int64(extra))
		return need, extra, true
	})
}

// shortfalls walks every quota's hard keys (in quota order, then by key)
// and returns each whose need, asked by PodRequests' key (need's ok false:
// not asked), is more than Hard - Used.
func shortfalls(quotas []corev1.ResourceQuota, need func(k corev1.ResourceName) (resource.Quantity, int32, bool)) []Shortfall {
	var out []Shortfall
	for _, q := range quotas {
		for _, key := range slices.Sorted(maps.Keys(q.Spec.Hard)) {
			n, pods, ok := need(Key(key))
			if !ok {
				continue
			}
			hard, used := q.Spec.Hard[key], q.Status.Used[key]
			left := hard.DeepCopy()
			left.Sub(used)
			if n.Cmp(left) > 0 {
				out = append(out, Shortfall{Quota: q.Name, Resource: key, Pods: pods, Need: n, Left: left, Hard: hard, Used: used})
			}
		}
	}
	return out
}

// Capacity is what the schedulable nodes of a cluster offer pods in all:
// the sum of their allocatable cpu, memory and pods, and the largest single
// node's, since one pod must fit on one node.
type Capacity struct {
	// Listed counts every node read; Nodes the schedulable ones.
	Listed  int
	Nodes   int
	Total   corev1.ResourceList
	Largest corev1.ResourceList
}

// NodeCapacity sums the allocatable resources of the nodes a new pod can
// land on: Ready, not cordoned. Taints are not judged here (tolerations are
// the pod's business), so the figure is an upper bound.
func NodeCapacity(nodes []corev1.Node) Capacity {
	c := Capacity{Listed: len(nodes), Total: corev1.ResourceList{}, Largest: corev1.ResourceList{}}
	for _, n := range nodes {
		if n.Spec.Unschedulable || !ready(n) {
			continue
		}
		c.Nodes++
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
			q, ok := n.Status.Allocatable[r]
			if !ok {
				continue
			}
			sum := c.Total[r]
			sum.Add(q)
			c.Total[r] = sum
			if cur, ok := c.Largest[r]; !ok || q.Cmp(cur) > 0 {
				c.Largest[r] = q.DeepCopy()
			}
		}
	}
	return c
}

func ready(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Exceeds names what pods pods each asking perPod (PodRequests' keys) need
// beyond the capacity: in all ("Total") or on one node ("Largest"), by
// resource. None means the cluster could hold them if it were empty; what
// other pods already use is not counted, so passing is necessary, not
// sufficient.
func (c Capacity) Exceeds(pods int64, perPod corev1.ResourceList) []Shortfall {
	var out []Shortfall
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		one, ok := perPod[corev1.ResourceName("requests."+string(r))]
		if !ok || one.IsZero() {
			continue
		}
		if largest := c.Largest[r]; one.Cmp(largest) > 0 {
			out = append(out, Shortfall{Quota: "Largest", Resource: r, Pods: 1, Need: one, Left: largest, Hard: largest})
		}
		need := scaled(one, pods)
		if total := c.Total[r]; need.Cmp(total) > 0 {
			out = append(out, Shortfall{Quota: "Total", Resource: r, Pods: int32(min(pods, 1<<31-1)), Need: need, Left: total, Hard: total})
		}
	}
	if total, ok := c.Total[corev1.ResourcePods]; ok && total.CmpInt64(pods) < 0 {
		out = append(out, Shortfall{Quota: "Total", Resource: corev1.ResourcePods, Pods: int32(min(pods, 1<<31-1)), Need: *resource.NewQuantity(pods, resource.DecimalSI), Left: total, Hard: total})
	}
	return out
}

// scaled is q x n. Quantity's Mul moves to arbitrary precision when int64
// overflows, so 2^31 pods of a few GiB each are counted exactly.
func scaled(q resource.Quantity, n int64) resource.Quantity {
	out := q.DeepCopy()
	out.Mul(n)
	return out
}

// Guard is the capacity guard (scaling.GuardCapacity) of an operation that
// runs replicas pods each asking perPod: it blocks a count the schedulable
// nodes cannot hold even if they ran nothing else, and a pod larger than
// the largest node (it would stay Pending forever), both of which
// Kubernetes accepts and then never finishes; the cause is a
// *scaling.CapacityError. What other pods already use is not counted:
// passing does not promise the pods schedule, blocking says they cannot.
// nodesErr (listing nodes is cluster-scoped, which a namespaced Role may not
// grant) and a cluster that lists no nodes make it a warning.
func Guard(replicas int32, perPod corev1.ResourceList, c Capacity, nodesErr error) scaling.GuardResult {
	g := scaling.GuardResult{Name: scaling.GuardCapacity, Outcome: scaling.Pass}
	switch {
	case nodesErr != nil:
		g.Outcome, g.Reason = scaling.Warn, "the nodes could not be read, so the cluster's capacity is not checked: "+nodesErr.Error()
		g.Remedy = "grant list on nodes, or check the nodes' allocatable by hand (kubectl describe nodes)"
		return g
	case c.Listed == 0:
		// Pods that run without Node objects (a virtual kubelet), or a
		// fake clientset: nothing to judge by.
		g.Outcome, g.Reason = scaling.Warn, "no nodes are listed, so the cluster's capacity is not checked"
		return g
	}
	short := c.Exceeds(int64(replicas), perPod)
	if len(short) == 0 {
		g.Reason = fmt.Sprintf("%d pods fit in what the %d schedulable nodes offer (%s cpu, %s memory, %s pods), before what else runs there",
			replicas, c.Nodes, qty(c.Total, corev1.ResourceCPU), qty(c.Total, corev1.ResourceMemory), qty(c.Total, corev1.ResourcePods))
		return g
	}
	cause := &scaling.CapacityError{Nodes: c.Nodes, Replicas: replicas}
	for _, s := range short {
		cause.Short = append(cause.Short, scaling.CapacityShortfall{Of: s.Quota, Resource: string(s.Resource), Need: s.Need.String(), Have: s.Left.String()})
	}
	g.Outcome, g.Cause, g.Reason = scaling.Block, cause, strings.TrimPrefix(cause.Error(), "scaling: ")
	g.Remedy = "add nodes, lower the pods' requests, or run fewer"
	return g
}

func qty(l corev1.ResourceList, r corev1.ResourceName) string {
	q, ok := l[r]
	if !ok {
		return "0"
	}
	return q.String()
}
