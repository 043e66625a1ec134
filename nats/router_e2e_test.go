package nats_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/scale"
)

// An approval queue as a tool would run it: plans of two packages are made,
// stored as JSON, and later applied and verified through one
// scaling.Router that knows nothing of either package's plans.
func TestRouterAppliesStoredPlansOfEveryPackage(t *testing.T) {
	vals := natsValues(3)
	vals["cluster"] = map[string]any{"enabled": true}
	e := newRealNATSWith(t, vals, 3, nats.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	e.settle(t)
	apps, err := scale.New(e.cluster, scale.Options{Releases: e.releases, Chart: chartSource})
	require.NoError(t, err)
	router, err := scaling.NewRouter(apps, e.client)
	require.NoError(t, err)

	appPlan, err := apps.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 2})
	require.NoError(t, err)
	require.Empty(t, appPlan.Blocking(), "%s", appPlan)
	stored := must(json.Marshal(appPlan))

	// The NATS plan is made after the app's is applied: each plan is of the
	// release revision it was made from.
	decoded, err := scaling.Decode(stored)
	require.NoError(t, err)
	applied, err := router.Apply(ctx, decoded)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err := router.Verify(ctx, decoded)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, "%s", v)

	natsPlan, err := e.client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, natsPlan.Blocking(), "%s", natsPlan)
	decoded, err = scaling.Decode(must(json.Marshal(natsPlan)))
	require.NoError(t, err)
	applied, err = router.Apply(ctx, decoded)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	v, err = router.Verify(ctx, decoded)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, "%s", v)
	assert.Len(t, e.servers.ServerNames(), 5)

	foreign := *decoded
	foreign.Operation = "postgres.Switchover"
	e.rec.Reset()
	_, err = router.Apply(ctx, &foreign)
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	assert.Empty(t, e.rec.Requests(), "an unknown operation reads nothing")
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
