package opkit

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

type testSpec struct {
	N      int    `json:"n"`
	Causes Causes `json:"causes,omitempty"`
}

type tooBig struct{ N int }

func (e *tooBig) Error() string { return "too big" }

// calls records which operation function ran, with which spec.
type calls struct{ applied, verified []int }

func testOps(c *calls) *Ops {
	ops := NewOps("test", Kinds{"size": func() error { return &tooBig{} }}, time.Minute)
	Register(ops, "test.A", Op[testSpec]{Apply: func(_ context.Context, p *scaling.Plan, s *testSpec) (*scaling.Applied, error) {
		c.applied = append(c.applied, s.N)
		return &scaling.Applied{Operation: p.Operation}, nil
	}, Verify: func(ctx context.Context, p *scaling.Plan, s *testSpec) (*scaling.Verification, error) {
		c.verified = append(c.verified, s.N)
		_, has := ctx.Deadline()
		if !has {
			return nil, errors.New("verify ran without a deadline")
		}
		return &scaling.Verification{Operation: p.Operation, Phase: scaling.Succeeded}, nil
	}})
	Register(ops, "test.B", Op[testSpec]{Apply: func(context.Context, *scaling.Plan, *testSpec) (*scaling.Applied, error) { return nil, nil },
		Verify: func(context.Context, *scaling.Plan, *testSpec) (*scaling.Verification, error) { return nil, nil }})
	return ops
}

func specPlan(t *testing.T, op string, spec testSpec, guards ...scaling.GuardResult) *scaling.Plan {
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	return &scaling.Plan{Version: scaling.PlanVersion, Operation: op, Spec: raw, Guards: guards}
}

func TestOpsDispatchesByOperation(t *testing.T) {
	var c calls
	ops := testOps(&c)
	assert.Equal(t, []string{"test.A", "test.B"}, ops.Operations())

	res, err := ops.Apply(context.Background(), specPlan(t, "test.A", testSpec{N: 7}))
	require.NoError(t, err)
	assert.Equal(t, "test.A", res.Operation)
	v, err := ops.Verify(context.Background(), specPlan(t, "test.A", testSpec{N: 8}))
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase)
	assert.Equal(t, []int{7}, c.applied)
	assert.Equal(t, []int{8}, c.verified, "Verify got a deadline from the registry's timeout")
}

func TestOpsRefusesBeforeTheOperationRuns(t *testing.T) {
	var c calls
	ops := testOps(&c)
	ctx := context.Background()
	undecodable := specPlan(t, "test.A", testSpec{})
	undecodable.Spec = json.RawMessage(`{"n":"seven"}`)
	oldFormat := specPlan(t, "test.A", testSpec{})
	oldFormat.Version = scaling.PlanVersion + 1
	for name, p := range map[string]*scaling.Plan{
		"nil":         nil,
		"foreign":     specPlan(t, "other.Op", testSpec{}),
		"undecodable": undecodable,
		"old format":  oldFormat,
	} {
		_, err := ops.Apply(ctx, p)
		assert.ErrorIs(t, err, scaling.ErrInvalidPlan, "Apply %s", name)
		_, err = ops.Verify(ctx, p)
		assert.ErrorIs(t, err, scaling.ErrInvalidPlan, "Verify %s", name)
	}
	_, err := ops.Apply(ctx, specPlan(t, "other.Op", testSpec{}))
	assert.ErrorContains(t, err, "not a test operation")

	blocked := specPlan(t, "test.A", testSpec{N: 1, Causes: Causes{"size": json.RawMessage(`{"N":9}`)}},
		scaling.GuardResult{Name: "size", Outcome: scaling.Block, Reason: "9 is too big"})
	_, err = ops.Apply(ctx, blocked)
	var refused *scaling.GuardBlockedError
	require.ErrorAs(t, err, &refused)
	var cause *tooBig
	require.ErrorAs(t, err, &cause, "the stored cause is decoded into the registered kind")
	assert.Equal(t, 9, cause.N)
	assert.Empty(t, c.applied, "nothing ran for a refused plan")
	assert.Empty(t, c.verified)
}

func TestOpsVerifyPastDeadlineIsTimedOut(t *testing.T) {
	var c calls
	ops := testOps(&c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err := ops.Verify(ctx, specPlan(t, "test.A", testSpec{N: 1}))
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Empty(t, c.verified, "an expired Verify observes nothing")
}

func TestOpsRegisterTwicePanics(t *testing.T) {
	ops := NewOps("test", nil, time.Minute)
	noop := func(context.Context, *scaling.Plan, *testSpec) (*scaling.Applied, error) { return nil, nil }
	noV := func(context.Context, *scaling.Plan, *testSpec) (*scaling.Verification, error) { return nil, nil }
	Register(ops, "test.A", Op[testSpec]{Apply: noop, Verify: noV})
	assert.Panics(t, func() { Register(ops, "test.A", Op[testSpec]{Apply: noop, Verify: noV}) })
}

// TestApplyRunsTheDerivedPlanOnlyWhenTheStoredOneMatches: Apply re-plans
// from the stored request and decides from that plan, in Check's order.
func TestApplyRunsTheDerivedPlanOnlyWhenTheStoredOneMatches(t *testing.T) {
	ctx := context.Background()
	var derived *scaling.Plan
	var ran []*scaling.Plan
	var ranSpecs []*testSpec
	// The derived spec as Derive had it in memory: what Apply writes from
	// (a stored spec's secrets are redacted, its values never trusted).
	inMemory := &testSpec{N: 5}
	ops := NewOps("test", nil, time.Minute)
	Register(ops, "test.A", Op[testSpec]{
		Derive: func(context.Context, *testSpec) (*scaling.Plan, *testSpec, error) { return derived, inMemory, nil },
		Apply: func(_ context.Context, p *scaling.Plan, s *testSpec) (*scaling.Applied, error) {
			ran = append(ran, p)
			ranSpecs = append(ranSpecs, s)
			return &scaling.Applied{Changed: true}, nil
		},
		Verify: func(context.Context, *scaling.Plan, *testSpec) (*scaling.Verification, error) { return nil, nil },
	})
	honest := func() *scaling.Plan {
		p := specPlan(t, "test.A", testSpec{N: 5})
		p.Fingerprint = scaling.Fingerprint{"rev": "1"}
		p.Steps = []scaling.Step{{Action: "set", Before: "3", After: "5"}}
		p.Summary = "3 -> 5"
		return p
	}

	derived = honest()
	res, err := ops.Apply(ctx, honest())
	require.NoError(t, err)
	assert.True(t, res.Changed)
	require.Len(t, ran, 1)
	assert.Same(t, derived, ran[0], "the derived plan runs, not the stored one")
	assert.Same(t, inMemory, ranSpecs[0], "with the spec Derive returned, not one decoded from JSON")

	ran = nil
	derived = honest()
	derived.NoOp, derived.Steps = true, nil
	res, err = ops.Apply(ctx, honest())
	require.NoError(t, err)
	assert.False(t, res.Changed, "the target holds: an applied plan applied again changes nothing")

	derived = honest()
	derived.Guards = []scaling.GuardResult{{Name: "size", Outcome: scaling.Block, Reason: "now too big", Cause: &tooBig{N: 9}}}
	_, err = ops.Apply(ctx, honest())
	var cause *tooBig
	require.ErrorAs(t, err, &cause, "a guard that blocks now blocks, whatever the stored plan says")
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)

	derived = honest()
	empty := honest()
	empty.Fingerprint = scaling.Fingerprint{}
	_, err = ops.Apply(ctx, empty)
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan, "an emptied fingerprint is invalid, not nothing to compare")

	derived = honest()
	derived.Fingerprint = scaling.Fingerprint{"rev": "2"}
	_, err = ops.Apply(ctx, honest())
	assert.ErrorIs(t, err, scaling.ErrStalePlan)

	derived = honest()
	edited := honest()
	edited.Spec = json.RawMessage(`{"n":50}`)
	_, err = ops.Apply(ctx, edited)
	var mismatch *scaling.PlanMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, "spec.n", mismatch.Differences[0].Field)
	assert.Empty(t, ran, "nothing ran for a refused plan")
}

// TestApplyLoadsChartsOnlyFromTrustedSources: a stored spec's chart source
// is checked before Derive runs (Derive would look the chart up).
func TestApplyLoadsChartsOnlyFromTrustedSources(t *testing.T) {
	type chartSpec struct {
		Chart scaling.ChartSource `json:"chart"`
	}
	derives := 0
	ops := NewOps("test", nil, time.Minute)
	ops.TrustCharts(scaling.ChartSource{}, scaling.ChartSource{Ref: "oci://charts.example/app", Version: "1.2.0"})
	Register(ops, "test.C", Op[chartSpec]{
		Derive: func(_ context.Context, s *chartSpec) (*scaling.Plan, *chartSpec, error) {
			derives++
			return &scaling.Plan{NoOp: true}, s, nil
		},
		Apply:  func(context.Context, *scaling.Plan, *chartSpec) (*scaling.Applied, error) { return nil, nil },
		Verify: func(context.Context, *scaling.Plan, *chartSpec) (*scaling.Verification, error) { return nil, nil },
		Chart:  func(s *chartSpec) scaling.ChartSource { return s.Chart },
	})
	plan := func(src scaling.ChartSource) *scaling.Plan {
		raw, err := json.Marshal(chartSpec{Chart: src})
		require.NoError(t, err)
		return &scaling.Plan{Version: scaling.PlanVersion, Operation: "test.C", Spec: raw}
	}
	for _, src := range []scaling.ChartSource{
		{},
		{Ref: "oci://charts.example/app", Version: "1.2.0"},
		{Ref: "oci://charts.example/app", Version: "1.2.0", Digest: "sha256:ab", Upgrade: true},
	} {
		_, err := ops.Apply(context.Background(), plan(src))
		require.NoError(t, err, "%v", src)
	}
	assert.Equal(t, 3, derives)
	for _, src := range []scaling.ChartSource{
		{Ref: "oci://evil.example/app", Version: "1.2.0"},
		{Ref: "oci://charts.example/app", Version: "9.9.9"},
		{Ref: "app", RepoURL: "https://evil.example"},
	} {
		_, err := ops.Apply(context.Background(), plan(src))
		var untrusted *scaling.UntrustedChartError
		require.ErrorAs(t, err, &untrusted, "%v", src)
		assert.Equal(t, src, untrusted.Source)
	}
	assert.Equal(t, 3, derives, "no untrusted source reached Derive")
	assert.Error(t, ValidateCharts("Options.TrustedCharts", []scaling.ChartSource{{Version: "1"}}))
	assert.NoError(t, ValidateCharts("Options.TrustedCharts", []scaling.ChartSource{{Ref: "./chart"}}))
}
