package nats

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestTheStatefulSetCheckWaitsForTheRolloutToEnd: the demo's ScaleCluster
// 3 -> 5 Verify said Succeeded with 4 of 5 pods rolled to the new config,
// and the fifth restarted under the caller's next request. The check's
// observation equals the expected "5 replicas, 5 ready" only once the
// controller observed the spec and every pod runs the update revision.
func TestTheStatefulSetCheckWaitsForTheRolloutToEnd(t *testing.T) {
	five := int32(5)
	sts := func(mutate func(*appsv1.StatefulSet)) cache.Store {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "ns", Generation: 2},
			Spec: appsv1.StatefulSetSpec{Replicas: &five},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 5, ReadyReplicas: 5, UpdatedReplicas: 5,
				CurrentRevision: "n-2", UpdateRevision: "n-2"}}
		mutate(s)
		store := cache.NewStore(cache.MetaNamespaceKeyFunc)
		require.NoError(t, store.Add(s))
		return store
	}
	done, _ := statefulSetState(sts(func(*appsv1.StatefulSet) {}))
	assert.Equal(t, "5 replicas, 5 ready", done)
	for want, mutate := range map[string]func(*appsv1.StatefulSet){
		"5 replicas, 5 ready, 4 updated":             func(s *appsv1.StatefulSet) { s.Status.UpdatedReplicas = 4 },
		"5 replicas, 5 ready, rolling to n-2":        func(s *appsv1.StatefulSet) { s.Status.CurrentRevision = "n-1" },
		"5 replicas, 5 ready, spec not yet observed": func(s *appsv1.StatefulSet) { s.Status.ObservedGeneration = 1 },
	} {
		got, _ := statefulSetState(sts(mutate))
		assert.Equal(t, want, got)
		assert.NotEqual(t, done, got, "a rollout under way is not the expected state")
	}
}
