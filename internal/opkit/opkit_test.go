package opkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

func plan(steps ...string) *scaling.Plan {
	p := &scaling.Plan{Operation: "x.Op", Fingerprint: scaling.Fingerprint{"k": "1"}}
	for _, s := range steps {
		p.Steps = append(p.Steps, scaling.Step{Action: s})
	}
	return p
}

func TestRunRunsTheActingStepsInOrder(t *testing.T) {
	ctx := context.Background()
	var ran []string
	step := func(_ context.Context, _ int, s scaling.Step) (bool, error) {
		ran = append(ran, s.Action)
		return true, nil
	}

	// Holding, stale and unrecorded state are Check's (ops_test.go): Run
	// gets a plan already let through.
	var events []string
	res, err := Run{Plan: plan("a", "shown", "b"),
		Progress: func(e scaling.Event) { events = append(events, string(e.Kind)+" "+e.Step.Action) },
		Acts:     func(_ int, s scaling.Step) bool { return s.Action != "shown" }}.Apply(ctx, step)
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, []string{"a", "b"}, ran)
	assert.Equal(t, []string{string(scaling.StepStarted) + " a", string(scaling.StepFinished) + " a", string(scaling.StepStarted) + " b", string(scaling.StepFinished) + " b"}, events)
}

func TestApplyStopsAtTheFailingStepWithItsTimeout(t *testing.T) {
	boom := errors.New("boom")
	var deadlines []bool
	_, err := Run{Plan: plan("a", "b", "c"), StepTimeout: time.Minute}.Apply(context.Background(),
		func(ctx context.Context, i int, _ scaling.Step) (bool, error) {
			_, ok := ctx.Deadline()
			deadlines = append(deadlines, ok)
			if i == 1 {
				return false, boom
			}
			return true, nil
		})
	var se *scaling.StepError
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, se.Index)
	assert.Equal(t, []scaling.Step{{Action: "a"}}, se.Done)
	assert.Equal(t, []bool{true, true}, deadlines, "each step is bounded, and c never ran")
}

// TestRecheckStopsARunBetweenSteps: the guards are evaluated again before
// every step but the first; a refusal stops the run as a StepError whose
// cause is the refusal, and no later step runs.
func TestRecheckStopsARunBetweenSteps(t *testing.T) {
	var ran []string
	checks := 0
	refusal := &scaling.GuardBlockedError{Operation: "x.Op", Guards: []scaling.GuardResult{{Name: "health", Outcome: scaling.Block}}}
	run := Run{Plan: plan("a", "b", "c"), Recheck: func(context.Context) error {
		checks++
		if checks == 2 {
			return refusal
		}
		return nil
	}}
	_, err := run.Apply(context.Background(), func(_ context.Context, _ int, s scaling.Step) (bool, error) {
		ran = append(ran, s.Action)
		return true, nil
	})
	var se *scaling.StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 2, se.Index, "refused before step c")
	assert.Len(t, se.Done, 2)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked, "the refusal is reachable")
	assert.Equal(t, []string{"a", "b"}, ran)
	assert.Equal(t, 2, checks, "not before the first step")
}
