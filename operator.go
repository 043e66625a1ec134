package scaling

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Operator applies and verifies the plans of one operation package:
// scale.Client and nats.Client are Operators, and so is a Router of them.
type Operator interface {
	// Operations lists the Plan.Operation values the operator takes.
	Operations() []string
	// Apply runs a plan the operator's package made (see each package's
	// Apply for what it refuses).
	Apply(ctx context.Context, plan *Plan) (*Applied, error)
	// Verify watches an applied plan's outcome.
	Verify(ctx context.Context, plan *Plan) (*Verification, error)
}

// Router applies or verifies any stored plan by its operation, with the
// operator that made it: one tool can run an approval queue of plans from
// every package. It is safe for concurrent use when its operators are.
type Router struct {
	byOperation map[string]Operator
}

var _ Operator = (*Router)(nil)

// NewRouter returns a Router of the operators. Two operators that claim the
// same operation are an *InvalidInputError: a plan must have one way to run.
func NewRouter(ops ...Operator) (*Router, error) {
	r := &Router{byOperation: map[string]Operator{}}
	for i, op := range ops {
		if op == nil {
			return nil, &InvalidInputError{Field: fmt.Sprintf("operator %d", i), Value: nil, Reason: "is nil"}
		}
		for _, name := range op.Operations() {
			if _, dup := r.byOperation[name]; dup {
				return nil, &InvalidInputError{Field: "operators", Value: name, Reason: "two operators take this operation"}
			}
			r.byOperation[name] = op
		}
	}
	return r, nil
}

// Operations implements Operator: every operation of every operator, sorted.
func (r *Router) Operations() []string {
	out := make([]string, 0, len(r.byOperation))
	for name := range r.byOperation {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Apply implements Operator. A plan of an operation no operator takes is an
// *InvalidPlanError, and nothing is read or written.
func (r *Router) Apply(ctx context.Context, plan *Plan) (*Applied, error) {
	op, err := r.route(plan)
	if err != nil {
		return nil, err
	}
	return op.Apply(ctx, plan)
}

// Verify implements Operator, refusing unknown operations as Apply does.
func (r *Router) Verify(ctx context.Context, plan *Plan) (*Verification, error) {
	op, err := r.route(plan)
	if err != nil {
		return nil, err
	}
	return op.Verify(ctx, plan)
}

func (r *Router) route(plan *Plan) (Operator, error) {
	if plan == nil {
		return nil, &InvalidPlanError{Reason: "nil plan"}
	}
	if plan.Version != PlanVersion {
		return nil, &InvalidPlanError{Reason: fmt.Sprintf("plan format version %d, this library reads %d", plan.Version, PlanVersion)}
	}
	op, ok := r.byOperation[plan.Operation]
	if !ok {
		return nil, &InvalidPlanError{Reason: fmt.Sprintf("no operator takes operation %q (this router takes %v)", plan.Operation, r.Operations())}
	}
	return op, nil
}

// ErrStepFailed: a step of an applied plan failed; the steps before it took
// effect.
var ErrStepFailed = errors.New("scaling: a step of the plan failed")

// StepError says which step of a multi-step Apply failed, what was done
// before it, and why (errors.Is and errors.As reach the cause).
type StepError struct {
	Operation string
	// Index is the failed step's position in Plan.Steps.
	Index int
	Step  Step
	// Done are the steps before it, which took effect: planning again
	// starts from there.
	Done []Step
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s: step %d (%s %s) failed after %d step(s) took effect: %v", e.Operation, e.Index+1, e.Step.Action, e.Step.Object, len(e.Done), e.Err)
}

// Is reports ErrStepFailed.
func (e *StepError) Is(target error) bool { return target == ErrStepFailed }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }
