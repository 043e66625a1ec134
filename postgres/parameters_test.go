package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/postgres"
)

func params(set map[string]string) postgres.Parameters {
	return postgres.Parameters{Namespace: relNS, Release: relName, Set: set}
}

// TestParametersSaysReloadOrRestartAndVerifiesShow: work_mem reloads,
// shared_buffers restarts (pg_settings' context); Verify reads SHOW on
// every instance.
func TestParametersSaysReloadOrRestartAndVerifiesShow(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	ctx := t.Context()
	plan, err := e.client.PlanParameters(ctx, params(map[string]string{"work_mem": "8MB", "shared_buffers": "256MB"}))
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, scaling.Warn, guardOf(t, plan, postgres.GuardRestart).Outcome)
	assert.Contains(t, guardOf(t, plan, postgres.GuardRestart).Reason, "shared_buffers")
	actions := map[string]string{}
	for _, s := range plan.Steps {
		actions[s.Field] = s.Action
	}
	assert.Equal(t, postgres.ActionReload, actions["work_mem"])
	assert.Equal(t, postgres.ActionRestart, actions["shared_buffers"])
	assert.Equal(t, "helm upgrade", actions["postgresql.parameters[work_mem]"])

	_, err = e.client.Apply(ctx, plantest.Edited(t, plan, func(map[string]any) {}))
	require.NoError(t, err)
	got, _, _ := unstructured.NestedStringMap(e.cluster(t).Object, "spec", "postgresql", "parameters")
	assert.Equal(t, map[string]string{"max_connections": "100", "shared_buffers": "256MB", "work_mem": "8MB"}, got, "merged with max_connections")

	short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	v, err := e.client.Verify(short, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Contains(t, v.Reason, "work_mem is 4MB")

	go func() {
		time.Sleep(100 * time.Millisecond)
		e.settings.apply("work_mem", "8MB", "8192")
		e.settings.apply("shared_buffers", "256MB", "32768")
	}()
	v, err = e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())

	plan, err = e.client.PlanParameters(ctx, params(map[string]string{"work_mem": "8MB"}))
	require.NoError(t, err)
	assert.True(t, plan.NoOp)
}

// TestParametersRefusesFixedAndOutOfRange: a parameter CloudNativePG
// manages, one the server does not know, a value above pg_settings' max,
// an enum value it lacks: one typed error naming each; nothing written.
func TestParametersRefusesFixedAndOutOfRange(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	ctx := t.Context()
	plan, err := e.client.PlanParameters(ctx, params(map[string]string{"port": "5433", "work_mem": "3000GB", "wal_level": "minimal", "no_such_thing": "1", "max_connections": "ten"}))
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	var bad *postgres.ParameterError
	require.ErrorAs(t, err, &bad)
	assert.ErrorIs(t, err, postgres.ErrParameter)
	reasons := map[string]string{}
	for _, p := range bad.Problems {
		reasons[p.Name] = p.Reason
	}
	assert.Contains(t, reasons["port"], "fixed by CloudNativePG")
	assert.Contains(t, reasons["work_mem"], "above the maximum 2147483647 kB")
	assert.Contains(t, reasons["wal_level"], "2 instances need replica or logical")
	assert.Contains(t, reasons["no_such_thing"], "not a parameter the server knows")
	assert.Contains(t, reasons["max_connections"], "not a number")
	assert.Equal(t, 1, e.revision(t))
	assert.Empty(t, e.writes())
}

// TestParametersRecommendsMaxConnections: 3 app pods of pool 10 with their
// surge against the server: (3 + 1) x 10 + 3 reserved = 43.
func TestParametersRecommendsMaxConnections(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanParameters(t.Context(), postgres.Parameters{Namespace: relNS, Release: relName, RecommendMaxConnections: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	var step scaling.Step
	for _, s := range plan.Steps {
		if s.Field == "postgresql.maxConnections" {
			step = s
		}
	}
	assert.Equal(t, "43", step.After)
	assert.Equal(t, "100", step.Before)
	assert.Equal(t, scaling.Warn, guardOf(t, plan, postgres.GuardPoolerBudget+"-recommendation").Outcome, "it lowers the server's 100")
}
