package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nats"
)

// claims returns the JetStream claims of the servers by name.
func (e *realNATS) claims(t *testing.T, n int) map[string]*corev1.PersistentVolumeClaim {
	t.Helper()
	out := map[string]*corev1.PersistentVolumeClaim{}
	for i := range n {
		name := natsSTS + "-js-" + natsSTS + "-" + string(rune('0'+i))
		c, err := testenv.Shared().Client.CoreV1().PersistentVolumeClaims(e.ns).Get(t.Context(), name, metav1.GetOptions{})
		require.NoError(t, err)
		out[name] = c
	}
	return out
}

// podUIDs returns the UIDs of the servers' pods by name.
func (e *realNATS) podUIDs(t *testing.T) map[string]string {
	t.Helper()
	// The StatefulSet's selector: the chart's nats-box pod is not a server.
	list, err := testenv.Shared().Client.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: natsSelector})
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = string(p.UID)
	}
	return out
}

func TestExpandStorageGrowsExpandableVolumesInPlace(t *testing.T) {
	// The pods right after the orphan step: Progress runs synchronously
	// in Apply, between that step and the upgrade.
	var e *realNATS
	var orphaned map[string]string
	// This chart rolls its servers on a config change (checksum/config
	// instead of the official chart's reloader): the new max_file_store
	// reaches them by a roll, which Verify waits for.
	e = newRealNATSWith(t, rollingOnConfig(natsValues(3)), 3, nats.Options{Progress: func(ev scaling.Event) {
		if ev.Kind == scaling.StepFinished && ev.Err == nil && ev.Step.Action == nats.ActionOrphanStatefulSet {
			orphaned = e.podUIDs(t)
		}
	}})
	ctx := ctxFor(t, 3*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 25)
	e.settle(t)
	before := e.claims(t, 3)
	for name, c := range before {
		require.Equal(t, "10Gi", c.Status.Capacity.Storage().String(), name)
	}
	e.rec.Reset()

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	assert.Equal(t, []string{
		nats.ActionResizeClaim + " " + natsSTS + "-js-" + natsSTS + "-0",
		nats.ActionResizeClaim + " " + natsSTS + "-js-" + natsSTS + "-1",
		nats.ActionResizeClaim + " " + natsSTS + "-js-" + natsSTS + "-2",
		nats.ActionOrphanStatefulSet + " " + natsSTS,
		nats.ActionSetReleaseValue + " " + release,
	}, stepsOf(plan))
	assert.Contains(t, plan.Diff, "size: 20Gi")

	pods := e.podUIDs(t)
	v := e.applyAndVerify(t, ctx, plan)
	value, ok := v.Check("release-value")
	require.True(t, ok)
	assert.True(t, value.Passed, "%+v", value)
	require.Len(t, pods, 3)
	assert.Equal(t, pods, orphaned, "deleting the StatefulSet (orphan) left every pod running")
	for name, uid := range e.podUIDs(t) {
		// The new size changes max_file_store, so the recreated
		// StatefulSet rolls the pods it adopted (its config checksum).
		assert.NotEqual(t, pods[name], uid, "%s was rolled by the recreated StatefulSet", name)
	}
	after := e.claims(t, 3)
	for name, c := range after {
		assert.Equal(t, before[name].UID, c.UID, "%s is the same claim, grown in place", name)
		assert.Equal(t, "20Gi", c.Status.Capacity.Storage().String(), name)
	}
	sts, err := testenv.Shared().Client.AppsV1().StatefulSets(e.ns).Get(ctx, natsSTS, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "20Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	require.Len(t, r.Streams, 1)
	assert.EqualValues(t, 25, r.Streams[0].Messages)

	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, "%s", again.Reason)
}

func TestExpandStorageRefusesToShrinkAndReadsNothingOnBadInput(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, time.Minute)
	for _, size := range []string{"", "lots", "-1Gi", "0"} {
		_, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: size})
		assert.ErrorIs(t, err, scaling.ErrInvalidInput, size)
	}
	assert.Empty(t, e.rec.Requests(), "bad input reaches no server")

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "5Gi"})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	var shrink *nats.ShrinkError
	require.ErrorAs(t, err, &shrink)
	assert.Equal(t, "10Gi", shrink.Current)
	assert.Equal(t, "5Gi", shrink.Requested)
	assert.ErrorIs(t, err, nats.ErrShrink)
	assert.Empty(t, e.rec.Mutating(), "a refused shrink writes nothing")
	for name, c := range e.claims(t, 3) {
		assert.Equal(t, "10Gi", c.Spec.Resources.Requests.Storage().String(), name)
	}
}

func TestExpandStorageOnAFixedClassResyncsEachServerFromItsPeers(t *testing.T) {
	vals := natsValues(3)
	vals["nats"].(map[string]any)["config"].(map[string]any)["jetstream"] = map[string]any{
		"enabled": true, "fileStore": map[string]any{"pvc": map[string]any{"size": "10Gi", "storageClassName": testenv.FixedClass}},
	}
	e := newRealNATSWith(t, vals, 3, nats.Options{})
	ctx := ctxFor(t, 5*time.Minute)
	js, err := jetstream.New(e.app)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"ORDERS.>"}, Replicas: 3})
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"AUDIT.>"}, Replicas: 1})
	require.NoError(t, err)
	before := e.claims(t, 3)
	e.rec.Reset()

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	var notExp *nats.NotExpandableError
	require.ErrorAs(t, err, &notExp, "without AcceptDataLoss")
	assert.Equal(t, testenv.FixedClass, notExp.StorageClass)
	var unrep *nats.UnreplicatedError
	require.ErrorAs(t, err, &unrep, "the R1 stream would lose its data")
	require.Len(t, unrep.Streams, 1)
	assert.Equal(t, "AUDIT", unrep.Streams[0].Name)

	accepted, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi", AcceptDataLoss: true})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, accepted)
	require.ErrorAs(t, err, &unrep, "accepting data loss does not make an R1 stream safe")
	assert.Empty(t, e.rec.Mutating(), "blocked plans write nothing")

	require.NoError(t, js.DeleteStream(ctx, "AUDIT"))
	e.settle(t)
	pub := startPublisher(t, js, "ORDERS")
	plan, err = e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi", AcceptDataLoss: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	claim := func(i string) string { return natsSTS + "-js-" + natsSTS + "-" + i }
	assert.Equal(t, []string{
		nats.ActionOrphanStatefulSet + " " + natsSTS, nats.ActionSetReleaseValue + " " + release,
		nats.ActionReplaceVolume + " " + claim("2"), nats.ActionReplaceVolume + " " + claim("1"), nats.ActionReplaceVolume + " " + claim("0"),
	}, stepsOf(plan))
	e.applyAndVerify(t, ctx, plan)
	acked := pub.finish()

	for name, c := range e.claims(t, 3) {
		assert.NotEqual(t, before[name].UID, c.UID, "%s was replaced", name)
		assert.Equal(t, "20Gi", c.Status.Capacity.Storage().String(), name)
	}
	require.NotEmpty(t, acked["ORDERS"])
	if _, err := js.Stream(ctx, "ORDERS"); err != nil { // DIAG
		r, _ := nats.Inspect(ctx, e.sys, time.Second)
		t.Logf("DIAG stream info failed (%v) connected to %s at %s; report:\n%s", err, e.app.ConnectedServerName(), time.Now().Format("15:04:05.000"), r)
		for _, ev := range e.servers.Events() {
			t.Logf("DIAG event %+v", ev)
		}
	}
	assert.Empty(t, lost(storedIDs(t, ctx, js, "ORDERS"), acked["ORDERS"]), "every acknowledged message survived three replaced volumes")
	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	for _, s := range r.Servers {
		assert.NotZero(t, s.StorageUsed, "%s holds data again", s.Name)
	}
}

// TestExpandStorageRefusesAStalePlanAndKeepsTheDefaultSize: the chart's
// default size asked again is a no-op; a claim changed after planning makes
// the plan stale, refused with zero writes.
func TestExpandStorageRefusesAStalePlanAndKeepsTheDefaultSize(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 2*time.Minute)

	same, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "10Gi"})
	require.NoError(t, err)
	assert.True(t, same.NoOp, "the release runs the chart's 10Gi: %s", same)
	assert.Empty(t, same.Steps)
	applied, err := e.client.Apply(ctx, same)
	require.NoError(t, err)
	assert.False(t, applied.Changed)
	assert.Empty(t, e.rec.Mutating(), "a no-op plan writes nothing")

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	// Someone grows one claim by hand between approval and apply.
	grown := natsSTS + "-js-" + natsSTS + "-1"
	pvcs := testenv.Shared().Client.CoreV1().PersistentVolumeClaims(e.ns)
	c, err := pvcs.Get(ctx, grown, metav1.GetOptions{})
	require.NoError(t, err)
	c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("15Gi")
	_, err = pvcs.Update(ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.rec.Reset()

	_, err = e.client.Apply(ctx, plan)
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale)
	assert.ErrorIs(t, err, scaling.ErrStalePlan)
	require.Len(t, stale.Drift, 1)
	assert.Contains(t, stale.Drift[0].Key, grown)
	assert.Contains(t, stale.Drift[0].Planned, "10Gi")
	assert.Contains(t, stale.Drift[0].Live, "15Gi")
	assert.Empty(t, e.rec.Mutating(), "a stale plan writes nothing")
	for name, c := range e.claims(t, 3) {
		want := "10Gi"
		if name == grown {
			want = "15Gi"
		}
		assert.Equal(t, want, c.Spec.Resources.Requests.Storage().String(), name)
	}
	_, err = testenv.Shared().Client.AppsV1().StatefulSets(e.ns).Get(ctx, natsSTS, metav1.GetOptions{})
	assert.NoError(t, err, "the StatefulSet was not orphaned")

	// The refused plan never took effect, and Verify says so: it cannot
	// succeed, so it ends at its deadline with the release still at 10Gi.
	vctx, cancel := context.WithTimeout(ctx, 3*time.Second) // one evaluation takes under 1 s
	defer cancel()
	v, err := e.client.Verify(vctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	value, ok := v.Check("release-value")
	require.True(t, ok)
	assert.False(t, value.Passed)
	assert.Equal(t, "nats."+"config.jetstream.fileStore.pvc.size=10Gi", value.Observed)
	tmpl, _ := v.Check("statefulset-template")
	assert.Equal(t, "10Gi", tmpl.Observed)
}

// An ExpandStorage stopped between its orphan delete and the upgrade leaves
// running pods without a StatefulSet. Planning again must not fail on the
// missing object: the release's manifest stands in for it, a guard says what
// happened, and the plan's upgrade recreates it.
func TestExpandStorageResumesWhenTheStatefulSetWasOrphaned(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 2*time.Minute)
	stsClient := testenv.Shared().Client.AppsV1().StatefulSets(e.ns)
	orphan := metav1.DeletePropagationOrphan
	require.NoError(t, stsClient.Delete(ctx, natsSTS, metav1.DeleteOptions{PropagationPolicy: &orphan}))
	require.Eventually(t, func() bool {
		_, err := stsClient.Get(ctx, natsSTS, metav1.GetOptions{})
		return err != nil
	}, 30*time.Second, 50*time.Millisecond)
	e.settle(t)

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	g, ok := guard(plan, nats.GuardOrphaned)
	require.True(t, ok, "%s", plan)
	assert.Equal(t, scaling.Warn, g.Outcome)
	claim := func(i string) string { return natsSTS + "-js-" + natsSTS + "-" + i }
	assert.Equal(t, []string{
		nats.ActionResizeClaim + " " + claim("0"), nats.ActionResizeClaim + " " + claim("1"), nats.ActionResizeClaim + " " + claim("2"),
		nats.ActionSetReleaseValue + " " + release,
	}, stepsOf(plan), "no orphan step: the object is gone already")
	e.applyAndVerify(t, ctx, plan)
	sts, err := stsClient.Get(ctx, natsSTS, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "20Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
}

// TestExpandStorageBeyondTheStorageLimitsIsBlocked: 1000Pi (every guard
// passed before; the claims would have been resized to a volume no
// backend provisions) and a growth the namespace's storage quota cannot
// hold (the API server refuses a claim's resize over quota, so a plan would
// stop after the first claims grew) are blocked plans, and their stored
// Apply writes nothing.
func TestExpandStorageBeyondTheStorageLimitsIsBlocked(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 2*time.Minute)
	kube := testenv.Shared().Client
	e.rec.Reset()

	refused := func(size string) *scaling.StorageError {
		t.Helper()
		plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: size})
		require.NoError(t, err)
		blocked := plan.Blocking()
		require.Len(t, blocked, 1, "%s", plan)
		assert.Equal(t, scaling.GuardStorage, blocked[0].Name)
		_, err = e.client.Apply(ctx, edited(t, plan, func(map[string]any) {}))
		var storage *scaling.StorageError
		require.ErrorAs(t, err, &storage)
		assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
		assert.ErrorIs(t, err, scaling.ErrStorage)
		assert.Empty(t, e.rec.Mutating(), "a blocked plan writes nothing")
		for name, c := range e.claims(t, 3) {
			assert.Equal(t, "10Gi", c.Spec.Resources.Requests.Storage().String(), name)
		}
		return storage
	}
	huge := refused("1000Pi")
	assert.Equal(t, []scaling.StorageShortfall{{Of: "volume maximum", Need: "1000Pi", Have: nats.DefaultMaxVolumeSize}}, huge.Short)

	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "storage"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: resource.MustParse("40Gi")}}}
	_, err := kube.CoreV1().ResourceQuotas(e.ns).Create(ctx, q, metav1.CreateOptions{})
	require.NoError(t, err)
	// kube-controller-manager computes status.used (3 claims of 10Gi); the
	// guard reads it.
	require.Eventually(t, func() bool {
		got, err := kube.CoreV1().ResourceQuotas(e.ns).Get(ctx, "storage", metav1.GetOptions{})
		if err != nil {
			return false
		}
		used := got.Status.Used[corev1.ResourceRequestsStorage]
		return used.Cmp(resource.MustParse("30Gi")) == 0
	}, time.Minute, 20*time.Millisecond)
	e.rec.Reset()
	over := refused("20Gi")
	assert.Equal(t, []scaling.StorageShortfall{{Of: "ResourceQuota", Name: "storage", Resource: "requests.storage", Need: "30Gi", Have: "10Gi"}}, over.Short)
	assert.Contains(t, over.Error(), "growing 3 claims to 20Gi needs 30Gi more requests.storage, ResourceQuota storage leaves 10Gi")

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "13Gi"})
	require.NoError(t, err)
	g, ok := guard(plan, scaling.GuardStorage)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, g.Outcome, "3 x 3Gi fit in the 10Gi left: %s", g.Reason)
}
