package opkit

import (
	"context"
	"time"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/verify"
)

// Ops is one package's registry of operations: what its Client's
// Operations, Apply and Verify dispatch on. A package registers each
// operation once, with the functions that apply and verify its decoded
// spec; everything before those functions (a nil or undecodable plan, an
// operation of another package, a blocked plan, Verify's deadline) is done
// here, the same way for every package.
type Ops struct {
	pkg   string
	kinds Kinds
	// verifyTimeout bounds Verify when ctx has no deadline.
	verifyTimeout time.Duration
	names         []string
	byName        map[string]entry
}

type entry struct {
	apply  func(context.Context, *scaling.Plan) (*scaling.Applied, error)
	verify func(context.Context, *scaling.Plan) (*scaling.Verification, error)
}

// NewOps returns an empty registry for package pkg (named in the error for
// a foreign plan), whose blocked plans are refused with the typed causes
// kinds decodes, and whose Verify is bounded by verifyTimeout when its
// context has no deadline.
func NewOps(pkg string, kinds Kinds, verifyTimeout time.Duration) *Ops {
	return &Ops{pkg: pkg, kinds: kinds, verifyTimeout: verifyTimeout, byName: map[string]entry{}}
}

// Register adds operation name, whose plans carry a spec of type S. apply
// runs only for a plan no guard blocks; verify runs with the deadline
// already set and not yet passed. Registering a name twice panics: it is a
// programming error in the package, found by its first test.
func Register[S any](o *Ops, name string,
	apply func(context.Context, *scaling.Plan, *S) (*scaling.Applied, error),
	verify func(context.Context, *scaling.Plan, *S) (*scaling.Verification, error),
) {
	if _, dup := o.byName[name]; dup {
		panic("opkit: operation " + name + " registered twice")
	}
	o.names = append(o.names, name)
	o.byName[name] = entry{
		apply: func(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
			return planspec.With(plan, func(s *S) (*scaling.Applied, error) { return apply(ctx, plan, s) })
		},
		verify: func(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
			return planspec.With(plan, func(s *S) (*scaling.Verification, error) { return verify(ctx, plan, s) })
		},
	}
}

// Operations lists the registered operations in registration order.
func (o *Ops) Operations() []string { return append([]string(nil), o.names...) }

func (o *Ops) lookup(plan *scaling.Plan) (entry, error) {
	if plan == nil {
		return entry{}, &scaling.InvalidPlanError{Reason: "nil plan"}
	}
	e, ok := o.byName[plan.Operation]
	if !ok {
		return entry{}, &scaling.InvalidPlanError{Reason: "operation " + plan.Operation + " is not a " + o.pkg + " operation"}
	}
	return e, nil
}

// Apply refuses a nil plan, a plan of another package and a plan whose
// spec does not decode (*scaling.InvalidPlanError), and a plan with a
// blocking guard (*scaling.GuardBlockedError with its typed causes), all
// before any request; otherwise it runs the operation's apply.
func (o *Ops) Apply(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
	e, err := o.lookup(plan)
	if err != nil {
		return nil, err
	}
	if err := Refuse(plan, o.kinds); err != nil {
		return nil, err
	}
	return e.apply(ctx, plan)
}

// Verify refuses what Apply refuses but a blocked plan (verifying one that
// was never applied shows it does not hold), bounds ctx by the registry's
// timeout when it has no deadline, and returns a TimedOut Verification
// without a request when the deadline has already passed; otherwise it runs
// the operation's verify.
func (o *Ops) Verify(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
	e, err := o.lookup(plan)
	if err != nil {
		return nil, err
	}
	ctx, cancel := verify.WithDeadline(ctx, o.verifyTimeout)
	defer cancel()
	if v := verify.Expired(ctx, plan); v != nil {
		return v, nil
	}
	return e.verify(ctx, plan)
}
