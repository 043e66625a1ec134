package quota

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// This file is the arithmetic of a change of the pods' resources (vertical
// scaling): a rollout's peak against the quotas, and requests against
// limits. Every operation that changes requests or limits (scale.Resources,
// a tenant's resources) calls it, so they all judge a change the same way;
// whether a pod fits on a node is Capacity.Exceeds and Guard.

// Rollout is a workload's pods as the quotas see them while its template
// changes: Current pods asking Old each (already in the quotas' Used), to be
// replaced by Replicas pods asking New each. Old and New are PodRequests'
// keys. Surge is how many pods the rollout runs beyond Replicas at once
// (a Deployment's maxSurge; 0 for Recreate and for a StatefulSet, whose
// pods go before their replacements come).
type Rollout struct {
	Current  int32
	Old      corev1.ResourceList
	Replicas int32
	Surge    int32
	New      corev1.ResourceList
}

// Peak is the most the workload's pods ask of one key at any moment of the
// rollout, and how many pods ask it then. At most Current old pods and
// Replicas new ones run, and together at most max(Current, Replicas +
// Surge): the rollout adds new pods while that allows and removes old ones
// as new ones become Ready. The worst moment differs by key (a cpu raise
// with a memory cut peaks on cpu when the new pods are all up, on memory
// before any is), so each key gets its own: the larger kind of pod at its
// most, the other filling what the total leaves. Terminating pods are not
// counted (they are in Used until they are gone, and a rollout does not wait
// for them), so passing is necessary, not sufficient.
func (r Rollout) Peak(key corev1.ResourceName) (resource.Quantity, int32) {
	cur, repl, surge := max(r.Current, 0), max(r.Replicas, 0), max(r.Surge, 0)
	total := max(int64(cur), int64(repl)+int64(surge))
	oldQ, newQ := r.Old[key], r.New[key]
	var oldPods, newPods int64
	if newQ.Cmp(oldQ) >= 0 {
		newPods = int64(repl)
		oldPods = min(int64(cur), total-newPods)
	} else {
		oldPods = int64(cur)
		newPods = min(int64(repl), total-oldPods)
	}
	peak := scaled(oldQ, oldPods)
	peak.Add(scaled(newQ, newPods))
	return peak, int32(min(oldPods+newPods, 1<<31-1))
}

// Added is what the rollout's peak asks of key beyond what the workload's
// pods ask now (Current x Old, part of the quotas' Used); negative when the
// peak asks less.
func (r Rollout) Added(key corev1.ResourceName) (resource.Quantity, int32) {
	peak, pods := r.Peak(key)
	peak.Sub(scaled(r.Old[key], int64(max(r.Current, 0))))
	return peak, pods
}

// RolloutFit returns where the rollout's peak does not fit in the quotas:
// per quota and hard key (in quota order, then by key), a key one of the
// pods asks for whose Used - Current x Old + Peak exceeds Hard. A
// Shortfall's Need is Added (what the peak asks beyond Used), Left is Hard -
// Used as in Fit, and Pods the pods at that key's peak. None means it fits;
// a key neither kind of pod asks for (services, claims) does not constrain.
func RolloutFit(quotas []corev1.ResourceQuota, r Rollout) []Shortfall {
	return shortfalls(quotas, func(k corev1.ResourceName) (resource.Quantity, int32, bool) {
		_, inOld := r.Old[k]
		_, inNew := r.New[k]
		if !inOld && !inNew {
			return resource.Quantity{}, 0, false
		}
		need, pods := r.Added(k)
		return need, pods, need.Sign() > 0
	})
}

// Inversion is a container whose limit of a resource is below its request,
// which the API server refuses (the pods, or the workload's template).
type Inversion struct {
	Container string
	Resource  corev1.ResourceName
	Request   resource.Quantity
	Limit     resource.Quantity
}

// LimitsBelowRequests returns every container (init containers after the
// others, in spec order, then by resource) with a limit below its request.
// A resource with a limit and no request is not one: Kubernetes sets the
// request to the limit.
func LimitsBelowRequests(spec corev1.PodSpec) []Inversion {
	var out []Inversion
	for _, c := range append(slices.Clone(spec.Containers), spec.InitContainers...) {
		names := make([]corev1.ResourceName, 0, len(c.Resources.Limits))
		for name := range c.Resources.Limits {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			limit := c.Resources.Limits[name]
			if req, ok := c.Resources.Requests[name]; ok && limit.Cmp(req) < 0 {
				out = append(out, Inversion{Container: c.Name, Resource: name, Request: req, Limit: limit})
			}
		}
	}
	return out
}
