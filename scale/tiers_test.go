package scale_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling/scale"
)

func TestTiersAreTheGuidesFigures(t *testing.T) {
	tiers := scale.Tiers()
	require.Len(t, tiers, 5)
	want := []struct {
		name, reqCPU, reqMem, limCPU, limMem string
		min, max                             int32
	}{
		{"small", "250m", "512Mi", "500m", "1Gi", 0, 0},
		{"medium", "500m", "1Gi", "1", "2Gi", 0, 0},
		{"large", "1", "2Gi", "2", "4Gi", 3, 10},
		{"xl", "2", "4Gi", "4", "8Gi", 5, 20},
		{"enterprise", "4", "8Gi", "8", "16Gi", 10, 50},
	}
	for i, w := range want {
		tr := tiers[i]
		assert.Equal(t, w.name, tr.Short())
		assert.Equal(t, w.reqCPU, tr.Requests.Cpu().String(), w.name)
		assert.Equal(t, w.reqMem, tr.Requests.Memory().String(), w.name)
		assert.Equal(t, w.limCPU, tr.Limits.Cpu().String(), w.name)
		assert.Equal(t, w.limMem, tr.Limits.Memory().String(), w.name)
		if w.max == 0 {
			assert.Nil(t, tr.Autoscaling, w.name)
		} else {
			require.NotNil(t, tr.Autoscaling, w.name)
			assert.Equal(t, w.min, tr.Autoscaling.MinReplicas, w.name)
			assert.Equal(t, w.max, tr.Autoscaling.MaxReplicas, w.name)
		}
		got, ok := scale.TierNamed(w.name)
		assert.True(t, ok)
		assert.Equal(t, tr.Name, got.Name)
	}
	_, ok := scale.TierNamed("TIER-XL")
	assert.True(t, ok)
	_, ok = scale.TierNamed("huge")
	assert.False(t, ok)
}

func TestTemplateAcceptsEveryTier(t *testing.T) {
	ctx := context.Background()
	for _, tr := range scale.Tiers() {
		t.Run(tr.Short(), func(t *testing.T) {
			e := newFakeEnv(t, map[string]any{"postgresql": map[string]any{"enabled": true}})
			plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: tr.Preset})
			require.NoError(t, err)
			assert.Empty(t, plan.Blocking())
			steps := stepsByField(plan)
			if tr.Short() != "small" {
				assert.Equal(t, "true", steps["postgresql.pooler.enabled"].After)
			}
			assert.Contains(t, plan.Summary, tr.Name)
			_, err = e.client.Apply(ctx, plan)
			require.NoError(t, err)
			assert.Equal(t, 2, e.last(t).Revision)
		})
	}
}

func TestTemplateTierKeepsTheDataGuards(t *testing.T) {
	// The Large preset runs 3 PostgreSQL instances; the guide's large tier
	// 2 (primary + read replica): the move is refused until scaled down.
	e := newFakeEnv(t, mediumValues())
	plan, err := e.client.PlanTemplate(context.Background(), scale.Template{Namespace: ns, Release: release, To: scale.TierLarge.Preset})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1)
	assert.Equal(t, "postgres-data", blocked[0].Name)
}
