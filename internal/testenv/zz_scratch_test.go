package testenv

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestScratchNodesStayReady(t *testing.T) {
	env := Shared()
	for i := 0; i < 12; i++ {
		nodes, _ := env.Client.CoreV1().Nodes().List(ctxT(t), metav1.ListOptions{})
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == "Ready" {
					t.Logf("%s %s ready=%s taints=%v", time.Now().Format("15:04:05"), n.Name, c.Status, n.Spec.Taints)
				}
			}
		}
		leases, _ := env.Client.CoordinationV1().Leases("kube-node-lease").List(ctxT(t), metav1.ListOptions{})
		t.Logf("leases %d", len(leases.Items))
		time.Sleep(10 * time.Second)
	}
	t.Log(env.LogTail("kube-controller-manager", 60))
}
