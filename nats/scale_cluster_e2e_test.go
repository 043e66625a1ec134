package nats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// applyAndVerify applies a plan that must change something and requires its
// Verify to succeed.
func (e *realNATS) applyAndVerify(t *testing.T, ctx context.Context, plan *scaling.Plan) *scaling.Verification {
	t.Helper()
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	require.True(t, applied.Changed, "Apply changed nothing: %s", applied.Reason)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, "verification:\n%s", v)
	return v
}

func TestScaleClusterUpThreeToFive(t *testing.T) {
	var mu sync.Mutex
	var events []scaling.Event
	e := newRealNATS(t, 3, nats.Options{Progress: func(ev scaling.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	}})
	ctx := ctxFor(t, 3*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 10)
	e.settle(t)

	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5, RaiseStreamReplicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	assert.Equal(t, []string{
		nats.ActionSetReleaseValue + " " + release, nats.ActionAwaitServers + " " + natsSTS, nats.ActionRaiseReplicas + " ORDERS",
	}, stepsOf(plan))
	assert.Contains(t, plan.Diff, "replicas: 5")

	// Shown, approved, applied later: the plan survives JSON.
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	plan, err = scaling.Decode(data)
	require.NoError(t, err)
	v := e.applyAndVerify(t, ctx, plan)
	size, _ := v.Check("meta-size")
	assert.Equal(t, "5", size.Observed)
	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	require.Len(t, r.Streams, 1)
	assert.Equal(t, 5, r.Streams[0].Replicas, "raised after the servers joined")
	assert.Len(t, r.Streams[0].Peers, 5)
	assert.ElementsMatch(t, []string{natsSTS + "-0", natsSTS + "-1", natsSTS + "-2", natsSTS + "-3", natsSTS + "-4"}, e.servers.ServerNames())

	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, "applying the same plan twice changes nothing")

	mu.Lock()
	defer mu.Unlock()
	var steps []string
	checks := map[string]bool{}
	for _, ev := range events {
		switch ev.Kind {
		case scaling.StepStarted, scaling.StepFinished:
			require.NoError(t, ev.Err)
			steps = append(steps, fmt.Sprintf("%s %d %s", ev.Kind, ev.Index, ev.Step.Action))
		case scaling.CheckObserved:
			checks[ev.Check.Name] = checks[ev.Check.Name] || ev.Check.Passed
		}
	}
	assert.Equal(t, []string{
		"StepStarted 0 " + nats.ActionSetReleaseValue, "StepFinished 0 " + nats.ActionSetReleaseValue,
		"StepStarted 1 " + nats.ActionAwaitServers, "StepFinished 1 " + nats.ActionAwaitServers,
		"StepStarted 2 " + nats.ActionRaiseReplicas, "StepFinished 2 " + nats.ActionRaiseReplicas,
	}, steps, "progress reports every step in order")
	for _, name := range []string{"meta-leader", "meta-size", "peers-current", "servers-answering", "statefulset", "streams-led", "streams-fit"} {
		assert.True(t, checks[name], "check %s was reported passing", name)
	}
}

// publisher publishes to streams throughout a test, every message with a
// Nats-Msg-Id and retried under the same id until acknowledged, the way a
// careful producer rides out a scale-down.
type publisher struct {
	stop  chan struct{}
	done  chan struct{}
	acked map[string][]string // stream -> acknowledged ids
	// inDoubt is, per stream, the publish whose retries the stop cut
	// short: its first attempt may have been stored with the ack lost.
	inDoubt map[string]string
	fails   int
}

func startPublisher(t *testing.T, js jetstream.JetStream, streams ...string) *publisher {
	t.Helper()
	p := &publisher{stop: make(chan struct{}), done: make(chan struct{}), acked: map[string][]string{}, inDoubt: map[string]string{}}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			for _, s := range streams {
				id := fmt.Sprintf("%s-%d", s, i)
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					_, err := js.Publish(ctx, s+".x", []byte(id), jetstream.WithMsgID(id))
					cancel()
					if err == nil {
						p.acked[s] = append(p.acked[s], id)
						break
					}
					p.fails++
					select {
					case <-p.stop:
						p.inDoubt[s] = id
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *publisher) finish() map[string][]string {
	close(p.stop)
	<-p.done
	return p.acked
}

// storedIDs reads every message of a stream and returns their ids.
func storedIDs(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) []string {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var ids []string
	for uint64(len(ids)) < info.State.Msgs {
		batch, err := cons.FetchNoWait(500)
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
			n++
		}
		if n == 0 {
			batch, err = cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
			require.NoError(t, err)
			for m := range batch.Messages() {
				ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
				n++
			}
			require.NotZero(t, n, "stream %s: read %d of %d messages", stream, len(ids), info.State.Msgs)
		}
	}
	return ids
}

// r1OnLeavingServer creates R1 streams until one is placed on a server at
// or above ordinal `from`. The servers spread new streams over the servers
// with the fewest, so the earlier ones are kept: they steer the next one
// elsewhere.
func r1OnLeavingServer(t *testing.T, ctx context.Context, js jetstream.JetStream, from int) (string, string) {
	t.Helper()
	for i := range 20 {
		name := fmt.Sprintf("AUDIT%d", i)
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Replicas: 1})
		require.NoError(t, err)
		leader := s.CachedInfo().Cluster.Leader
		var ord int
		_, err = fmt.Sscanf(strings.TrimPrefix(leader, natsSTS+"-"), "%d", &ord)
		require.NoError(t, err)
		if ord >= from {
			return name, leader
		}
	}
	t.Fatal("no R1 stream landed on a leaving server in 20 tries")
	return "", ""
}

func TestScaleClusterDownFiveToThreeKeepsEveryAcknowledgedMessage(t *testing.T) {
	e := newRealNATS(t, 5, nats.Options{})
	ctx := ctxFor(t, 5*time.Minute)
	js, err := jetstream.New(e.app)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"ORDERS.>"}, Replicas: 5})
	require.NoError(t, err)
	events, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"EVENTS.>"}, Replicas: 3})
	require.NoError(t, err)
	_, err = events.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	audit, auditHost := r1OnLeavingServer(t, ctx, js, 3)
	t.Logf("R1 stream %s lives on %s", audit, auditHost)
	e.settle(t)
	e.rec.Reset()

	// As the runbook's operator would first try it: just scale down.
	blocked, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, blocked)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var over *nats.StreamReplicasError
	require.ErrorAs(t, err, &over)
	assert.Equal(t, 3, over.Target)
	require.Len(t, over.Streams, 1)
	assert.Equal(t, "ORDERS", over.Streams[0].Name)
	assert.Equal(t, 5, over.Streams[0].Replicas)
	var data *nats.DataOnLeavingServersError
	require.ErrorAs(t, err, &data)
	assert.Equal(t, []string{natsSTS + "-4", natsSTS + "-3"}, data.Leaving)
	require.Len(t, data.Streams, 1)
	assert.Equal(t, audit, data.Streams[0].Name)
	assert.Empty(t, e.rec.Mutating(), "a blocked plan writes nothing")
	assert.Len(t, e.servers.ServerNames(), 5)

	pub := startPublisher(t, js, "ORDERS", "EVENTS", audit)
	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3, LowerStreamReplicas: true, Evacuate: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Equal(t, []string{
		nats.ActionLowerReplicas + " ORDERS",
		nats.ActionEvacuate + " " + natsSTS + "-4", nats.ActionSetReleaseValue + " " + release, nats.ActionPeerRemove + " " + natsSTS + "-4",
		nats.ActionEvacuate + " " + natsSTS + "-3", nats.ActionSetReleaseValue + " " + release, nats.ActionPeerRemove + " " + natsSTS + "-3",
	}, stepsOf(plan))
	e.applyAndVerify(t, ctx, plan)
	acked := pub.finish()
	t.Logf("publish retries during the scale-down: %d", pub.fails)

	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Meta.Size)
	stay := []string{natsSTS + "-0", natsSTS + "-1", natsSTS + "-2"}
	for _, s := range r.Streams {
		assert.LessOrEqual(t, s.Replicas, 3, s.Name)
		assert.Subset(t, stay, s.Peers, "stream %s lives on servers that stay", s.Name)
	}
	for stream, ids := range acked {
		require.NotEmpty(t, ids, stream)
		stored := storedIDs(t, ctx, js, stream)
		assert.Empty(t, lost(stored, ids), "every acknowledged message of %s is stored", stream)
		// Each message once (retried publishes were de-duplicated), and
		// nothing but what was acknowledged, or the one publish whose
		// retries the publisher's stop cut short (stored, ack lost).
		count := map[string]int{}
		for _, id := range stored {
			count[id]++
		}
		for id, n := range count {
			assert.Equal(t, 1, n, "%s: %s stored once", stream, id)
		}
		extra := len(count) - len(ids)
		if doubt, ok := pub.inDoubt[stream]; ok && count[doubt] == 1 {
			extra--
		}
		assert.Zero(t, extra, "%s: stored only acknowledged messages (%d stored, %d acknowledged, in doubt %q)", stream, len(stored), len(ids), pub.inDoubt[stream])
	}
	ci, err := events.Consumer(ctx, "worker")
	require.NoError(t, err)
	info, err := ci.Info(ctx)
	require.NoError(t, err)
	require.NotNil(t, info.Cluster)
	assert.Contains(t, stay, info.Cluster.Leader, "the consumer is led by a server that stays")
}

func TestScaleClusterQuorumAndReplicaGuards(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 2*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 5)
	e.settle(t)
	e.rec.Reset()

	t.Run("3 -> 1 with clustering on is blocked", func(t *testing.T) {
		plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 1, LowerStreamReplicas: true, Evacuate: true})
		require.NoError(t, err)
		_, err = e.client.Apply(ctx, plan)
		var q *nats.QuorumError
		require.ErrorAs(t, err, &q)
		assert.Equal(t, 3, q.Current)
		assert.Equal(t, 1, q.Target)
		assert.ErrorIs(t, err, nats.ErrQuorum)
	})
	t.Run("3 -> 2 with an R3 stream is blocked unless lowered", func(t *testing.T) {
		plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 2})
		require.NoError(t, err)
		g, ok := guard(plan, nats.GuardReplicas)
		require.True(t, ok)
		assert.Equal(t, scaling.Block, g.Outcome)
		assert.Contains(t, g.Reason, "APP/ORDERS (R3)")
		even, ok := guard(plan, nats.GuardEvenSize)
		require.True(t, ok)
		assert.Equal(t, scaling.Warn, even.Outcome, "two servers tolerate no more failures than one")
		_, err = e.client.Apply(ctx, plan)
		var over *nats.StreamReplicasError
		require.ErrorAs(t, err, &over)
		assert.Equal(t, "ORDERS", over.Streams[0].Name)

		lowered, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 2, LowerStreamReplicas: true})
		require.NoError(t, err)
		assert.Empty(t, lowered.Blocking(), "%s", lowered)
		assert.Equal(t, nats.ActionLowerReplicas, lowered.Steps[0].Action)
		assert.Contains(t, lowered.Diff, "~ stream APP/ORDERS num_replicas: 3 -> 2")
	})
	t.Run("lowering without a connection in the stream's account is blocked", func(t *testing.T) {
		sysOnly, err := nats.New(e.cluster, nats.Options{System: e.sys, Accounts: map[string]*natsgo.Conn{}, Releases: e.releases, Chart: chartSource})
		require.NoError(t, err)
		plan, err := sysOnly.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 2, LowerStreamReplicas: true})
		require.NoError(t, err)
		_, err = sysOnly.Apply(ctx, plan)
		var acc *nats.AccountConnectionError
		require.ErrorAs(t, err, &acc)
		assert.Equal(t, []string{"APP"}, acc.Accounts)
	})
	t.Run("invalid input reads nothing", func(t *testing.T) {
		e.rec.Reset()
		for _, req := range []nats.ScaleCluster{
			{Namespace: e.ns, Release: release, Replicas: 0},
			{Namespace: e.ns, Replicas: 3},
			{Namespace: e.ns, Release: release, Replicas: 3, Standalone: true, ValuePrefix: "nats"},
			{Namespace: e.ns, Release: release, Replicas: 3, RaiseStreamReplicas: 4},
			{Namespace: e.ns, Release: release, Replicas: 2, DisableClustering: true},
			{Namespace: e.ns, Release: release, Replicas: 3, ValuePrefix: ".nats"},
		} {
			_, err := e.client.PlanScaleCluster(ctx, req)
			assert.ErrorIs(t, err, scaling.ErrInvalidInput, "%+v", req)
		}
		assert.Empty(t, e.rec.Requests(), "no request reached the API server")
	})
	assert.Empty(t, e.rec.Mutating(), "no blocked or invalid plan wrote anything")
	assert.Len(t, e.servers.ServerNames(), 3)

	t.Run("a plan made before someone else changed the release is stale", func(t *testing.T) {
		plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
		require.NoError(t, err)
		rel, err := e.releases.Last(ctx, e.ns, release)
		require.NoError(t, err)
		vals := natsValues(3)
		vals["replicaCount"] = 2
		_, err = e.releases.Upgrade(ctx, e.ns, release, rel.Revision, chartSource, vals)
		require.NoError(t, err)
		e.rec.Reset()
		_, err = e.client.Apply(ctx, plan)
		var stale *scaling.StalePlanError
		require.ErrorAs(t, err, &stale)
		assert.Empty(t, e.rec.Mutating(), "a stale plan writes nothing")
		assert.Len(t, e.servers.ServerNames(), 3)
	})
}

func guard(p *scaling.Plan, name string) (scaling.GuardResult, bool) {
	for _, g := range p.Guards {
		if g.Name == name {
			return g, true
		}
	}
	return scaling.GuardResult{}, false
}

func TestVerifyReportsALostQuorumAsFailed(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, time.Minute)
	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.True(t, plan.NoOp, "%s", plan)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, "%s", v)

	require.NoError(t, e.servers.Stop(natsSTS+"-1"))
	require.NoError(t, e.servers.Stop(natsSTS+"-2"))
	v, err = e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase, "%s", v)
	assert.Contains(t, v.Reason, "lost its quorum")
	assert.Contains(t, v.Reason, "1 of 3 servers answer")
	leader, _ := v.Check("meta-leader")
	assert.False(t, leader.Passed)
	var lost *nats.QuorumLostError
	require.ErrorAs(t, v.Err, &lost, "the typed reason of a failed Verify")
	assert.Equal(t, 3, lost.Size)
	assert.Equal(t, 1, lost.Answering)

	// A deadline already gone is an outcome, not an error.
	expired, cancel := context.WithCancel(ctx)
	cancel()
	v, err = e.client.Verify(expired, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
}

func TestScaleClusterWithoutSystemCredentialsIsATypedErrorNotATimeout(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	noSys, err := nats.New(e.cluster, nats.Options{System: e.app, Releases: e.releases, Chart: chartSource})
	require.NoError(t, err)
	// The deadline is far above what the answer takes; hitting it would
	// be the timeout this test rules out.
	ctx := ctxFor(t, 20*time.Second)
	_, err = noSys.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
	require.ErrorIs(t, err, nats.ErrNoSystemAccount)
	require.NoError(t, ctx.Err(), "answered before the deadline")
	var sa *nats.SystemAccountError
	require.ErrorAs(t, err, &sa)
	assert.Contains(t, sa.Error(), "system account")
}

// The runbook trap of nats-server #6403: someone lowered the StatefulSet by
// hand and never peer-removed the server, so the meta group still counts it.
// The plan treats it as departed rather than unhealthy and finishes the job;
// without evacuation, peer-remove re-places the replicated streams' copies.
func TestScaleClusterFinishesAScaleDownDoneByHand(t *testing.T) {
	e := newRealNATS(t, 5, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 20)
	stream(t, e.servers, "EVENTS", 3, 20)

	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	_, err = e.releases.Upgrade(ctx, e.ns, release, rel.Revision, chartSource, natsValues(4)) // helm upgrade --set nats.config.cluster.replicas=4
	require.NoError(t, err)
	// As an operator would find it some time later: the server is gone, the
	// meta group still counts it (by name, or once the others' routes to it
	// were reloaded away, as "Server name unknown (peerID ...)"), and the
	// streams it led have new leaders with their other replicas current.
	gone := natsSTS + "-4"
	isGone := func(name string) bool { return name == gone || strings.Contains(name, nats.PeerID(gone)) }
	require.NoError(t, e.servers.WaitRollout(ctx))
	require.Eventually(t, func() bool {
		r, err := nats.Inspect(ctx, e.sys, time.Second)
		if err != nil || len(r.Servers) != 4 {
			return false
		}
		for _, s := range r.Streams {
			if s.Leader == "" || len(s.Lagging) > 0 && !(len(s.Lagging) == 1 && isGone(s.Lagging[0])) {
				return false
			}
		}
		for _, p := range r.Meta.Peers {
			if isGone(p.Name) || p.ID == nats.PeerID(gone) {
				return !p.Current || p.Offline
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond, "the meta group still counts the stopped server, and the streams settle")

	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Equal(t, []string{
		nats.ActionPeerRemove + " " + natsSTS + "-4",
		nats.ActionSetReleaseValue + " " + release, nats.ActionPeerRemove + " " + natsSTS + "-3",
	}, stepsOf(plan))
	e.applyAndVerify(t, ctx, plan)

	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	for _, s := range r.Streams {
		assert.Len(t, s.Peers, 3, s.Name)
		assert.Subset(t, []string{natsSTS + "-0", natsSTS + "-1", natsSTS + "-2"}, s.Peers, s.Name)
		assert.EqualValues(t, 20, s.Messages, s.Name)
	}
}

// stepsOf lists a plan's steps as "<action> <object name>".
func stepsOf(plan *scaling.Plan) []string {
	var out []string
	for _, s := range plan.Steps {
		out = append(out, s.Action+" "+s.Object.Name)
	}
	return out
}

// The runbook's "never scale a 3-node cluster below 2 without disabling
// clustering entirely", done: streams lowered to R1 and moved to ordinal 0,
// the cluster scaled to two, then clustering turned off. The last server
// restarts without a cluster and serves every message from its store.
func TestScaleClusterToOneServerByDisablingClustering(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 20)
	stream(t, e.servers, "AUDIT", 1, 10)
	e.settle(t)
	e.rec.Reset()

	blocked, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 1, DisableClustering: true})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, blocked)
	var over *nats.StreamReplicasError
	require.ErrorAs(t, err, &over, "ORDERS needs three servers")
	assert.Equal(t, 1, over.Target)
	assert.Empty(t, e.rec.Mutating())

	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 1, DisableClustering: true, LowerStreamReplicas: true, Evacuate: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Equal(t, []string{
		nats.ActionLowerReplicas + " ORDERS",
		nats.ActionEvacuate + " " + natsSTS + "-2", nats.ActionSetReleaseValue + " " + release, nats.ActionPeerRemove + " " + natsSTS + "-2",
		nats.ActionEvacuate + " " + natsSTS + "-1", nats.ActionDisableClustering + " " + release,
	}, stepsOf(plan))
	v := e.applyAndVerify(t, ctx, plan)
	mode, _ := v.Check("clustering")
	assert.Equal(t, "off", mode.Observed)

	assert.Equal(t, []string{natsSTS + "-0"}, e.servers.ServerNames())
	js, err := jetstream.New(e.app)
	require.NoError(t, err)
	for name, msgs := range map[string]uint64{"ORDERS": 20, "AUDIT": 10} {
		s, err := js.Stream(ctx, name)
		require.NoError(t, err, name)
		assert.Equal(t, msgs, s.CachedInfo().State.Msgs, name)
		assert.Equal(t, 1, s.CachedInfo().Config.Replicas, name)
	}
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, "%s", again.Reason)
}

// lost returns the acknowledged ids missing from stored: at most the first
// ten, and how many in all.
func lost(stored, acked []string) []string {
	have := map[string]bool{}
	for _, id := range stored {
		have[id] = true
	}
	var out []string
	n := 0
	for _, id := range acked {
		if !have[id] {
			if n++; len(out) < 10 {
				out = append(out, id)
			}
		}
	}
	if n > len(out) {
		out = append(out, fmt.Sprintf("... %d lost in all", n))
	}
	return out
}
