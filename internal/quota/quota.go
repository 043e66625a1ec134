// Package quota is the ResourceQuota arithmetic every operation that adds
// pods shares: what one pod asks of a quota, and whether N more of them fit
// in what the namespace's quotas leave (hard - used). It is pure: callers
// read the quotas and the pod template, this package only counts.
package quota

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
	var out []Shortfall
	for _, q := range quotas {
		keys := make([]corev1.ResourceName, 0, len(q.Spec.Hard))
		for k := range q.Spec.Hard {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			one, ok := perPod[Key(key)]
			if !ok {
				continue
			}
			hard, used := q.Spec.Hard[key], q.Status.Used[key]
			need := one.DeepCopy()
			need.Mul(int64(extra))
			left := hard.DeepCopy()
			left.Sub(used)
			if need.Cmp(left) > 0 {
				out = append(out, Shortfall{Quota: q.Name, Resource: key, Pods: extra, Need: need, Left: left, Hard: hard, Used: used})
			}
		}
	}
	return out
}
