package scale_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling/scale"
)

// BenchmarkPlanReplicas measures one plan on the real control plane, in a
// namespace with 20 and with 2,000 other pods: a plan must not read pods, so
// the request count stays the same. Reported: requests/op and ms/op.
func BenchmarkPlanReplicas(b *testing.B) {
	for _, pods := range []int32{20, 2000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			e := newRealEnv(b, appOnly(3))
			fill(b, e, pods)
			ctx := context.Background()
			e.rec.Reset()
			b.ResetTimer()
			for range b.N {
				_, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
				require.NoError(b, err)
			}
			b.StopTimer()
			b.ReportMetric(float64(e.rec.Total())/float64(b.N), "requests/op")
			b.ReportMetric(float64(len(e.rec.Mutating()))/float64(b.N), "writes/op")
		})
	}
}

// fill adds n pods to the namespace that never schedule (their node
// selector matches no node), so they cost the API server storage but no
// KWOK work.
func fill(b *testing.B, e *realEnv, n int32) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	labels := map[string]string{"app": "filler"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "filler"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"nowhere": "true"},
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	_, err := e.cluster.Kube.AppsV1().Deployments(e.ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(b, err)
	for {
		pods, err := e.cluster.Kube.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=filler", ResourceVersion: "0"})
		require.NoError(b, err)
		if int32(len(pods.Items)) >= n {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("only %d of %d filler pods after 5 min", len(pods.Items), n)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
