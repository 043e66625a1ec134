package nats

import (
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
)

// state builds the live state of a healthy clustered "n-<i>" cluster of
// size servers running version, with the given streams.
func state(size int, version string, streams ...StreamReport) *liveState {
	r := &Report{Meta: MetaGroup{Leader: "n-0", Size: size, QuorumNeeded: size/2 + 1}, Streams: streams}
	for i := range size {
		name := target{StatefulSet: "n"}.server(i)
		r.Meta.Peers = append(r.Meta.Peers, Peer{Name: name, Current: true, Leader: i == 0})
		r.Servers = append(r.Servers, ServerUsage{Name: name, Version: version})
	}
	return &liveState{clustering: true, configured: size, report: r}
}

func decideFor(req ScaleCluster, st *liveState, accounts ...string) decision {
	c := &Client{opts: Options{Accounts: map[string]*natsgo.Conn{}}}
	for _, a := range accounts {
		c.opts.Accounts[a] = &natsgo.Conn{}
	}
	req.StatefulSet = "n"
	return c.decide(req, req.target(), st)
}

// causeOf is the typed cause of guard name, or nil when it does not block.
func causeOf[E error](d decision, name string) E {
	var zero E
	for _, g := range d.guards {
		if g.Name == name && g.Outcome == scaling.Block {
			if e, ok := g.Cause.(E); ok {
				return e
			}
		}
	}
	return zero
}

func outcome(d decision, name string) scaling.Outcome {
	for _, g := range d.guards {
		if g.Name == name {
			return g.Outcome
		}
	}
	return ""
}

func TestDecideEvacuationNeedsServers215(t *testing.T) {
	r1 := StreamReport{Account: "APP", Name: "AUDIT", Replicas: 1, Leader: "n-4", Peers: []string{"n-4"}}
	req := ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3, Evacuate: true}

	d := decideFor(req, state(5, "2.10.24", r1))
	assert.Equal(t, scaling.Block, outcome(d, GuardData))
	require.NotNil(t, causeOf[*DataOnLeavingServersError](d, GuardData))
	assert.Equal(t, []string{"n-4", "n-3"}, causeOf[*DataOnLeavingServersError](d, GuardData).Leaving)
	assert.Contains(t, causeOf[*DataOnLeavingServersError](d, GuardData).Unsupported, "n-0 runs 2.10.24")
	assert.Contains(t, causeOf[*DataOnLeavingServersError](d, GuardData).Error(), "nats-server >= 2.15")

	d = decideFor(req, state(5, "2.15.2", r1))
	assert.Equal(t, scaling.Pass, outcome(d, GuardData))
	assert.Nil(t, causeOf[*DataOnLeavingServersError](d, GuardData))
	assert.Equal(t, ActionEvacuate, d.steps[0].Action)
	assert.Equal(t, "n-4", d.steps[0].Object.Name, "highest ordinal first")
}

func TestDecideReplicatedStreamsOnLeavingServersNeedNoEvacuation(t *testing.T) {
	r3 := StreamReport{Account: "APP", Name: "EVENTS", Replicas: 3, Leader: "n-4", Peers: []string{"n-4", "n-3", "n-0"}}
	d := decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, state(5, "2.10.24", r3))
	assert.Equal(t, scaling.Pass, outcome(d, GuardData), "n-0 keeps a current copy; peer-remove re-places the others")
	lagging := r3
	lagging.Lagging = []string{"n-0"}
	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, state(5, "2.10.24", lagging))
	assert.Equal(t, scaling.Block, outcome(d, GuardData), "the copy that stays is behind: the current data leaves")
}

func TestDecideClusteringAndHealth(t *testing.T) {
	st := state(3, "2.15.2")
	st.clustering = false
	d := decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, st)
	assert.Equal(t, scaling.Block, outcome(d, GuardClustered))

	st = state(3, "2.15.2")
	st.report.Meta.Peers[2].Offline = true
	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 5}, st)
	assert.Equal(t, scaling.Block, outcome(d, GuardHealth))
	require.NotNil(t, causeOf[*UnhealthyError](d, GuardHealth))
	assert.Equal(t, []string{"n-2"}, causeOf[*UnhealthyError](d, GuardHealth).Offline)

	st = state(3, "2.15.2")
	st.report.Meta.Leader = ""
	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 5}, st)
	assert.Contains(t, causeOf[*UnhealthyError](d, GuardHealth).Error(), "no meta leader")
}

func TestDecideSameSizeIsNoOpAndScaleUpOrder(t *testing.T) {
	d := decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, state(3, "2.15.2"))
	assert.Empty(t, d.steps)
	assert.Empty(t, causes(d.guards))

	r1 := StreamReport{Account: "APP", Name: "A", Replicas: 1, Leader: "n-0", Peers: []string{"n-0"}}
	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 5, RaiseStreamReplicas: 3}, state(3, "2.15.2", r1), "APP")
	var actions []string
	for _, s := range d.steps {
		actions = append(actions, s.Action)
	}
	assert.Equal(t, []string{ActionSetReleaseValue, ActionAwaitServers, ActionRaiseReplicas}, actions)
	assert.Equal(t, scaling.Pass, outcome(d, GuardReplicas))
}

func TestAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"2.15.2": true, "2.16.0": true, "3.0.0": true, "2.14.9": false, "2.10.24-alpine": false, "v2.15.0-RC.1": true, "": false, "x": false} {
		assert.Equal(t, want, atLeast(v, 2, 15), v)
	}
}

func TestDecideOfflineServerTheStatefulSetNoLongerRunsIsDeparted(t *testing.T) {
	st := state(5, "2.15.2")
	st.report.Meta.Peers[4].Offline = true
	four := int32(4)
	st.sts = &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &four}}
	d := decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, st)
	assert.Equal(t, scaling.Pass, outcome(d, GuardHealth))
	require.Len(t, d.steps, 3)
	assert.Equal(t, ActionPeerRemove, d.steps[0].Action)
	assert.Equal(t, "n-4", d.steps[0].Object.Name)

	// Scaling back up to 5 would bring n-4 back: then it is just offline.
	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 5}, st)
	assert.Equal(t, scaling.Block, outcome(d, GuardHealth))
	assert.Equal(t, []string{"n-4"}, causeOf[*UnhealthyError](d, GuardHealth).Offline)
}

func volumes(expandable bool, size string, claimSizes ...string) *volumeState {
	vs := &volumeState{liveState: state(len(claimSizes), "2.15.2"), template: "n-js", current: resource.MustParse(size), class: "c", expandable: expandable}
	vs.release = &scaling.Release{Values: map[string]any{"nats": map[string]any{"config": map[string]any{"jetstream": map[string]any{"fileStore": map[string]any{"pvc": map[string]any{"size": size}}}}}}}
	for i, s := range claimSizes {
		vs.claims = append(vs.claims, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: claimName("n-js", target{StatefulSet: "n"}, i)},
			Spec:       corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s)}}},
		})
	}
	return vs
}

func expandFor(req ExpandStorage, vs *volumeState) decision {
	req.StatefulSet, req.Release = "n", "r"
	t := newTarget(req.Namespace, req.Release, req.ValuePrefix, req.Standalone, req.StatefulSet)
	if vs.computed == nil {
		// What readState reads: the values the templates see.
		vs.computed = vs.release.Values
	}
	return decideExpand(req, t, vs, resource.MustParse(req.Size))
}

func TestDecideExpandShrinkNoOpAndResync(t *testing.T) {
	d := expandFor(ExpandStorage{Size: "5Gi"}, volumes(true, "10Gi", "10Gi", "10Gi", "10Gi"))
	assert.Equal(t, scaling.Block, outcome(d, GuardShrink))
	assert.Empty(t, d.steps)
	require.NotNil(t, causeOf[*ShrinkError](d, GuardShrink))

	d = expandFor(ExpandStorage{Size: "10Gi"}, volumes(true, "10Gi", "12Gi", "10Gi", "10Gi"))
	assert.Equal(t, scaling.Block, outcome(d, GuardShrink), "a claim grown by hand beyond the size")
	assert.Equal(t, []string{"n-js-n-0 12Gi"}, causeOf[*ShrinkError](d, GuardShrink).Claims)

	d = expandFor(ExpandStorage{Size: "10240Mi"}, volumes(true, "10Gi", "10Gi", "10Gi", "10Gi"))
	assert.Empty(t, d.steps, "the same size written differently is a no-op")
	assert.Empty(t, causes(d.guards))

	d = expandFor(ExpandStorage{Size: "20Gi"}, volumes(true, "10Gi", "20Gi", "10Gi", "10Gi"))
	var actions []string
	for _, s := range d.steps {
		actions = append(actions, s.Action+" "+s.Object.Name)
	}
	assert.Equal(t, []string{"resize-claim n-js-n-1", "resize-claim n-js-n-2", "orphan-statefulset n", "set-release-value r"}, actions,
		"a claim already grown (an interrupted apply) is skipped")

	r1 := StreamReport{Account: "APP", Name: "A", Replicas: 1, Leader: "n-0", Peers: []string{"n-0"}}
	vs := volumes(false, "10Gi", "10Gi", "10Gi", "10Gi")
	vs.report.Streams = []StreamReport{r1}
	d = expandFor(ExpandStorage{Size: "20Gi"}, vs)
	assert.Equal(t, scaling.Block, outcome(d, GuardExpansion))
	assert.Equal(t, scaling.Block, outcome(d, GuardResync))
	d = expandFor(ExpandStorage{Size: "20Gi", AcceptDataLoss: true}, volumes(false, "10Gi", "10Gi", "10Gi", "10Gi"))
	assert.Equal(t, scaling.Warn, outcome(d, GuardExpansion))
	assert.Empty(t, causes(d.guards))
	assert.Equal(t, ActionReplaceVolume, d.steps[2].Action)
	assert.Equal(t, "n-js-n-2", d.steps[2].Object.Name, "highest ordinal first")

	d = expandFor(ExpandStorage{Size: "20Gi", AcceptDataLoss: true}, volumes(false, "10Gi", "10Gi"))
	require.NotNil(t, causeOf[*UnreplicatedError](d, GuardResync))
	assert.Contains(t, causeOf[*UnreplicatedError](d, GuardResync).Error(), "no peer to resync")
}

// TestDecideConfigRoll: a chart that rolls every server on a nats.conf
// change (checksum/config) rolls them on each resize step, the leaving
// server already offline: from 7 to 4 the meta group keeps a majority
// (5 peers, 3 answer), to 3 it does not (4 peers, 2 answer), so that plan
// is blocked with the numbers. The reloader (no checksum) passes.
func TestDecideConfigRoll(t *testing.T) {
	rolling := func(size int) *liveState {
		st := state(size, "2.15.2")
		st.sts = &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"checksum/config": "abc"}}}}}
		return st
	}
	d := decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, rolling(5))
	assert.Equal(t, scaling.Block, outcome(d, GuardConfigRoll))
	require.NotNil(t, causeOf[*ConfigRollError](d, GuardConfigRoll))
	assert.Equal(t, ConfigRollError{From: 5, To: 3, Members: 4}, *causeOf[*ConfigRollError](d, GuardConfigRoll))
	assert.Contains(t, causeOf[*ConfigRollError](d, GuardConfigRoll).Error(), "with 4 meta peers, one leaving and one restarting, 2 of 4 answer, below the quorum of 3")
	var roll *ConfigRollError
	require.ErrorAs(t, (&scaling.GuardBlockedError{Causes: causes(d.guards)}), &roll)
	assert.ErrorIs(t, roll, ErrConfigRoll)

	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 4}, rolling(7))
	assert.Equal(t, scaling.Warn, outcome(d, GuardConfigRoll), "7 -> 4: every step keeps 3 of 5 or better")
	assert.Nil(t, causeOf[*ConfigRollError](d, GuardConfigRoll))

	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 5}, rolling(3))
	assert.Equal(t, scaling.Warn, outcome(d, GuardConfigRoll), "a scale-up rolls 3 servers one at a time: 2 of 3 answer")

	d = decideFor(ScaleCluster{Namespace: "ns", Release: "r", Replicas: 3}, state(5, "2.15.2"))
	assert.Equal(t, scaling.Outcome(""), outcome(d, GuardConfigRoll), "with the reloader no server restarts")
}

// causes are the typed errors of the blocking guards.
func causes(guards []scaling.GuardResult) []error {
	var out []error
	for _, g := range guards {
		if g.Outcome == scaling.Block && g.Cause != nil {
			out = append(out, g.Cause)
		}
	}
	return out
}
