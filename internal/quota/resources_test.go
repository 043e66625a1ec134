package quota_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/postgres"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(req, lim corev1.ResourceList) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}}}
}

// The surge the rollout's peak counts is the connection budget's
// (postgres.Surge): maxSurge 25% of the replicas rounded up, an absolute
// maxSurge as given, none for Recreate or a StatefulSet (nil strategy).
func TestSurgeOfTheRollout(t *testing.T) {
	rolling := &appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	for replicas, want := range map[int32]int32{1: 1, 3: 1, 4: 1, 5: 2, 8: 2, 9: 3} {
		assert.Equal(t, want, postgres.Surge(rolling, replicas), "%d replicas, default 25%%", replicas)
	}
	two := intstr.FromInt32(2)
	assert.EqualValues(t, 2, postgres.Surge(&appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &two}}, 10))
	assert.Zero(t, postgres.Surge(&appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, 10))
	assert.Zero(t, postgres.Surge(nil, 10))
}

func TestRolloutPeak(t *testing.T) {
	old, raised := quota.PodRequests(pod(rl("cpu", "100m", "memory", "128Mi"), nil)), quota.PodRequests(pod(rl("cpu", "500m", "memory", "1Gi"), nil))
	for name, c := range map[string]struct {
		r          quota.Rollout
		key        corev1.ResourceName
		peak, adds string
		pods       int32
	}{
		// 3 new pods of 500m while 1 old pod of 100m still runs.
		"raise, 3 replicas + 1 surge": {quota.Rollout{Current: 3, Old: old, Replicas: 3, Surge: 1, New: raised}, "requests.cpu", "1600m", "1300m", 4},
		// A cut peaks before the old pods go: 3 old + 1 surge pod.
		"cut, 3 replicas + 1 surge": {quota.Rollout{Current: 3, Old: raised, Replicas: 3, Surge: 1, New: old}, "requests.cpu", "1600m", "100m", 4},
		// Recreate (no surge): the new pods only once the old ones went.
		"raise, recreate": {quota.Rollout{Current: 3, Old: old, Replicas: 3, New: raised}, "requests.cpu", "1500m", "1200m", 3},
		"cut, recreate":   {quota.Rollout{Current: 3, Old: raised, Replicas: 3, New: old}, "requests.cpu", "1500m", "0", 3},
		// The pod count grows by the surge.
		"pods, 8 replicas + 2 surge": {quota.Rollout{Current: 8, Old: old, Replicas: 8, Surge: 2, New: raised}, "pods", "10", "2", 10},
		// A surge above the replicas adds no more new pods than replicas.
		"surge above replicas": {quota.Rollout{Current: 1, Old: old, Replicas: 1, Surge: 5, New: raised}, "requests.memory", "1152Mi", "1Gi", 2},
		// Scaled back to replicaCount by the same upgrade: 5 old pods, 3 new.
		"5 running, 3 after": {quota.Rollout{Current: 5, Old: old, Replicas: 3, Surge: 1, New: raised}, "requests.cpu", "1700m", "1200m", 5},
		"no pods":            {quota.Rollout{Old: old, New: raised}, "requests.cpu", "0", "0", 0},
	} {
		t.Run(name, func(t *testing.T) {
			peak, pods := c.r.Peak(c.key)
			assert.Equal(t, 0, peak.Cmp(resource.MustParse(c.peak)), "peak %s, want %s", peak.String(), c.peak)
			assert.Equal(t, c.pods, pods)
			adds, _ := c.r.Added(c.key)
			assert.Equal(t, 0, adds.Cmp(resource.MustParse(c.adds)), "adds %s, want %s", adds.String(), c.adds)
		})
	}
}

func quotaOf(name string, hard, used corev1.ResourceList) corev1.ResourceQuota {
	return corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func TestRolloutFitTheRunbooksRaise(t *testing.T) {
	old := quota.PodRequests(pod(rl("cpu", "100m", "memory", "128Mi"), rl("cpu", "500m", "memory", "256Mi")))
	raised := quota.PodRequests(pod(rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "500m", "memory", "1Gi")))
	r := quota.Rollout{Current: 3, Old: old, Replicas: 3, Surge: 1, New: raised}
	// 3 pods run (300m, 384Mi) plus 200m / 128Mi of others.
	used := rl("requests.cpu", "500m", "requests.memory", "512Mi", "limits.memory", "768Mi", "pods", "3")

	fits := quotaOf("team", rl("requests.cpu", "4", "requests.memory", "8Gi", "limits.memory", "8Gi", "pods", "10"), used)
	assert.Empty(t, quota.RolloutFit([]corev1.ResourceQuota{fits}, r))

	// cpu: 200m others + 1600m peak = 1800m > 1500m; memory (the short
	// key "memory" is requests.memory): 128Mi + 3Gi + 128Mi > 2Gi; pods:
	// 4 > 3; limits.memory: 3Gi + 256Mi > 3Gi.
	tight := quotaOf("team", rl("cpu", "1500m", "memory", "2Gi", "limits.memory", "3Gi", "pods", "3", "services", "1"),
		rl("cpu", "500m", "memory", "512Mi", "limits.memory", "768Mi", "pods", "3"))
	short := quota.RolloutFit([]corev1.ResourceQuota{fits, tight}, r)
	require.Len(t, short, 4)
	got := map[corev1.ResourceName]quota.Shortfall{}
	for _, s := range short {
		assert.Equal(t, "team", s.Quota)
		got[s.Resource] = s
	}
	cpu := got["cpu"]
	assert.Equal(t, "1300m", cpu.Need.String(), "the peak adds 1600m - 300m")
	assert.Equal(t, "1", cpu.Left.String())
	assert.Equal(t, "1500m", cpu.Hard.String())
	assert.Equal(t, "500m", cpu.Used.String())
	assert.EqualValues(t, 4, cpu.Pods)
	mem, pods, limMem := got["memory"], got["pods"], got["limits.memory"]
	assert.Equal(t, 0, mem.Need.Cmp(resource.MustParse("2816Mi")), "3 x 1Gi + 128Mi - 3 x 128Mi, got %s", mem.Need.String())
	assert.Equal(t, "1", pods.Need.String())
	assert.Equal(t, 0, limMem.Need.Cmp(resource.MustParse("2560Mi")), "3 x 1Gi + 256Mi - 3 x 256Mi, got %s", limMem.Need.String())
	assert.NotContains(t, got, corev1.ResourceName("services"), "a key no pod asks for does not constrain")

	// A cut that still grows the pods by the surge: only what the surge
	// pod adds counts.
	cut := quota.Rollout{Current: 3, Old: raised, Replicas: 3, Surge: 1, New: old}
	full := quotaOf("team", rl("requests.cpu", "1600m"), rl("requests.cpu", "1500m"))
	assert.Empty(t, quota.RolloutFit([]corev1.ResourceQuota{full}, cut), "100m left holds the one 100m surge pod")
	full = quotaOf("team", rl("requests.cpu", "1550m"), rl("requests.cpu", "1500m"))
	require.Len(t, quota.RolloutFit([]corev1.ResourceQuota{full}, cut), 1)
}

func TestLimitsBelowRequests(t *testing.T) {
	spec := pod(rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "500m", "memory", "256Mi"))
	spec.Containers = append(spec.Containers, corev1.Container{Name: "sidecar", Resources: corev1.ResourceRequirements{Limits: rl("cpu", "10m")}})
	spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "2", "memory", "1Gi"), Limits: rl("cpu", "1", "memory", "512Mi")}}}
	inv := quota.LimitsBelowRequests(spec)
	require.Len(t, inv, 3)
	assert.Equal(t, "app", inv[0].Container)
	assert.Equal(t, corev1.ResourceMemory, inv[0].Resource)
	assert.Equal(t, "1Gi", inv[0].Request.String())
	assert.Equal(t, "256Mi", inv[0].Limit.String())
	assert.Equal(t, []string{"init cpu", "init memory"}, []string{inv[1].Container + " " + string(inv[1].Resource), inv[2].Container + " " + string(inv[2].Resource)})
	assert.Empty(t, quota.LimitsBelowRequests(pod(rl("cpu", "500m"), rl("cpu", "500m", "memory", "1Gi"))), "equal, and a limit without a request")
}
