package await

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(name string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func readyPods(s Stores) int {
	n := 0
	for _, p := range List[*corev1.Pod](s[0]) {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

func podSource(kube *fake.Clientset) Source {
	pods := kube.CoreV1().Pods("ns")
	return Typed(kube, "pods", &corev1.Pod{}, pods.List, pods.Watch, metav1.ListOptions{LabelSelector: "app=web"})
}

func TestUntilReturnsWhenConditionHoldsAfterEvents(t *testing.T) {
	kube := fake.NewClientset(pod("a", true), pod("b", false))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	evaluations := 0
	firstSeen := make(chan struct{})
	go func() {
		// Turn b Ready only after the waiter has evaluated the initial state.
		<-firstSeen
		_, err := kube.CoreV1().Pods("ns").UpdateStatus(ctx, pod("b", true), metav1.UpdateOptions{})
		assert.NoError(t, err)
	}()
	err := Until(ctx, []Source{podSource(kube)}, func(s Stores) (bool, error) {
		evaluations++
		if evaluations == 1 {
			assert.Equal(t, 1, readyPods(s), "initial state: only a is ready")
			close(firstSeen)
		}
		return readyPods(s) == 2, nil
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, evaluations, 2, "the first evaluation saw one ready pod, a later one two")
}

func TestUntilHonoursDeadline(t *testing.T) {
	kube := fake.NewClientset(pod("a", false))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := Until(ctx, []Source{podSource(kube)}, func(s Stores) (bool, error) { return readyPods(s) == 1, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestUntilStopsOnConditionError(t *testing.T) {
	kube := fake.NewClientset(pod("a", false))
	boom := errors.New("cannot converge")
	err := Until(context.Background(), []Source{podSource(kube)}, func(Stores) (bool, error) { return false, boom })
	assert.ErrorIs(t, err, boom)
}

func TestUntilNeedsSources(t *testing.T) {
	assert.Error(t, Until(context.Background(), nil, func(Stores) (bool, error) { return true, nil }))
}

func TestSignalledEvaluatesOncePerSignal(t *testing.T) {
	changed := make(chan struct{}, 1)
	var state, evaluations int
	go func() {
		for i := 0; i < 3; i++ {
			changed <- struct{}{}
		}
	}()
	err := Signalled(context.Background(), changed, func() (bool, error) {
		evaluations++
		state++ // each evaluation sees one more change
		return state == 4, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, evaluations, "one evaluation up front, then one per signal")
}

func TestSignalledWithoutSignalsEndsAtTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Signalled(ctx, nil, func() (bool, error) { return false, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestMergeDeliversFromEveryInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	out := Merge(ctx, a, b)
	a <- struct{}{}
	select {
	case <-out:
	case <-ctx.Done():
		t.Fatal("nothing from a")
	}
	b <- struct{}{}
	select {
	case <-out:
	case <-ctx.Done():
		t.Fatal("nothing from b")
	}
}
