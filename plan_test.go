package scaling_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

func samplePlan() *scaling.Plan {
	return &scaling.Plan{
		Version:   scaling.PlanVersion,
		Operation: "scale.Replicas",
		Target:    scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"},
		Summary:   "Scale Deployment/prod/ironflow from 3 to 5 replicas.",
		Steps: []scaling.Step{
			{Action: "helm upgrade", Object: scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"}, Field: "replicaCount", Before: "3", After: "5"},
		},
		Guards: []scaling.GuardResult{
			{Name: "clustering", Outcome: scaling.Pass, Reason: "cluster.enabled is true"},
			{Name: "hpa", Outcome: scaling.Warn, Reason: "HPA web exists", Remedy: "check its range"},
		},
		Diff:        "-replicaCount: 3\n+replicaCount: 5\n",
		Fingerprint: scaling.Fingerprint{"HelmRelease/prod/ironflow revision": "7"},
		Spec:        json.RawMessage(`{"values":{"replicaCount":5}}`),
		CreatedAt:   time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	p := samplePlan()
	data, err := json.Marshal(p)
	require.NoError(t, err)
	back, err := scaling.Decode(data)
	require.NoError(t, err)
	assert.Equal(t, p, back)
}

func TestDecodeRejectsForeignFormats(t *testing.T) {
	_, err := scaling.Decode([]byte(`{"version": 99, "operation": "scale.Replicas"}`))
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	_, err = scaling.Decode([]byte(`not json`))
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
}

func TestFingerprintCompare(t *testing.T) {
	planned := scaling.Fingerprint{"a revision": "1", "b generation": "4", "c generation": "2"}
	live := scaling.Fingerprint{"a revision": "1", "b generation": "5"}
	assert.Equal(t, []scaling.Drift{
		{Key: "b generation", Planned: "4", Live: "5"},
		{Key: "c generation", Planned: "2", Live: ""},
	}, planned.Compare(live))
	assert.Empty(t, planned.Compare(planned))
}

func TestBlockingAndRendering(t *testing.T) {
	p := samplePlan()
	assert.Empty(t, p.Blocking())
	p.Guards = append(p.Guards, scaling.GuardResult{Name: "quota", Outcome: scaling.Block, Reason: "needs 1 cpu, 0.5 left", Remedy: "raise the quota"})
	require.Len(t, p.Blocking(), 1)
	out := p.String()
	assert.Contains(t, out, "Plan: scale.Replicas on HelmRelease/prod/ironflow\n")
	assert.Contains(t, out, "  1. helm upgrade HelmRelease/prod/ironflow replicaCount: 3 -> 5\n")
	assert.Contains(t, out, "  [block] quota: needs 1 cpu, 0.5 left\n         -> raise the quota\n")
	assert.Contains(t, out, "Blocked by 1 guard(s): this plan cannot be applied.\n")
	assert.NotContains(t, out, "step(s) to apply")
}

func TestErrorsMatchSentinels(t *testing.T) {
	cases := []struct {
		err      error
		sentinel error
		text     string
	}{
		{&scaling.GuardBlockedError{Operation: "scale.Replicas", Guards: []scaling.GuardResult{{Name: "hpa", Reason: "HPA web owns it", Remedy: "retarget min/max"}}}, scaling.ErrGuardBlocked, "scale.Replicas blocked: hpa: HPA web owns it (retarget min/max)"},
		{&scaling.StalePlanError{Operation: "scale.Replicas", Drift: []scaling.Drift{{Key: "k", Planned: "1", Live: "2"}}}, scaling.ErrStalePlan, "k planned 1, live 2"},
		{&scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "Deployment", Namespace: "ns", Name: "web"}}, scaling.ErrNotFound, "Deployment/ns/web not found"},
		{&scaling.ReleasePendingError{Namespace: "ns", Release: "web", Status: "pending-upgrade", Revision: 4}, scaling.ErrReleasePending, "is pending-upgrade at revision 4"},
		{&scaling.InvalidInputError{Field: "Replicas", Value: -1, Reason: "must be 0 or more"}, scaling.ErrInvalidInput, "invalid Replicas -1: must be 0 or more"},
		{&scaling.InvalidPlanError{Reason: "nil plan"}, scaling.ErrInvalidPlan, "invalid plan: nil plan"},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("context: %w", c.err)
		assert.ErrorIs(t, wrapped, c.sentinel)
		assert.Contains(t, c.err.Error(), c.text)
		for _, other := range []error{scaling.ErrGuardBlocked, scaling.ErrStalePlan, scaling.ErrNotFound, scaling.ErrReleasePending, scaling.ErrInvalidInput, scaling.ErrInvalidPlan} {
			if other != c.sentinel {
				assert.False(t, errors.Is(wrapped, other), "%T must not match %v", c.err, other)
			}
		}
	}
	var gb *scaling.GuardBlockedError
	require.True(t, errors.As(fmt.Errorf("x: %w", cases[0].err), &gb))
	g, ok := gb.Guard("hpa")
	assert.True(t, ok)
	assert.Equal(t, "retarget min/max", g.Remedy)
}

func TestVerificationRendering(t *testing.T) {
	v := &scaling.Verification{Operation: "scale.Replicas", Target: scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "web"},
		Phase: scaling.TimedOut, Reason: "deadline passed", Duration: 1500 * time.Millisecond,
		Checks: []scaling.Check{{Name: "pods-ready", Expected: "5", Observed: "3 Ready of 5", Detail: "2 pod(s) not scheduled: web-x: Unschedulable: Insufficient cpu"}}}
	out := v.String()
	assert.Contains(t, out, "TimedOut after 1.5s")
	assert.Contains(t, out, "[FAIL] pods-ready: expected 5, observed 3 Ready of 5")
	assert.Contains(t, out, "Insufficient cpu")
	_, ok := v.Check("missing")
	assert.False(t, ok)
}

func TestProgressEmit(t *testing.T) {
	var got []scaling.Event
	p := scaling.Progress(func(e scaling.Event) { got = append(got, e) })
	p.Emit(scaling.Event{Kind: scaling.StepStarted})
	require.Len(t, got, 1)
	assert.False(t, got[0].Time.IsZero(), "Emit stamps the time")
	var none scaling.Progress
	none.Emit(scaling.Event{Kind: scaling.StepStarted}) // a nil Progress drops events
}
