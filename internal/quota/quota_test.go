package quota

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestPodRequestsCountsInitContainersByTheirLargest(t *testing.T) {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: list("cpu", "250m", "memory", "256Mi"), Limits: list("memory", "512Mi")}},
			{Resources: corev1.ResourceRequirements{Requests: list("cpu", "250m")}},
		},
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: list("cpu", "2", "memory", "64Mi")}}},
	}
	got := PodRequests(spec)
	assert.Equal(t, "2", ptr(got["requests.cpu"]).String(), "the init container's 2 CPUs are more than the containers' 500m")
	assert.Equal(t, "256Mi", ptr(got["requests.memory"]).String())
	assert.Equal(t, "512Mi", ptr(got["limits.memory"]).String())
	assert.Equal(t, "1", ptr(got["pods"]).String())
}

func ptr(q resource.Quantity) *resource.Quantity { return &q }

func TestFitNamesEachShortResource(t *testing.T) {
	perPod := list("requests.cpu", "500m", "requests.memory", "1Gi", "pods", "1")
	quotas := []corev1.ResourceQuota{{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant"},
		Spec:       corev1.ResourceQuotaSpec{Hard: list("cpu", "2", "requests.memory", "8Gi", "count/pods", "4", "services", "1")},
		Status:     corev1.ResourceQuotaStatus{Used: list("cpu", "1500m", "requests.memory", "3Gi", "count/pods", "3", "services", "1")},
	}}
	short := Fit(quotas, 2, perPod)
	require.Len(t, short, 2, "cpu (1 CPU needed, 500m left) and pods (2 needed, 1 left); memory fits; services constrain no pod")
	assert.Equal(t, corev1.ResourceName("count/pods"), short[0].Resource)
	assert.Equal(t, "2", short[0].Need.String())
	assert.Equal(t, "1", short[0].Left.String())
	assert.Equal(t, corev1.ResourceName("cpu"), short[1].Resource)
	assert.Equal(t, "1", short[1].Need.String())
	assert.Equal(t, "500m", short[1].Left.String())
	assert.Equal(t, "tenant", short[1].Quota)

	assert.Empty(t, Fit(quotas, 1, perPod), "one more pod fits")
	assert.Empty(t, Fit(quotas, 0, perPod), "no extra pods never fall short")
	assert.Empty(t, Fit(nil, 5, perPod), "no quota, no limit")
}

func node(name string, ready, cordoned bool, kv ...string) corev1.Node {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Unschedulable: cordoned},
		Status: corev1.NodeStatus{Allocatable: list(kv...), Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}}}
}

func TestCapacityCountsSchedulableNodesOnly(t *testing.T) {
	c := NodeCapacity([]corev1.Node{
		node("a", true, false, "cpu", "4", "memory", "8Gi", "pods", "110"),
		node("b", true, false, "cpu", "2", "memory", "16Gi", "pods", "110"),
		node("down", false, false, "cpu", "64", "memory", "256Gi", "pods", "110"),
		node("cordoned", true, true, "cpu", "64", "memory", "256Gi", "pods", "110"),
	})
	assert.Equal(t, 2, c.Nodes)
	assert.Equal(t, "6", ptr(c.Total["cpu"]).String())
	assert.Equal(t, "24Gi", ptr(c.Total["memory"]).String())
	assert.Equal(t, "4", ptr(c.Largest["cpu"]).String())
	assert.Equal(t, "16Gi", ptr(c.Largest["memory"]).String())

	perPod := list("requests.cpu", "500m", "requests.memory", "1Gi")
	assert.Empty(t, c.Exceeds(12, perPod), "12 x 500m = 6 CPUs: exactly what the nodes have")
	short := c.Exceeds(13, perPod)
	require.Len(t, short, 1)
	assert.Equal(t, "Total", short[0].Quota)
	assert.Equal(t, corev1.ResourceName("cpu"), short[0].Resource)

	big := c.Exceeds(1, list("requests.cpu", "8"))
	require.Len(t, big, 2, "larger than any node, and than all of them")
	assert.Equal(t, "Largest", big[0].Quota)

	huge := c.Exceeds(2147483647, list("requests.memory", "4Gi"))
	require.NotEmpty(t, huge, "2^31 pods do not wrap around")
	assert.Equal(t, "8589934588Gi", ptr(huge[0].Need).String())
	pods := c.Exceeds(221, list())
	require.Len(t, pods, 1, "220 pod slots")
	assert.Equal(t, corev1.ResourcePods, pods[0].Resource)
}
