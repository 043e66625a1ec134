// Package opkit is the apply order every operation shares, so that each
// package's Apply says only what is its own: what "already holds" means,
// what live state it read, and what each step does.
//
//  1. The target state already holds: nothing is written and Applied says
//     why (an applied plan's own fingerprint is stale, so this comes first:
//     re-applying an applied plan must change nothing, not be refused).
//  2. A plan without a fingerprint is invalid; one whose fingerprint differs
//     from live state is a *scaling.StalePlanError. Nothing is written.
//  3. The steps run in order, each reported as progress and bounded by the
//     step timeout when ctx has no deadline; the first failure stops the run
//     as a *scaling.StepError naming the steps done before it.
package opkit

import (
	"context"
	"time"

	"github.com/ironflow/scaling"
)

// Run is one Apply of a plan.
type Run struct {
	Plan *scaling.Plan
	// Live is the fingerprint of the live state read just now.
	Live scaling.Fingerprint
	// Holds, when not empty, says why the target state already holds.
	Holds    string
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

// Apply runs the acting steps with step, in the shared order. step reports
// whether it changed anything.
func (r Run) Apply(ctx context.Context, step func(ctx context.Context, i int, s scaling.Step) (bool, error)) (*scaling.Applied, error) {
	plan := r.Plan
	res := &scaling.Applied{Operation: plan.Operation, Target: plan.Target, Started: time.Now(), Fingerprint: r.Live}
	if r.Holds != "" {
		res.Reason, res.Finished = r.Holds, time.Now()
		return res, nil
	}
	if len(plan.Fingerprint) == 0 {
		return nil, &scaling.InvalidPlanError{Reason: "the plan records no live state (empty fingerprint): nothing to tell a stale plan by"}
	}
	if drift := plan.Fingerprint.Compare(r.Live); len(drift) > 0 {
		return nil, &scaling.StalePlanError{Operation: plan.Operation, Drift: drift}
	}
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
