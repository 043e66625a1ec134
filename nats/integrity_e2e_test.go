package nats_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/nats"
)

// edited is a plan as an approval system keeps it, JSON edited by fn.
func edited(t *testing.T, plan *scaling.Plan, fn func(m map[string]any)) *scaling.Plan {
	return plantest.Edited(t, plan, fn)
}

// TestEditedNATSPlansAreRefused: a step's value path, a claim the plan
// never named, guards edited to pass: each is refused, typed, and nothing
// reaches the API server's write side or the servers.
func TestEditedNATSPlansAreRefused(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	e.settle(t)

	up, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, up.Blocking())
	e.rec.Reset()
	_, err = e.client.Apply(ctx, edited(t, up, func(m map[string]any) {
		s := m["steps"].([]any)[0].(map[string]any)
		s["field"], s["after"] = "replicaCount", "50"
	}))
	require.ErrorIs(t, err, scaling.ErrPlanMismatch, "a ScaleCluster step edited to set replicaCount=50")

	grow, err := e.client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, edited(t, grow, func(m map[string]any) {
		steps := m["steps"].([]any)
		extra := map[string]any{}
		for k, v := range steps[0].(map[string]any) {
			extra[k] = v
		}
		extra["object"] = map[string]any{"kind": "PersistentVolumeClaim", "namespace": e.ns, "name": "data-postgres-0"}
		m["steps"] = append([]any{extra}, steps...)
	}))
	require.ErrorIs(t, err, scaling.ErrPlanMismatch, "a resize of a claim the plan never named")

	down, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 1})
	require.NoError(t, err)
	require.NotEmpty(t, down.Blocking(), "3 -> 1 with clustering on loses the quorum")
	_, err = e.client.Apply(ctx, edited(t, down, func(m map[string]any) {
		for _, g := range m["guards"].([]any) {
			g.(map[string]any)["outcome"] = "pass"
		}
	}))
	var quorum *nats.QuorumError
	require.ErrorAs(t, err, &quorum, "its guards edited to pass: still blocked, with the typed cause")

	assert.Empty(t, e.rec.Mutating(), "no refused plan wrote anything")
	assert.Len(t, e.servers.ServerNames(), 3)
}

// TestScaleDownRefusesWhenAStayingServerDiedAfterPlanning: 5 -> 3 planned
// on a healthy cluster, then -1 (a server that stays) goes down for good.
// Removing -4 and -3 now would leave 2 of 4 meta peers: Apply evaluates the
// health guard again and refuses before any write.
func TestScaleDownRefusesWhenAStayingServerDiedAfterPlanning(t *testing.T) {
	e := newRealNATS(t, 5, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	e.settle(t)
	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)

	require.NoError(t, e.servers.Stop(natsSTS+"-1"))
	e.rec.Reset()
	_, err = e.client.Apply(ctx, plan)
	var sick *nats.UnhealthyError
	require.ErrorAs(t, err, &sick)
	assert.Contains(t, sick.Offline, natsSTS+"-1")
	assert.Empty(t, e.rec.Mutating(), "nothing was written")
	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	assert.NotEmpty(t, r.Meta.Leader, "the cluster keeps its meta leader")
	assert.Equal(t, 5, r.Meta.Size)
}

// TestScaleDownStopsHalfwayWhenAStayingServerDies: -1 goes down after the
// first server has left. Before the next step the guards run again on
// what is left, and the scale-down stops there, as a StepError whose cause
// is the health guard's refusal, with the meta group still led.
func TestScaleDownStopsHalfwayWhenAStayingServerDies(t *testing.T) {
	var e *realNATS
	var killed atomic.Bool
	e = newRealNATS(t, 5, nats.Options{SettleTimeout: 10 * time.Second, Progress: func(ev scaling.Event) {
		// After -4's peer-remove finished, before -3 is touched.
		if ev.Kind == scaling.StepFinished && ev.Err == nil && ev.Step.Action == nats.ActionPeerRemove && killed.CompareAndSwap(false, true) {
			_ = e.servers.Stop(natsSTS + "-1")
		}
	}})
	ctx := ctxFor(t, 3*time.Minute)
	e.settle(t)
	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)

	_, err = e.client.Apply(ctx, plan)
	var step *scaling.StepError
	require.ErrorAs(t, err, &step)
	assert.Equal(t, 2, step.Index, "stopped before -3's steps")
	var sick *nats.UnhealthyError
	require.ErrorAs(t, err, &sick, "the cause is the health guard's")
	assert.Contains(t, sick.Offline, natsSTS+"-1")
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	r, err := nats.Inspect(ctx, e.sys, time.Second)
	require.NoError(t, err)
	assert.NotEmpty(t, r.Meta.Leader, "3 of the 4 meta peers answer: still led")
	assert.Equal(t, 4, r.Meta.Size, "-4 left, nothing else")
}

// TestScaleClusterBeyondTheNodesIsBlocked: 1,000 servers were planned with
// every guard passing and failed in Apply on a deadline (issue 11); the
// capacity guard blocks them with the nodes' numbers, and nothing is
// written.
func TestScaleClusterBeyondTheNodesIsBlocked(t *testing.T) {
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 2*time.Minute)
	e.rec.Reset()
	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 1000})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	var capacity *scaling.CapacityError
	require.ErrorAs(t, err, &capacity)
	assert.EqualValues(t, 1000, capacity.Replicas)
	require.NotEmpty(t, capacity.Short)
	assert.Empty(t, e.rec.Mutating())

	five, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	g, ok := guard(five, scaling.GuardCapacity)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
}
