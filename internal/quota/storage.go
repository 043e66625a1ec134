package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
)

// Volumes is what a volume resize asks: Claims of StorageClass Class
// growing to Size, Growth in all (the sum of size - current over the
// claims below it).
type Volumes struct {
	Namespace, Class string
	Size, Growth     resource.Quantity
	Claims           int
}

// StorageClassKey is the quota key of one class's claimed storage.
func StorageClassKey(class string) corev1.ResourceName {
	return corev1.ResourceName(class + ".storageclass.storage.k8s.io/requests.storage")
}

// StorageGuard is scaling.GuardStorage for v: it blocks growth beyond what a
// ResourceQuota leaves (requests.storage, or the class's own key), a size
// above a PersistentVolumeClaim LimitRange's max, and a size above largest
// (the largest volume the backend provisions; zero: no maximum). The cause is a
// *scaling.StorageError with each limit's numbers.
func StorageGuard(v Volumes, quotas []corev1.ResourceQuota, limits []corev1.LimitRange, largest resource.Quantity) scaling.GuardResult {
	cause := &scaling.StorageError{Namespace: v.Namespace, Class: v.Class, Size: v.Size.String(), Claims: v.Claims}
	checked := []string{}
	for _, q := range quotas {
		for _, key := range []corev1.ResourceName{corev1.ResourceRequestsStorage, StorageClassKey(v.Class)} {
			hard, ok := q.Spec.Hard[key]
			if !ok {
				continue
			}
			used := q.Status.Used[key]
			left := hard.DeepCopy()
			left.Sub(used)
			checked = append(checked, fmt.Sprintf("ResourceQuota %s %s leaves %s", q.Name, key, left.String()))
			if v.Growth.Cmp(left) > 0 {
				cause.Short = append(cause.Short, scaling.StorageShortfall{Of: "ResourceQuota", Name: q.Name, Resource: string(key), Need: v.Growth.String(), Have: left.String()})
			}
		}
	}
	for _, lr := range limits {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypePersistentVolumeClaim {
				continue
			}
			if m, ok := item.Max[corev1.ResourceStorage]; ok {
				checked = append(checked, fmt.Sprintf("LimitRange %s allows claims up to %s", lr.Name, m.String()))
				if v.Size.Cmp(m) > 0 {
					cause.Short = append(cause.Short, scaling.StorageShortfall{Of: "LimitRange", Name: lr.Name, Need: v.Size.String(), Have: m.String()})
				}
			}
		}
	}
	if !largest.IsZero() {
		checked = append(checked, "the backend provisions volumes up to "+largest.String())
		if v.Size.Cmp(largest) > 0 {
			cause.Short = append(cause.Short, scaling.StorageShortfall{Of: "volume maximum", Need: v.Size.String(), Have: largest.String()})
		}
	}
	g := scaling.GuardResult{Name: scaling.GuardStorage, Outcome: scaling.Pass}
	if len(cause.Short) > 0 {
		g.Outcome, g.Cause, g.Reason = scaling.Block, cause, strings.TrimPrefix(cause.Error(), "scaling: ")
		g.Remedy = "ask for less, or raise the limit first (the quota's requests.storage, the LimitRange's max, or the maximum in the options when the backend allows more)"
		return g
	}
	g.Reason = fmt.Sprintf("%d claims growing by %s in all fit", v.Claims, v.Growth.String())
	if len(checked) > 0 {
		g.Reason += ": " + strings.Join(checked, "; ")
	} else {
		g.Reason += ": no storage quota, LimitRange or maximum applies"
	}
	return g
}
