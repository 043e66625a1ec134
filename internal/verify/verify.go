// Package verify holds what every operation's Verify shares: reporting
// checks as progress, and turning how a watch ended into a phase.
package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ironflow/scaling"
)

// Emitter reports checks through Progress, each only when what it observed
// changed: a watch re-evaluates on every event, most of which change
// nothing a person wants to read.
type Emitter struct {
	progress  scaling.Progress
	operation string
	last      map[string]string
}

// NewEmitter returns an Emitter for one Verify of operation.
func NewEmitter(p scaling.Progress, operation string) *Emitter {
	return &Emitter{progress: p, operation: operation, last: map[string]string{}}
}

// Emit reports the checks whose observation changed since the last call.
func (e *Emitter) Emit(checks []scaling.Check) {
	for i := range checks {
		ch := &checks[i]
		if key := ch.Observed + "|" + ch.Detail; e.last[ch.Name] != key {
			e.last[ch.Name] = key
			e.progress.Emit(scaling.Event{Kind: scaling.CheckObserved, Operation: e.operation, Check: ch, Time: ch.ObservedAt})
		}
	}
}

// Passed reports whether every check passed (and there is at least one).
func Passed(checks []scaling.Check) bool {
	for _, ch := range checks {
		if !ch.Passed {
			return false
		}
	}
	return len(checks) > 0
}

// Conclude sets a Verification's phase and times from how the watch ended:
// nil is Succeeded; an override (non-empty overridden) is Overridden; ctx
// ending is TimedOut with the timedOut reason, followed by the checks that
// did not hold and what they last saw (a person reads the Reason first: the
// scheduler's "Insufficient cpu" must be there, not only in one check's
// detail); any other error is Failed with the error as the reason, and a
// cause of the error (errors.As on the Verification's Err) stays reachable.
func Conclude(ctx context.Context, v *scaling.Verification, err error, overridden, timedOut string) *scaling.Verification {
	v.Finished = time.Now()
	v.Duration = v.Finished.Sub(v.Started)
	switch {
	case overridden != "":
		v.Phase, v.Reason = scaling.Overridden, overridden
	case err == nil:
		v.Phase = scaling.Succeeded
	case ctx.Err() != nil:
		v.Phase, v.Reason = scaling.TimedOut, timedOut+failing(v.Checks)
	default:
		v.Phase, v.Reason, v.Err = scaling.Failed, err.Error(), err
	}
	return v
}

// failing renders the checks that did not hold for a Reason.
func failing(checks []scaling.Check) string {
	var parts []string
	for _, c := range checks {
		if c.Passed {
			continue
		}
		s := fmt.Sprintf("%s expected %s, observed %s", c.Name, c.Expected, c.Observed)
		if c.Detail != "" {
			s += " (" + c.Detail + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

// Expired returns the TimedOut Verification of a Verify whose context has
// already ended (nil when it has not): a deadline that passed is an outcome
// to report, not an error to return.
func Expired(ctx context.Context, plan *scaling.Plan) *scaling.Verification {
	if ctx.Err() == nil {
		return nil
	}
	now := time.Now()
	return &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Phase: scaling.TimedOut, Started: now, Finished: now,
		Reason: "the deadline had passed before Verify began: nothing was observed (" + ctx.Err().Error() + ")"}
}

// WithDeadline bounds a Verify: by ctx's own deadline when it has one, else
// by d from now.
func WithDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
