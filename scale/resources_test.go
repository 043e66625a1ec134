package scale_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func resList(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// runbookRaise is the runbook's vertical scaling: requests cpu 100m ->
// 500m and memory 128Mi -> 1Gi, with the memory limit (256Mi in the chart)
// raised to match.
func runbookRaise() scale.Resources {
	return scale.Resources{Namespace: ns, Release: release,
		Requests: resList("cpu", "500m", "memory", "1Gi"), Limits: resList("memory", "1Gi")}
}

func (e *fakeEnv) addQuota(t *testing.T, name string, hard, used corev1.ResourceList) {
	t.Helper()
	_, err := e.kube.CoreV1().ResourceQuotas(ns).Create(context.Background(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard},
		Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()
}

func (e *fakeEnv) addNode(t *testing.T, name string, allocatable corev1.ResourceList) {
	t.Helper()
	_, err := e.kube.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Allocatable: allocatable, Capacity: allocatable,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()
}

func TestPlanResourcesDiffAndSteps(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	plan, err := e.client.PlanResources(context.Background(), runbookRaise())
	require.NoError(t, err)
	assert.Equal(t, scale.OpResources, plan.Operation)
	assert.False(t, plan.NoOp)
	assert.Empty(t, plan.Blocking())
	assert.Equal(t, "Set the resources of Deployment/demo/ironflow through release demo/ironflow: requests cpu=500m memory=1Gi; limits memory=1Gi.", plan.Summary)

	target := scaling.ObjectRef{Kind: "HelmRelease", Namespace: ns, Name: release}
	// The chart also renders the NATS box Deployment, with resources of
	// its own: the probe finds the app's.
	app := scaling.ObjectRef{Kind: "Deployment", Namespace: ns, Name: release}
	require.Len(t, plan.Steps, 4, plan.String())
	assert.Equal(t, scaling.Step{Action: "helm upgrade", Object: target, Field: "resources.requests.cpu", Before: "100m", After: "500m"}, plan.Steps[0])
	assert.Equal(t, scaling.Step{Action: "helm upgrade", Object: target, Field: "resources.requests.memory", Before: "128Mi", After: "1Gi"}, plan.Steps[1])
	assert.Equal(t, scaling.Step{Action: "helm upgrade", Object: target, Field: "resources.limits.memory", Before: "256Mi", After: "1Gi"}, plan.Steps[2])
	roll := plan.Steps[3]
	assert.Equal(t, "roll out", roll.Action)
	assert.Equal(t, app, roll.Object)
	assert.Equal(t, "spec.template.spec.containers[ironflow].resources", roll.Field)
	assert.Equal(t, "requests cpu=100m memory=128Mi; limits cpu=500m memory=256Mi", roll.Before)
	assert.Equal(t, "requests cpu=500m memory=1Gi; limits cpu=500m memory=1Gi", roll.After, "the cpu limit the request does not name keeps the chart's value")

	assert.Contains(t, plan.Diff, "+resources:\n+  limits:\n+    memory: 1Gi\n+  requests:\n+    cpu: 500m\n+    memory: 1Gi\n")
	assert.Contains(t, plan.Diff, "demo, ironflow, Deployment (apps/v1) changed:")
	assert.Contains(t, plan.Diff, "-              cpu: 100m\n-              memory: 128Mi\n+              cpu: 500m\n+              memory: 1Gi\n")
	assert.NotContains(t, plan.Diff, "ironflow-nats-box, Deployment", "no other workload changes")
	assert.Equal(t, scaling.Fingerprint{
		"HelmRelease/demo/ironflow revision":  "1",
		"Deployment/demo/ironflow generation": "1",
	}, plan.Fingerprint)
	guards := map[string]scaling.Outcome{}
	for _, g := range plan.Guards {
		guards[g.Name] = g.Outcome
	}
	assert.Equal(t, map[string]scaling.Outcome{
		scale.GuardLimitsBelowRequests: scaling.Pass, scale.GuardQuota: scaling.Pass,
		scale.GuardCapacity: scaling.Warn, scale.GuardBlastRadius: scaling.Pass,
	}, guards, "a fake clientset lists no nodes: the capacity guard says it could not judge")
	assert.Empty(t, e.mutatingActions(), "planning writes nothing")
}

func TestApplyResourcesKeepsOtherValuesThenReapplyIsNoOp(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, runbookRaise())
	require.NoError(t, err)
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(data)
	require.NoError(t, err)

	applied, err := e.client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	rel := e.last(t)
	assert.Equal(t, 2, rel.Revision)
	assert.Equal(t, "2", applied.Fingerprint["HelmRelease/demo/ironflow revision"])
	assert.EqualValues(t, 3, rel.Values["replicaCount"], "other user values are kept")
	assert.Equal(t, true, rel.Values["cluster"].(map[string]any)["enabled"])
	res := rel.Computed["resources"].(map[string]any)
	assert.Equal(t, map[string]any{"cpu": "500m", "memory": "1Gi"}, res["requests"])
	assert.Equal(t, map[string]any{"cpu": "500m", "memory": "1Gi"}, res["limits"], "the cpu limit is the chart's")
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	got := d.Spec.Template.Spec.Containers[0].Resources
	assert.Equal(t, "500m", got.Requests.Cpu().String())
	assert.Equal(t, "1Gi", got.Requests.Memory().String())
	assert.Equal(t, "1Gi", got.Limits.Memory().String())
	e.kube.ClearActions()

	again, err := e.client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.False(t, again.Changed)
	assert.Contains(t, again.Reason, "already holds")
	assert.Equal(t, 2, e.last(t).Revision, "no new Helm revision")
	assert.Empty(t, e.mutatingActions())

	noop, err := e.client.PlanResources(ctx, runbookRaise())
	require.NoError(t, err)
	assert.True(t, noop.NoOp)
	assert.Empty(t, noop.Steps)
	assert.Empty(t, noop.Diff)
}

// A request that the chart's values already hold, in any spelling, is a
// no-op: nothing to upgrade, nothing to roll.
func TestPlanResourcesNoOp(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release,
		Requests: resList("cpu", "0.1", "memory", "128Mi"), Limits: resList("cpu", "500m")})
	require.NoError(t, err)
	assert.True(t, plan.NoOp, plan.String())
	assert.Empty(t, plan.Steps)
	assert.Empty(t, plan.Diff)
	assert.Contains(t, plan.String(), "No changes.")
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, applied.Changed)
	assert.Empty(t, e.mutatingActions())
	assert.Equal(t, 1, e.last(t).Revision)
}

func TestPlanResourcesInvalidInputReadsAndWritesNothing(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	for name, r := range map[string]scale.Resources{
		"no namespace":            {Release: release, Requests: resList("cpu", "1")},
		"no release":              {Namespace: ns, Requests: resList("cpu", "1")},
		"nothing to set":          {Namespace: ns, Release: release},
		"empty lists":             {Namespace: ns, Release: release, Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}},
		"negative request":        {Namespace: ns, Release: release, Requests: resList("cpu", "-1")},
		"negative limit":          {Namespace: ns, Release: release, Limits: resList("memory", "-1Gi")},
		"limit below its request": {Namespace: ns, Release: release, Requests: resList("memory", "1Gi"), Limits: resList("memory", "512Mi")},
		"dotted resource name":    {Namespace: ns, Release: release, Limits: resList("nvidia.com/gpu", "1")},
		"bad value path":          {Namespace: ns, Release: release, Requests: resList("cpu", "1"), ValuePath: "app..resources"},
	} {
		_, err := e.client.PlanResources(ctx, r)
		require.ErrorIs(t, err, scaling.ErrInvalidInput, name)
		var in *scaling.InvalidInputError
		require.ErrorAs(t, err, &in, name)
	}
	_, err := e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release, Requests: resList("memory", "1Gi"), Limits: resList("memory", "512Mi")})
	var in *scaling.InvalidInputError
	require.ErrorAs(t, err, &in)
	assert.Equal(t, "Resources.Limits.memory", in.Field)
	assert.Contains(t, in.Reason, "below the request 1Gi")
	assert.Empty(t, e.kube.Actions(), "invalid input reads nothing from the cluster")
	assert.Empty(t, e.mutatingActions())

	_, err = e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: "missing", Requests: resList("cpu", "1")})
	assert.ErrorIs(t, err, scaling.ErrNotFound)
	_, err = e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release, Requests: resList("cpu", "1"), ValuePath: "nats.resources"})
	require.ErrorIs(t, err, scaling.ErrNotFound, "a value path that drives no container")
	assert.Contains(t, err.Error(), "nats.resources.requests.cpu")
	assert.Empty(t, e.mutatingActions())
	assert.Equal(t, 1, e.last(t).Revision)
}

// The runbook's raise without the memory limit: 1Gi requested, the chart's
// 256Mi limit stays; only known once merged with the chart, so a guard.
func TestLimitsBelowRequestsBlocksAndApplyRefuses(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release, Requests: resList("cpu", "500m", "memory", "1Gi")})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	assert.Equal(t, scale.GuardLimitsBelowRequests, blocked[0].Name)
	assert.Equal(t, "Deployment/demo/ironflow: container ironflow memory limit 256Mi is below its request 1Gi", blocked[0].Reason)
	assert.Contains(t, blocked[0].Remedy, "Resources.Limits")

	// Stored as JSON, the typed cause comes back with its numbers.
	_, err = e.client.Apply(ctx, stored(t, plan, func(map[string]any) {}))
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	require.ErrorIs(t, err, scale.ErrLimitsBelowRequests)
	var cause *scale.LimitsBelowRequestsError
	require.ErrorAs(t, err, &cause)
	assert.Equal(t, []scale.LimitInversion{{Container: "ironflow", Resource: "memory", Request: "1Gi", Limit: "256Mi"}}, cause.Inversions)
	assert.Empty(t, e.mutatingActions(), "nothing written")
	assert.Equal(t, 1, e.last(t).Revision)
}

func TestResourcesQuotaShortfallBlocksWithNumbers(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	// 3 pods of 100m / 128Mi run, with 200m / 128Mi of something else.
	e.addQuota(t, "team", resList("requests.cpu", "1500m", "requests.memory", "8Gi", "pods", "10"),
		resList("requests.cpu", "500m", "requests.memory", "512Mi", "pods", "3"))
	plan, err := e.client.PlanResources(ctx, runbookRaise())
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	assert.Equal(t, scale.GuardQuota, blocked[0].Name)
	// 3 new pods of 500m and 1 old one of 100m at the peak (maxSurge 25%
	// of 3, rounded up): 200m + 1600m > 1500m.
	assert.Equal(t, "rolling out Deployment/demo/ironflow (3 replicas + 1 surge): team requests.cpu: the peak of 4 pods adds 1300m, 1 left (hard 1500m, used 500m)", blocked[0].Reason)

	_, err = e.client.Apply(ctx, stored(t, plan, func(map[string]any) {}))
	require.ErrorIs(t, err, scale.ErrQuota)
	var q *scale.QuotaError
	require.ErrorAs(t, err, &q)
	assert.Equal(t, &scale.QuotaRollout{Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: ns, Name: release}, Current: 3, Replicas: 3, Surge: 1}, q.Rollout)
	assert.Equal(t, []scale.QuotaShortfall{{Quota: "team", Resource: "requests.cpu", Pods: 4, Need: "1300m", Left: "1", Hard: "1500m", Used: "500m"}}, q.Short)
	assert.Empty(t, e.mutatingActions())
	assert.Equal(t, 1, e.last(t).Revision)

	// What fits passes: 200m others + 3 x 400m + 100m = 1500m.
	fits, err := e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release, Requests: resList("cpu", "400m")})
	require.NoError(t, err)
	require.Empty(t, fits.Blocking(), fits.String())
}

// With an HPA owning the count, the rollout is of today's pods; the HPA's
// maximum of the new size beyond the quota is a warning.
func TestResourcesWarnsWhenTheHPAMaximumDoesNotFit(t *testing.T) {
	vals := clustered(3)
	vals["autoscaling"] = map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 10}
	e := newFakeEnv(t, vals)
	e.scaleBehindBack(t, 3) // the HPA's count: the chart renders none
	e.addQuota(t, "team", resList("requests.cpu", "4"), resList("requests.cpu", "300m"))
	plan, err := e.client.PlanResources(context.Background(), scale.Resources{Namespace: ns, Release: release, Requests: resList("cpu", "500m")})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	var g scaling.GuardResult
	for _, x := range plan.Guards {
		if x.Name == scale.GuardQuota {
			g = x
		}
	}
	assert.Equal(t, scaling.Warn, g.Outcome, plan.String())
	assert.Contains(t, g.Reason, "(3 replicas + 1 surge) fits")
	assert.Contains(t, g.Reason, "HPA ironflow may scale to 10 pods of the new size, which do not: team requests.cpu: 4700m more, 3700m left (hard 4, used 300m)")
	assert.NotContains(t, plan.Fingerprint, "Deployment/demo/ironflow generation", "the HPA moves the generation")
}

func TestResourcesPodLargerThanTheLargestNodeBlocks(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	e.addNode(t, "small", resList("cpu", "2", "memory", "8Gi", "pods", "110"))
	e.addNode(t, "large", resList("cpu", "4", "memory", "16Gi", "pods", "110"))
	plan, err := e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release, Requests: resList("cpu", "6"), Limits: resList("cpu", "6")})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	assert.Equal(t, scale.GuardCapacity, blocked[0].Name)
	assert.Contains(t, blocked[0].Reason, "one pod needs 6 cpu, the largest node has 4")

	_, err = e.client.Apply(ctx, plan)
	var capacity *scaling.CapacityError
	require.ErrorAs(t, err, &capacity)
	assert.Equal(t, scaling.CapacityShortfall{Of: "Largest", Resource: "cpu", Need: "6", Have: "4"}, capacity.Short[0])
	assert.Empty(t, e.mutatingActions())

	fits, err := e.client.PlanResources(ctx, scale.Resources{Namespace: ns, Release: release, Requests: resList("cpu", "1500m"), Limits: resList("cpu", "2")})
	require.NoError(t, err)
	require.Empty(t, fits.Blocking(), fits.String())
}

// TestEditedResourcesPlansAreRefused: what was approved is what runs.
func TestEditedResourcesPlansAreRefused(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(m map[string]any)
		want error
	}{
		"request cpu 500m -> 5, display untouched": {func(m map[string]any) {
			request(m)["requests"].(map[string]any)["cpu"] = "5"
		}, scaling.ErrPlanMismatch},
		"request gains a limit": {func(m map[string]any) {
			request(m)["limits"].(map[string]any)["cpu"] = "64"
		}, scaling.ErrPlanMismatch},
		// It drives the NATS StatefulSet: another object than the plan read.
		"value path moved to NATS": {func(m map[string]any) { request(m)["valuePath"] = "nats.container.merge.resources" }, scaling.ErrPlanMismatch},
		"spec values inject an image": {func(m map[string]any) {
			spec(m)["values"].(map[string]any)["image"] = map[string]any{"repository": "evil.example/backdoor"}
		}, scaling.ErrPlanMismatch},
		"expected resources in the spec edited": {func(m map[string]any) {
			spec(m)["containers"].([]any)[0].(map[string]any)["resources"] = map[string]any{}
		}, scaling.ErrPlanMismatch},
		"steps say 5": {func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["after"] = "5" }, scaling.ErrPlanMismatch},
		"negative request": {func(m map[string]any) {
			request(m)["requests"].(map[string]any)["cpu"] = "-1"
		}, scaling.ErrInvalidInput},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, clustered(3))
			ctx := context.Background()
			plan, err := e.client.PlanResources(ctx, runbookRaise())
			require.NoError(t, err)
			_, err = e.client.Apply(ctx, stored(t, plan, c.edit))
			require.ErrorIs(t, err, c.want)
			assert.Empty(t, e.mutatingActions(), "nothing written")
			assert.Equal(t, 1, e.last(t).Revision)

			_, err = e.client.Apply(ctx, stored(t, plan, func(map[string]any) {}))
			require.NoError(t, err, "the plan as approved still applies")
			assert.Equal(t, 2, e.last(t).Revision)
		})
	}
}

// Verify of a plan that was never applied fails on the release's values
// before it watches anything.
func TestVerifyResourcesNotAppliedFails(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, runbookRaise())
	require.NoError(t, err)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase)
	c, ok := v.Check("release-values")
	require.True(t, ok)
	assert.Equal(t, "requests.cpu=500m, requests.memory=1Gi, limits.memory=1Gi", c.Observed)
	assert.Contains(t, v.Reason, "does not carry")
}

// Someone sets the resources back by hand after the upgrade (`kubectl set
// resources`): Verify names what the template has instead of the plan's.
func TestVerifyResourcesReportsAnOverride(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plan, err := e.client.PlanResources(ctx, runbookRaise())
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	d.Spec.Template.Spec.Containers[0].Resources.Requests = resList("cpu", "100m", "memory", "1Gi")
	_, err = e.kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)

	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Overridden, v.Phase, v.String())
	assert.Equal(t, "the pod template of Deployment/demo/ironflow has ironflow requests cpu=100m memory=1Gi; limits cpu=500m memory=1Gi, the plan set ironflow requests cpu=500m memory=1Gi; limits cpu=500m memory=1Gi", v.Reason)
	c, ok := v.Check("template-resources")
	require.True(t, ok)
	assert.False(t, c.Passed)
}

// rolledOut plays the Deployment controller on the fake clientset: the
// current ReplicaSet (revision 2) and pods of the live template, Ready,
// plus old pods of another template hash.
func (e *fakeEnv) rolledOut(t *testing.T, ctx context.Context, current, old int) {
	t.Helper()
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "2"}
	d.Status.ObservedGeneration = d.Generation
	_, err = e.kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	labels := func(hash string) map[string]string {
		l := map[string]string{"pod-template-hash": hash}
		for k, v := range d.Spec.Selector.MatchLabels {
			l[k] = v
		}
		return l
	}
	_, err = e.kube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: release + "-new", Labels: labels("new"),
		Annotations:     map[string]string{"deployment.kubernetes.io/revision": "2"},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod := func(name, hash string, spec corev1.PodSpec) {
		_, err := e.kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(hash)}, Spec: spec,
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for i := range current {
		pod(fmt.Sprintf("new-%d", i), "new", d.Spec.Template.Spec)
	}
	for i := range old {
		oldSpec := *d.Spec.Template.Spec.DeepCopy()
		oldSpec.Containers[0].Resources.Requests = resList("cpu", "100m", "memory", "128Mi")
		pod(fmt.Sprintf("old-%d", i), "old", oldSpec)
	}
}

func TestVerifyResourcesWaitsForEveryPodWithTheNewResources(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, runbookRaise())
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)

	// One old pod still runs: the watch does not end before the deadline.
	e.rolledOut(t, ctx, 3, 1)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err := e.client.Verify(short, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase, v.String())
	c, _ := v.Check("pods-resources")
	assert.Equal(t, "3 of 4 pods", c.Observed)
	assert.Equal(t, "old-0: ironflow requests cpu=100m memory=128Mi; limits cpu=500m memory=1Gi", c.Detail)
	c, _ = v.Check("old-pods-gone")
	assert.Equal(t, "1", c.Observed)

	require.NoError(t, e.kube.CoreV1().Pods(ns).Delete(ctx, "old-0", metav1.DeleteOptions{}))
	v, err = e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
	for _, name := range []string{"template-resources", "rollout-observed", "pods-ready", "pods-resources", "old-pods-gone"} {
		c, ok := v.Check(name)
		require.True(t, ok, name)
		assert.True(t, c.Passed, name)
	}
}
