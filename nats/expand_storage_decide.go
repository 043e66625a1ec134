package nats

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/internal/values"
)

// decideExpand evaluates the guards and orders the steps; like decide, it
// is pure, and no steps means the target state holds.
func decideExpand(req ExpandStorage, t target, vs *volumeState, size resource.Quantity) decision {
	v := newExpandView(req, t, vs, size)
	if g, ok := v.shrinkGuard(); !ok {
		return decision{guards: []scaling.GuardResult{g}}
	}
	d := decision{guards: []scaling.GuardResult{pass(GuardShrink, fmt.Sprintf("%s -> %s grows the volumes", vs.current.String(), size.String()))}}
	if v.holds() {
		return d
	}
	if vs.orphaned {
		d.guards = append(d.guards, warn(GuardOrphaned, fmt.Sprintf("StatefulSet %s is missing and its pods run orphaned, as an ExpandStorage leaves them between its orphan delete and the upgrade", t.StatefulSet),
			"this plan's release upgrade recreates it from the release and it adopts the pods"))
	}
	d.guards = append(d.guards, v.expansionGuard(), v.storageGuard())
	d.guards = appendApplicable(d.guards, v.resyncGuard)
	// The config checksum changes with max_file_store, so the StatefulSet
	// rolls its pods: the cluster must be able to lose one server at a time.
	d.guards = append(d.guards, healthGuard(vs.liveState, nil))
	d.steps = v.steps()
	return d
}

// expandView is what an ExpandStorage derives from its request and live
// state before any guard.
type expandView struct {
	req  ExpandStorage
	t    target
	vs   *volumeState
	size resource.Quantity
	// grow are the claims below the size; larger name those above it.
	grow   []*corev1.PersistentVolumeClaim
	larger []string
	// templateChanges: the claim template's size differs; valueChanges: the
	// release's computed value does (a release that never set the size runs
	// the chart's default, which asking for that size must not rewrite).
	templateChanges, valueChanges bool
}

func newExpandView(req ExpandStorage, t target, vs *volumeState, size resource.Quantity) expandView {
	v := expandView{req: req, t: t, vs: vs, size: size, templateChanges: vs.current.Cmp(size) != 0, valueChanges: true}
	for _, pvc := range vs.claims {
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		switch q.Cmp(size) {
		case -1:
			v.grow = append(v.grow, pvc)
		case 1:
			v.larger = append(v.larger, pvc.Name+" "+q.String())
		}
	}
	if cur, ok := values.Get(vs.computed, t.value(storageValue)); ok {
		if q, err := resource.ParseQuantity(fmt.Sprint(cur)); err == nil && q.Cmp(size) == 0 {
			v.valueChanges = false
		}
	}
	return v
}

// holds: every volume, the template and the value have the size already.
func (v expandView) holds() bool {
	return len(v.grow) == 0 && !v.templateChanges && !v.valueChanges && !v.vs.orphaned
}

// storageGuard: the growth of the claims below the size must fit in the
// namespace's storage quotas, a claim of that size under its LimitRanges and
// the backend's largest volume. A volume replaced (the resync path) counts
// as grown: its claim is deleted and created again at the new size.
func (v expandView) storageGuard() scaling.GuardResult {
	var growth resource.Quantity
	for _, pvc := range v.grow {
		d := v.size.DeepCopy()
		d.Sub(pvc.Spec.Resources.Requests[corev1.ResourceStorage])
		growth.Add(d)
	}
	return quota.StorageGuard(quota.Volumes{Namespace: v.t.Namespace, Class: v.vs.class, Size: v.size, Growth: growth, Claims: len(v.grow)},
		v.vs.quotas, v.vs.limits, v.vs.maxSize)
}

// shrinkGuard blocks a size below the template's or any claim's (a volume
// never shrinks); ok is false when it blocks.
func (v expandView) shrinkGuard() (scaling.GuardResult, bool) {
	if v.vs.current.Cmp(v.size) > 0 || len(v.larger) > 0 {
		return block(GuardShrink, &ShrinkError{Current: v.vs.current.String(), Requested: v.size.String(), Claims: v.larger}, "ask for a size at least as large as every volume"), false
	}
	return scaling.GuardResult{}, true
}

func (v expandView) expansionGuard() scaling.GuardResult {
	class := v.vs.class
	switch {
	case v.vs.expandable:
		return pass(GuardExpansion, fmt.Sprintf("StorageClass %s allows expansion: the claims grow in place", class))
	case !v.req.AcceptDataLoss:
		return block(GuardExpansion, &NotExpandableError{StorageClass: class},
			"set AcceptDataLoss to replace each server's volume in turn (every stream needs 2+ replicas), or move to an expandable StorageClass")
	}
	return warn(GuardExpansion, fmt.Sprintf("StorageClass %s does not allow expansion: each server's volume is deleted in turn and resynced from its peers", class),
		"streams are safe only through their other replicas; keep the cluster busy-free while it runs")
}

// resyncGuard applies when volumes are replaced: each server resyncs from
// its peers, so every stream needs another replica.
func (v expandView) resyncGuard() (scaling.GuardResult, bool) {
	if v.vs.expandable {
		return scaling.GuardResult{}, false
	}
	u := &UnreplicatedError{Servers: len(v.vs.claims)}
	for _, s := range v.vs.report.Streams {
		if s.Replicas < 2 {
			u.Streams = append(u.Streams, StreamRef{Account: s.Account, Name: s.Name, Replicas: s.Replicas, Peers: s.Peers})
		}
	}
	if u.Servers < 2 || len(u.Streams) > 0 {
		return block(GuardResync, u, "raise those streams to 2+ replicas first (ScaleCluster.RaiseStreamReplicas)"), true
	}
	return pass(GuardResync, fmt.Sprintf("every stream has 2+ replicas across %d servers", u.Servers)), true
}

// steps: grow the claims in place (or, without expansion, replace each
// volume after the upgrade), orphan-delete the StatefulSet when its
// template changes, and upgrade the release with the new size.
func (v expandView) steps() []scaling.Step {
	t, vs, size := v.t, v.vs, v.size
	var steps []scaling.Step
	if vs.expandable {
		for _, pvc := range v.grow {
			q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			steps = append(steps, scaling.Step{Action: ActionResizeClaim, Object: claimRef(t, pvc.Name), Field: "spec.resources.requests.storage",
				Before: q.String(), After: size.String(), Note: "wait until the volume has grown"})
		}
	}
	if v.templateChanges && !vs.orphaned {
		steps = append(steps, scaling.Step{Action: ActionOrphanStatefulSet, Object: t.stsRef(),
			Note: "delete the object only (propagationPolicy Orphan): the pods keep running; volumeClaimTemplates cannot change in place"})
	}
	note := "recreates the StatefulSet with the new template; it adopts the pods and rolls them for the new max_file_store (the config checksum changes)"
	if reloads(vs.sts) {
		note = "recreates the StatefulSet with the new template; it adopts the pods without a roll: the config reloader sidecar has each server reload nats.conf with the new max_file_store"
	}
	steps = append(steps, scaling.Step{Action: ActionSetReleaseValue, Object: helmplan.Ref(t.Namespace, t.Release), Field: t.value(storageValue),
		Before: vs.current.String(), After: size.String(), Note: note})
	if vs.expandable {
		return steps
	}
	for i := len(vs.claims) - 1; i >= 0; i-- {
		pvc := vs.claims[i]
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if q.Cmp(size) >= 0 {
			continue
		}
		steps = append(steps, scaling.Step{Action: ActionReplaceVolume, Object: claimRef(t, pvc.Name), Field: "spec.resources.requests.storage",
			Before: q.String(), After: size.String(),
			Note: fmt.Sprintf("delete the claim and pod %s; the StatefulSet recreates both at the new size; wait until the server %s is current again", t.pod(i), t.server(i))})
	}
	return steps
}
