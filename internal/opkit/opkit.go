// Package opkit is what every operation package shares, so that each says
// only what is its own: its request, spec, reads, guards, steps and checks.
//
// Ops (ops.go) is a package's registry of operations: decoding, foreign and
// blocked plans, signatures, and Apply's re-derivation of a stored plan
// from its request, checked against what the plan shows (Check), before any
// write. Run (here) runs the steps of the derived plan: in order, each
// reported as progress and bounded by the step timeout when ctx has no
// deadline, the guards evaluated again between steps (Recheck), and the
// first failure stopping the run as a *scaling.StepError naming the steps
// done before it.
package opkit

import (
	"context"
	"time"

	"github.com/ironflow/scaling"
)

// Run runs the steps of a plan Check has let through.
type Run struct {
	// Plan is the derived plan: its fingerprint is the live state read just
	// now, and becomes Applied.Fingerprint.
	Plan     *scaling.Plan
	Progress scaling.Progress
	// StepTimeout bounds each step when ctx has no deadline; 0 means none.
	StepTimeout time.Duration
	// Acts says which steps act; the others only show what an acting step
	// does (the pod count an upgrade sets), are not run and report no
	// progress. Nil means every step acts.
	Acts func(i int, s scaling.Step) bool
	// Recheck, when set, runs before every acting step but the first (which
	// the plan's own check covers) and stops the run with its error: a
	// multi-step plan evaluates its guards again on the state the earlier
	// steps left, so a server that died halfway stops a scale-down before
	// it removes the next one. Its error is the StepError's cause.
	Recheck func(ctx context.Context) error
}

// Apply runs the acting steps with step. step reports whether it changed
// anything.
func (r Run) Apply(ctx context.Context, step func(ctx context.Context, i int, s scaling.Step) (bool, error)) (*scaling.Applied, error) {
	plan := r.Plan
	res := &scaling.Applied{Operation: plan.Operation, Target: plan.Target, Started: time.Now(), Fingerprint: plan.Fingerprint}
	if len(plan.Steps) == 0 {
		res.Reason, res.Finished = "the plan has no steps", time.Now()
		return res, nil
	}
	acted := false
	for i := range plan.Steps {
		s := plan.Steps[i]
		if r.Acts != nil && !r.Acts(i, s) {
			continue
		}
		if acted && r.Recheck != nil {
			if err := r.Recheck(ctx); err != nil {
				return nil, &scaling.StepError{Operation: plan.Operation, Index: i, Step: s, Done: plan.Steps[:i:i], Err: err}
			}
		}
		acted = true
		r.Progress.Emit(scaling.Event{Kind: scaling.StepStarted, Operation: plan.Operation, Step: &s, Index: i, Time: time.Now()})
		stepCtx, cancel := ctx, context.CancelFunc(func() {})
		if _, ok := ctx.Deadline(); !ok && r.StepTimeout > 0 {
			stepCtx, cancel = context.WithTimeout(ctx, r.StepTimeout)
		}
		did, err := step(stepCtx, i, s)
		cancel()
		r.Progress.Emit(scaling.Event{Kind: scaling.StepFinished, Operation: plan.Operation, Step: &s, Index: i, Err: err, Time: time.Now()})
		if err != nil {
			return nil, &scaling.StepError{Operation: plan.Operation, Index: i, Step: s, Done: plan.Steps[:i:i], Err: err}
		}
		res.Changed = res.Changed || did
	}
	res.Finished = time.Now()
	return res, nil
}
