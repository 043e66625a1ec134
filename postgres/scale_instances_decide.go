package postgres

import (
	"fmt"
	"slices"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/quota"
)

// instancesState is what a ScaleInstances plan is decided on, read once.
type instancesState struct {
	cluster *apiv1.Cluster
	// pods are the instance pods, by serial.
	pods []*corev1.Pod
	// size and class are each new instance's volume (the planned
	// Cluster's spec.storage.size and the class its claims get).
	size  resource.Quantity
	class string
	// quotas, limits and maxSize bound the new volumes.
	quotas  []corev1.ResourceQuota
	limits  []corev1.LimitRange
	maxSize resource.Quantity
	// valueChanges: the release's instances value differs from the request.
	valueChanges bool
}

type instancesDecision struct {
	guards []scaling.GuardResult
	steps  []scaling.Step
	// removed and added name the instances the operator removes or
	// creates.
	removed, added []string
	holds          bool
}

// decideInstances evaluates ScaleInstances' guards; it reads nothing.
//
// A scale-down is planned the way the instances are named: the
// highest-numbered ones go. CloudNativePG never removes its primary (it
// removes the highest-numbered ready replica, getSacrificialInstance), so
// with the primary among the highest numbers it would remove other,
// lower-numbered instances than the plan names: the primary-removal guard
// blocks that with the advice to switch over first.
func decideInstances(t releaseTarget, n int32, st *instancesState) instancesDecision {
	cl := st.cluster
	name, current, primary := cl.Name, int32(cl.Spec.Instances), cl.Status.CurrentPrimary
	var d instancesDecision
	if !st.valueChanges && current == n {
		d.holds = true
		d.guards = append(d.guards, pass(GuardPrimaryRemoval, fmt.Sprintf("cluster %s runs %d instances already", name, n)))
		return d
	}
	if cl.Status.TargetPrimary != "" && cl.Status.TargetPrimary != primary {
		d.guards = append(d.guards, block(GuardInFlight, &InFlightError{Cluster: name, CurrentPrimary: primary, TargetPrimary: cl.Status.TargetPrimary, Phase: cl.Status.Phase},
			"wait for the switchover or failover to finish, then plan again"))
	}
	if cl.Status.Phase != "" && cl.Status.Phase != apiv1.PhaseHealthy {
		d.guards = append(d.guards, warn(GuardPhase, fmt.Sprintf("cluster %s is in phase %q (%s), not healthy", name, cl.Status.Phase, cl.Status.PhaseReason),
			"the operator acts on the new count once it reconciles; read the phase before applying"))
	}
	switch {
	case n < current:
		d.removed = removedInstances(st.pods, int(current-n))
		keep := []string{}
		for _, p := range st.pods {
			if !slices.Contains(d.removed, p.Name) {
				keep = append(keep, p.Name)
			}
		}
		if slices.Contains(d.removed, primary) {
			d.guards = append(d.guards, block(GuardPrimaryRemoval, &PrimaryRemovalError{Cluster: name, Primary: primary, Instances: n, Removed: d.removed, Keep: keep},
				fmt.Sprintf("switch over to one of %s first (postgres.PlanSwitchover), then plan the scale-down again", joinNames(keep))))
		} else {
			d.guards = append(d.guards, pass(GuardPrimaryRemoval, fmt.Sprintf("the scale-down removes %s; the primary %s stays", joinNames(d.removed), primary)))
		}
		var unready []string
		for _, p := range st.pods {
			if slices.Contains(d.removed, p.Name) && !podReady(p) {
				unready = append(unready, p.Name)
			}
		}
		if len(unready) > 0 {
			d.guards = append(d.guards, warn(GuardRemoval, fmt.Sprintf("%s not ready: CloudNativePG removes only ready replicas, so the scale-down waits for them (or removes others)", joinNames(unready)),
				"let the replicas become ready before applying"))
		}
		for _, r := range d.removed {
			d.steps = append(d.steps, scaling.Step{Action: ActionRemoveInstance, Object: podRef(t.Namespace, r),
				Note: "done by the operator after the upgrade: the pod and its claims are deleted"})
		}
	case n > current:
		d.guards = append(d.guards, pass(GuardPrimaryRemoval, "a scale-up removes no instance"))
		next := cl.Status.LatestGeneratedNode
		for _, p := range st.pods {
			next = max(next, serial(p.Name))
		}
		for i := range int(n - current) {
			d.added = append(d.added, fmt.Sprintf("%s-%d", name, next+1+i))
		}
		growth := resource.Quantity{}
		for range d.added {
			growth.Add(st.size)
		}
		d.guards = append(d.guards, quota.StorageGuard(quota.Volumes{Namespace: t.Namespace, Class: st.class, Size: st.size, Growth: growth, Claims: len(d.added)}, st.quotas, st.limits, st.maxSize))
		for _, a := range d.added {
			d.steps = append(d.steps, scaling.Step{Action: ActionAddInstance, Object: podRef(t.Namespace, a), Field: "spec.resources.requests.storage", After: st.size.String(),
				Note: "done by the operator after the upgrade: a claim of the storage size, a base backup from the primary, then streaming"})
		}
	default:
		d.guards = append(d.guards, pass(GuardPrimaryRemoval, "the count does not change"))
	}
	if n == 1 {
		d.guards = append(d.guards, warn(GuardHA, fmt.Sprintf("one instance: cluster %s keeps no replica, so there is no failover, and draining its node stops the database", name),
			"keep 2 or more instances for high availability (Fluxbase's read replicas)"))
	}
	return d
}

// removedInstances names the count highest-numbered instances.
func removedInstances(pods []*corev1.Pod, count int) []string {
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Name)
	}
	slices.SortFunc(names, instanceOrder)
	if count > len(names) {
		count = len(names)
	}
	out := slices.Clone(names[len(names)-count:])
	slices.Reverse(out)
	return out
}

func podRef(namespace, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "Pod", Namespace: namespace, Name: name}
}
