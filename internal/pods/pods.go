// Package pods answers what every operation asks of a pod the same way.
package pods

import corev1 "k8s.io/api/core/v1"

// Ready reports whether the pod's Ready condition is true (a terminating
// pod can still be Ready: callers that care check DeletionTimestamp).
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
