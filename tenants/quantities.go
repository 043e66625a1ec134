package tenants

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling/internal/values"
)

// valueMap reads the map at a dotted path of a values tree.
func valueMap(tree map[string]any, path string) (map[string]any, bool) {
	v, ok := values.Get(tree, path)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// quantityOf reads a quota limit as values hold it: a string ("4Gi", "2")
// or a YAML number (20).
func quantityOf(v any) (resource.Quantity, bool) {
	switch v.(type) {
	case string, int, int32, int64, float64:
		q, err := resource.ParseQuantity(fmt.Sprint(v))
		return q, err == nil
	}
	return resource.Quantity{}, false
}

// canonical renders a hard map of values with canonical quantities, so "4"
// and 4, "4096Mi" and "4Gi" compare equal; a value that is no quantity is
// kept as text (the API server will refuse it, and the diff shows it).
func canonical(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if q, ok := quantityOf(v); ok {
			out[k] = q.String()
		} else {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// sameHard reports whether a quota's hard list is the canonical map: the
// same resources, each the same quantity.
func sameHard(l corev1.ResourceList, want map[string]string) bool {
	if len(l) != len(want) {
		return false
	}
	for k, w := range want {
		q, ok := l[corev1.ResourceName(k)]
		if !ok {
			return false
		}
		wq, err := resource.ParseQuantity(w)
		if err != nil || q.Cmp(wq) != 0 {
			return false
		}
	}
	return true
}

// hardText renders a resource list for people and fingerprints, sorted:
// "limits.cpu=4, pods=20".
func hardText(l corev1.ResourceList) string {
	m := make(map[string]string, len(l))
	for k, q := range l {
		m[string(k)] = q.String()
	}
	return hardMapText(m)
}

func hardMapText(m map[string]string) string {
	if len(m) == 0 {
		return "(none)"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// mapText renders a hard map of values as hardText does.
func mapText(m map[string]any) string { return hardMapText(canonical(m)) }

func orNone(v any) string {
	if v == nil {
		return "(none)"
	}
	return fmt.Sprint(v)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
