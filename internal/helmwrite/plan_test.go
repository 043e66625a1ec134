package helmwrite

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
)

func TestApplyPlanMakesOneUpgradeAndRunsOnlyTheExtras(t *testing.T) {
	mem := installed(t)
	ctx := context.Background()
	ref := helmplan.Ref("prod", "web")
	plan := &scaling.Plan{Operation: "test.Op", Target: ref, Fingerprint: scaling.Fingerprint{helmplan.FingerprintKey("prod", "web"): "2"},
		Steps: []scaling.Step{
			{Action: ActionUpgrade, Object: ref, Field: "replicaCount"},
			{Action: ActionUpgrade, Object: ref, Field: "broker.replicas", Note: "the same upgrade: shown, not run again"},
			{Action: "scale", Object: ref, Note: "what the upgrade does: not run"},
			{Action: "patch", Object: ref},
		}}
	var patched int
	var events []scaling.Event
	w := Write{Mode: Reapply, Namespace: "prod", Release: "web", Source: src, Revision: 2, Values: map[string]any{"replicaCount": 5}}
	res, err := w.ApplyPlan(ctx, mem, plan, func(e scaling.Event) { events = append(events, e) }, Extra{Action: "patch", Run: func(context.Context) error {
		patched++
		return nil
	}})
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, 1, patched, "the extra step ran once")
	rel, err := mem.Last(ctx, "prod", "web")
	require.NoError(t, err)
	assert.Equal(t, 3, rel.Revision, "one upgrade for the two upgrade steps")
	assert.Equal(t, map[string]any{"replicaCount": 5}, rel.Values, "Planned whatever the Mode given: the plan's complete values")
	assert.Equal(t, scaling.Fingerprint{helmplan.FingerprintKey("prod", "web"): "3"}, res.Fingerprint, "Applied names the new revision")
	assert.NotEmpty(t, events)
}
