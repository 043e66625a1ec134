package nats_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nats"
)

// objects snapshots the UIDs of every object the release's first revision
// rendered.
func (e *realNATS) objects(t *testing.T, manifest string) map[string]string {
	t.Helper()
	objs, err := testenv.Shared().Objects(t.Context(), e.ns, manifest)
	require.NoError(t, err)
	return objs
}

// The runbook's NATS scale on the official chart as a real subchart: before
// chart sources, this Apply deleted the StatefulSet, both Services, the
// ConfigMap, the PDB and the nats-box Deployment. Every one of them is now
// the same object afterwards, and the new revision still renders them.
func TestScaleClusterKeepsEverySubchartObject(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	e.settle(t)
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	before := e.objects(t, rel.Manifest)
	for _, k := range []string{"StatefulSet/" + natsSTS, "Service/" + natsSTS, "Service/" + natsSTS + "-headless", "ConfigMap/" + natsSTS + "-config",
		"PodDisruptionBudget/" + natsSTS, "Deployment/" + natsSTS + "-box"} {
		require.NotEmpty(t, before[k], "%s is installed (objects: %v)", k, testenv.Kinds(before))
	}

	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.NotContains(t, plan.Diff, " removed:", "the plan deletes nothing")
	e.applyAndVerify(t, ctx, plan)

	assert.Equal(t, before, e.objects(t, rel.Manifest), "every object of revision 1 is the same object after the scale")
	now, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Contains(t, now.Manifest, "kind: StatefulSet")
	assert.Len(t, e.servers.ServerNames(), 5)
}

// A chart whose NATS subchart renames the StatefulSet (fullnameOverride)
// and prefixes the server names (config.serverNamePrefix): the operations
// find the StatefulSet in the release's manifest and the servers by the
// names they report, so a 3 -> 5 -> 3 round trip removes the right peers.
func TestScaleClusterFollowsTheChartsNames(t *testing.T) {
	const sts, prefix = "broker", "eu1-"
	vals := natsValues(3)
	n := vals["nats"].(map[string]any)
	n["fullnameOverride"] = sts
	n["config"].(map[string]any)["serverNamePrefix"] = prefix
	e := newRealNATSNamed(t, vals, 3, sts, prefix, nats.Options{})
	ctx := ctxFor(t, 4*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 10)
	e.settle(t)

	up, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, up.Blocking(), "%s", up)
	assert.Equal(t, scaling.ObjectRef{Kind: "StatefulSet", Namespace: e.ns, Name: sts}, up.Target, "the StatefulSet the manifest names, not <release>-nats")
	e.applyAndVerify(t, ctx, up)
	e.settle(t)

	down, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.Empty(t, down.Blocking(), "%s", down)
	var removed []string
	for _, s := range down.Steps {
		if s.Action == nats.ActionPeerRemove {
			removed = append(removed, s.Object.Name)
		}
	}
	assert.Equal(t, []string{prefix + sts + "-4", prefix + sts + "-3"}, removed, "peer-remove names the servers as they report themselves")
	e.applyAndVerify(t, ctx, down)

	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	var peers []string
	for _, p := range r.Meta.Peers {
		peers = append(peers, p.Name)
	}
	assert.ElementsMatch(t, []string{prefix + sts + "-0", prefix + sts + "-1", prefix + sts + "-2"}, peers)
}

// With the official chart's config reloader (no checksum annotation), a new
// max_file_store reaches the servers by reload: the plan says so, the pods
// are not rolled, and Verify's Succeeded rests on the max_file_store every
// server reports. The other subchart objects stay the same objects; only
// the StatefulSet is replaced, which is what ExpandStorage sets out to do.
func TestExpandStorageWithTheReloaderSidecar(t *testing.T) {
	vals := natsValues(3)
	n := vals["nats"].(map[string]any)
	n["reloader"] = map[string]any{"enabled": true}
	n["podTemplate"] = map[string]any{"configChecksumAnnotation": false}
	e := newRealNATSWith(t, vals, 3, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 10)
	e.settle(t)
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	before := e.objects(t, rel.Manifest)
	pods := e.podUIDs(t)
	require.Len(t, pods, 3)

	plan, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	last := plan.Steps[len(plan.Steps)-1]
	assert.Contains(t, last.Note, "without a roll: the config reloader sidecar has each server reload nats.conf")
	blast, ok := guard(plan, scaling.GuardBlastRadius)
	require.True(t, ok)
	assert.Contains(t, blast.Reason, "replace StatefulSet/"+e.ns+"/"+natsSTS, "the one replacement it sets out to make")

	v := e.applyAndVerify(t, ctx, plan)
	store, ok := v.Check("servers-max-file-store")
	require.True(t, ok)
	assert.True(t, store.Passed, "%+v", store)
	assert.Equal(t, 3, strings.Count(store.Observed, "20Gi"), store.Observed)
	assert.Equal(t, pods, e.podUIDs(t), "the reloader reloads: no pod was rolled")

	after := e.objects(t, rel.Manifest)
	assert.NotEqual(t, before["StatefulSet/"+natsSTS], after["StatefulSet/"+natsSTS], "the StatefulSet was recreated (orphan delete and upgrade)")
	assert.NotEmpty(t, after["StatefulSet/"+natsSTS])
	maps.DeleteFunc(before, func(k, _ string) bool { return k == "StatefulSet/"+natsSTS })
	maps.DeleteFunc(after, func(k, _ string) bool { return k == "StatefulSet/"+natsSTS })
	assert.Equal(t, before, after, "every other object is the same object")
	cm, err := testenv.Shared().Client.CoreV1().ConfigMaps(e.ns).Get(ctx, natsSTS+"-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data["nats.conf"], `"max_file_store": 20Gi`)
}

// A chart that rolls its servers on every nats.conf change: a 5 -> 3 would
// restart the servers on each step while the leaving one is offline, and at
// 4 peers the meta group loses its quorum (the outage the runbook warns of).
// The plan is blocked with the numbers and Apply writes nothing; 5 -> 4
// keeps a majority and is allowed with a warning.
func TestScaleClusterRefusesARollThatLosesTheQuorum(t *testing.T) {
	e := newRealNATSWith(t, rollingOnConfig(natsValues(5)), 5, nats.Options{})
	ctx := ctxFor(t, 2*time.Minute)
	e.settle(t)
	e.rec.Reset()
	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	g, ok := guard(plan, nats.GuardConfigRoll)
	require.True(t, ok, "%s", plan)
	assert.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Remedy, "reloader.enabled=true")
	_, err = e.client.Apply(ctx, plan)
	var roll *nats.ConfigRollError
	require.ErrorAs(t, err, &roll)
	assert.Equal(t, 4, roll.Members)
	assert.ErrorIs(t, err, nats.ErrConfigRoll)
	assert.Empty(t, e.rec.Mutating(), "the blocked plan wrote nothing")
	assert.Len(t, e.servers.ServerNames(), 5)

	four, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 4})
	require.NoError(t, err)
	g, ok = guard(four, nats.GuardConfigRoll)
	require.True(t, ok)
	assert.Equal(t, scaling.Warn, g.Outcome, g.Reason)
}
