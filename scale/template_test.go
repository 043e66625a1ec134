package scale_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func mediumValues() map[string]any {
	return map[string]any{
		"replicaCount": 3, "cluster": map[string]any{"enabled": true},
		"nats":       map[string]any{"config": map[string]any{"cluster": map[string]any{"enabled": true, "replicas": 3}}},
		"postgresql": map[string]any{"enabled": true, "instances": 3, "pooler": map[string]any{"enabled": true}},
	}
}

func TestTemplateSmallToMedium(t *testing.T) {
	e := newFakeEnv(t, map[string]any{"postgresql": map[string]any{"enabled": true}})
	ctx := context.Background()
	plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Medium})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
	steps := stepsByField(plan)
	assert.Equal(t, "3", steps["replicaCount"].After)
	assert.Equal(t, "true", steps["nats.config.cluster.enabled"].After)
	assert.Equal(t, "3", steps["postgresql.instances"].After)
	assert.Contains(t, plan.Diff, "+replicaCount: 3")
	assert.Contains(t, plan.Diff, "Pooler (postgresql.cnpg.io/v1) added")
	assert.NotContains(t, plan.Diff, "size: 20Gi", "storage sizes are not part of a template move")
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, 2, e.last(t).Revision)
}

func TestTemplateMediumToSmallNeedsDataScaledDownFirst(t *testing.T) {
	e := newFakeEnv(t, mediumValues())
	ctx := context.Background()
	plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Small})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 2)
	assert.Equal(t, "nats-data", blocked[0].Name)
	assert.Contains(t, blocked[0].Reason, "runs 1 NATS server(s) but the release runs 3")
	assert.Equal(t, "postgres-data", blocked[1].Name)
	_, err = e.client.Apply(ctx, plan)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Equal(t, 1, e.last(t).Revision)
	assert.Empty(t, e.mutatingActions())

	// Once NATS and PostgreSQL run one each, the move is allowed.
	vals := mediumValues()
	vals["nats"] = map[string]any{"config": map[string]any{"cluster": map[string]any{"enabled": false}}}
	vals["postgresql"] = map[string]any{"enabled": true, "instances": 1}
	e = newFakeEnv(t, vals)
	plan, err = e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Small})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
}

func TestTemplateToLargeAndBadPresets(t *testing.T) {
	e := newFakeEnv(t, mediumValues())
	ctx := context.Background()
	plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Large})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
	assert.Contains(t, plan.Diff, "HorizontalPodAutoscaler (autoscaling/v2) added")

	bad := scale.Medium
	bad.Clustering = false
	_, err = e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: bad})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	bad = scale.Medium
	bad.NATSReplicas = 2
	_, err = e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: bad})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	assert.Equal(t, 1, e.last(t).Revision)
}

// TestATemplatePlanWithADiffCarriesItsStep: the release runs the chart's
// defaults, which are the small template's; moving it to small changes
// only its own values. The plan shows that diff, so it has the upgrade
// step that makes it, and Apply makes it (issue 11: "the plan has no
// steps", nothing applied).
func TestATemplatePlanWithADiffCarriesItsStep(t *testing.T) {
	e := newFakeEnv(t, map[string]any{})
	ctx := context.Background()
	plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Small})
	require.NoError(t, err)
	require.False(t, plan.NoOp)
	require.NotEmpty(t, plan.Diff)
	require.NotEmpty(t, plan.Steps, "a plan with a diff carries the steps that make it")
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed, applied.Reason)
	assert.Equal(t, 2, e.last(t).Revision)
}

// TestTemplateLargeToMediumTurnsTheHPAOff: the large template's HPA goes
// and the count drives the app again. The plan used to fail with "no
// workload follows replicaCount", looking for the driven workload with the
// deployed values (autoscaling on).
func TestTemplateLargeToMediumTurnsTheHPAOff(t *testing.T) {
	e := newFakeEnv(t, mediumValues())
	ctx := context.Background()
	large, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Large})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, large)
	require.NoError(t, err)

	plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Medium})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking(), "%s", plan)
	assert.Equal(t, "false", stepsByField(plan)["autoscaling.enabled"].After)
	assert.Contains(t, plan.Diff, "HorizontalPodAutoscaler (autoscaling/v2) removed")
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, false, e.last(t).Values["autoscaling"].(map[string]any)["enabled"])
}
