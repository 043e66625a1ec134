package postgres

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/internal/values"
)

// expandDecision is what decideExpand concludes: the guards, the steps
// that show the operator's part, and whether the target state holds.
type expandDecision struct {
	guards []scaling.GuardResult
	steps  []scaling.Step
	holds  bool
}

// decideExpand evaluates ExpandStorage's guards on what readVolumes read;
// it reads nothing. A shrink blocks alone (nothing else is worth saying).
func decideExpand(t releaseTarget, vs *volumeState, size resource.Quantity) expandDecision {
	name := vs.cluster.Name
	var larger []string
	var grow []*corev1.PersistentVolumeClaim
	for _, pvc := range vs.claims {
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		switch q.Cmp(size) {
		case 1:
			larger = append(larger, pvc.Name+" "+q.String())
		case -1:
			grow = append(grow, pvc)
		}
	}
	if vs.current.Cmp(size) > 0 || len(larger) > 0 {
		cause := &ShrinkError{Cluster: name, Current: vs.current.String(), Requested: size.String(), Claims: larger}
		return expandDecision{guards: []scaling.GuardResult{block(GuardShrink, cause, "ask for a size at least as large as every volume; a smaller database needs a new cluster and a migration")}}
	}
	d := expandDecision{guards: []scaling.GuardResult{pass(GuardShrink, fmt.Sprintf("%s -> %s grows the volumes", vs.current.String(), size.String()))}}
	if !vs.valueChanges && vs.current.Cmp(size) == 0 {
		d.holds = true
		return d
	}
	switch {
	case !vs.expandable:
		d.guards = append(d.guards, block(GuardExpansion, &NotExpandableError{Cluster: name, StorageClass: vs.class},
			"restore into a new cluster with bigger volumes (bootstrap.recovery from a backup, or bootstrap.pg_basebackup from this cluster), or move to an expandable StorageClass"))
	case !vs.resizeInUse:
		d.guards = append(d.guards, block(GuardExpansion, &NotExpandableError{Cluster: name, StorageClass: vs.class, ResizeDisabled: true},
			"set spec.storage.resizeInUseVolumes to true (the chart's default leaves it unset: true), or restore into a new cluster with bigger volumes"))
	default:
		d.guards = append(d.guards, pass(GuardExpansion, fmt.Sprintf("StorageClass %s allows expansion and resizeInUseVolumes is on: the operator grows the claims in place", vs.class)))
	}
	var growth resource.Quantity
	for _, pvc := range grow {
		q := size.DeepCopy()
		q.Sub(pvc.Spec.Resources.Requests[corev1.ResourceStorage])
		growth.Add(q)
	}
	d.guards = append(d.guards, quota.StorageGuard(quota.Volumes{Namespace: t.Namespace, Class: vs.class, Size: size, Growth: growth, Claims: len(grow)}, vs.quotas, vs.limits, vs.maxSize))
	for _, pvc := range grow {
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		d.steps = append(d.steps, scaling.Step{Action: ActionResizeClaim, Object: claimRef(t.Namespace, pvc.Name), Field: "spec.resources.requests.storage",
			Before: q.String(), After: size.String(), Note: "done by the operator after the upgrade; the StorageClass's resizer then grows the volume and the filesystem"})
	}
	return d
}

// quantityAt reads a size value.
func quantityAt(vals map[string]any, path string) (resource.Quantity, bool) {
	v, ok := values.Get(vals, path)
	if !ok || v == nil {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(fmt.Sprint(v))
	return q, err == nil
}

// serial is the number CloudNativePG gives an instance ("pg-3" is 3); 0
// for a name without one.
func serial(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// instanceOrder sorts instance (and claim) names by serial, then by name.
func instanceOrder(a, b string) int {
	if c := cmp.Compare(serial(a), serial(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
