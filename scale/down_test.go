package scale_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func autoscaled(minR, maxR int) map[string]any {
	v := clustered(3)
	v["autoscaling"] = map[string]any{"enabled": true, "minReplicas": minR, "maxReplicas": maxR}
	return v
}

func TestDownWithoutHPA(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanDown(ctx, scale.Down{Namespace: ns, Release: release})
	require.NoError(t, err)
	assert.Equal(t, scale.OpDown, plan.Operation)
	require.Len(t, plan.Steps, 1)
	assert.Equal(t, "1", plan.Steps[0].After)
	assert.Equal(t, "no HPA in the release", plan.Guards[0].Reason)
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	assert.EqualValues(t, 1, e.last(t).Values["replicaCount"])
}

func TestDownLowersHPAMinimum(t *testing.T) {
	e := newFakeEnv(t, autoscaled(3, 10))
	e.scaleBehindBack(t, 3) // the HPA brought it to its minimum
	ctx := context.Background()
	plan, err := e.client.PlanDown(ctx, scale.Down{Namespace: ns, Release: release})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking())
	require.Len(t, plan.Steps, 2)
	assert.Equal(t, "scale subresource", plan.Steps[1].Action)
	assert.Equal(t, "3", plan.Steps[1].Before)
	assert.Contains(t, plan.Steps[0].Note, "autoscaling.minReplicas=1")
	assert.Contains(t, plan.Diff, "-  minReplicas: 3\n+  minReplicas: 1\n")
	assert.Contains(t, plan.Guards[0].Reason, "HPA ironflow gets minReplicas 1")

	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	rel := e.last(t)
	assert.EqualValues(t, 1, rel.Values["autoscaling"].(map[string]any)["minReplicas"])
	assert.Contains(t, e.mutatingActions(), "patch deployments", "the count goes through the scale subresource")

	zero := int32(0)
	plan, err = e.client.PlanDown(ctx, scale.Down{Namespace: ns, Release: release, Replicas: &zero})
	require.NoError(t, err)
	require.Len(t, plan.Blocking(), 1)
	assert.Contains(t, plan.Blocking()[0].Reason, "cannot have minReplicas 0")
}

func TestDownBadInput(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	neg := int32(-2)
	_, err := e.client.PlanDown(context.Background(), scale.Down{Namespace: ns, Release: release, Replicas: &neg})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	_, err = e.client.PlanDown(context.Background(), scale.Down{Namespace: ns})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	assert.Empty(t, e.kube.Actions())
}

// TestDownAboveTheCurrentCountIsRefused: "down" to 10 on a release running
// 3 is a scale-up without Replicas' guards (issue 11: it was planned and
// applied); a typed error naming the field, and nothing written.
func TestDownAboveTheCurrentCountIsRefused(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	ten := int32(10)
	_, err := e.client.PlanDown(ctx, scale.Down{Namespace: ns, Release: release, Replicas: &ten})
	var bad *scaling.InvalidInputError
	require.ErrorAs(t, err, &bad)
	assert.Equal(t, "Down.Replicas", bad.Field)
	assert.Contains(t, bad.Reason, "scale.Replicas")
	assert.Empty(t, e.mutatingActions())
	assert.Equal(t, 1, e.last(t).Revision)

	three := int32(3)
	plan, err := e.client.PlanDown(ctx, scale.Down{Namespace: ns, Release: release, Replicas: &three})
	require.NoError(t, err, "down to the current count is allowed (a no-op)")
	assert.True(t, plan.NoOp)
}
