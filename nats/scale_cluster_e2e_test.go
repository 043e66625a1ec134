package nats_test

import (
	"context"
	"testing"
	"time"

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
	e := newRealNATS(t, 3, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	stream(t, e.servers, "ORDERS", 3, 10)

	plan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5, RaiseStreamReplicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	assert.Empty(t, e.rec.Mutating(), "planning writes nothing")
	var actions []string
	for _, s := range plan.Steps {
		actions = append(actions, s.Action)
	}
	assert.Equal(t, []string{nats.ActionSetReplicas, nats.ActionAwaitServers, nats.ActionRaiseReplicas}, actions)
	assert.Contains(t, plan.Diff, "replicas: 5")

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
}
