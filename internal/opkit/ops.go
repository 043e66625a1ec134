package opkit

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
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
	// verifier, when set, makes Apply refuse plans none of whose
	// signatures verifies.
	verifier scaling.Verifier
	// charts are the chart sources Apply loads a stored plan's chart from.
	charts []scaling.ChartSource
}

// TrustCharts names the chart sources Apply may load a stored plan's chart
// from (the client's default source and any others it was given). A plan
// naming another source is refused before any request with a
// *scaling.UntrustedChartError, unless signatures are required: a plan
// whose signature verified carries an approved source. The zero source,
// the release's own stored chart, is always trusted.
func (o *Ops) TrustCharts(sources ...scaling.ChartSource) {
	for _, s := range sources {
		if !s.IsZero() {
			o.charts = append(o.charts, s)
		}
	}
}

// ValidateCharts checks an Options list of trusted chart sources (named
// field): each must name a chart.
func ValidateCharts(field string, sources []scaling.ChartSource) error {
	for i, s := range sources {
		f := field + "[" + strconv.Itoa(i) + "]"
		if s.IsZero() {
			return &scaling.InvalidInputError{Field: f, Value: s, Reason: "a trusted source needs a Ref"}
		}
		if err := s.Validate(f); err != nil {
			return err
		}
	}
	return nil
}

// trusted refuses a chart source nobody configured this client with.
func (o *Ops) trusted(plan *scaling.Plan, src scaling.ChartSource) error {
	if src.IsZero() || o.verifier != nil {
		return nil
	}
	for _, t := range o.charts {
		if t.SameLocation(src) {
			return nil
		}
	}
	return &scaling.UntrustedChartError{Operation: plan.Operation, Source: src, Trusted: slices.Clone(o.charts)}
}

// RequireSignatures makes Apply refuse, before any request, a plan none of
// whose signatures verifies with v (*scaling.SignatureError). Nil accepts
// unsigned plans.
func (o *Ops) RequireSignatures(v scaling.Verifier) { o.verifier = v }

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

// Op is what one operation registers, for plans whose spec is an S.
type Op[S any] struct {
	// Derive plans again from the stored spec's request on live state,
	// with the operation's own Plan code (read-only), and returns the plan
	// with its spec as it was in memory, before redaction: Apply compares
	// the derived plan with the stored one and runs the derived spec, so
	// it writes the values it read just now, never a stored plan's (which
	// are redacted, and never trusted). Nil skips the re-derivation (an
	// operation not yet converted): Apply then trusts the spec.
	Derive func(ctx context.Context, spec *S) (*scaling.Plan, *S, error)
	// Apply runs a plan no guard blocks whose state still holds; with
	// Derive set it gets the derived plan and spec.
	Apply func(ctx context.Context, plan *scaling.Plan, spec *S) (*scaling.Applied, error)
	// Verify runs with the deadline already set and not yet passed.
	Verify func(ctx context.Context, plan *scaling.Plan, spec *S) (*scaling.Verification, error)
	// Chart is the chart source a stored spec makes Derive and Apply load,
	// checked against the trusted sources before either runs; nil for an
	// operation that loads no chart.
	Chart func(spec *S) scaling.ChartSource
	// Kinds are the typed errors of the guards this operation's plans carry
	// besides the package's own: an operation that runs another package's
	// plan (tenants' Resources runs scale's) carries that package's guards,
	// and which package may depend on the request. They take precedence
	// over the package's kinds of the same name; nil adds none.
	Kinds func(spec *S) Kinds
}

// Decoded completes a Derive for an operation whose spec holds nothing
// secret: the derived plan's own spec, decoded.
func Decoded[S any](plan *scaling.Plan, err error) (*scaling.Plan, *S, error) {
	if err != nil {
		return nil, nil, err
	}
	var spec S
	if err := planspec.Decode(plan, &spec); err != nil {
		return nil, nil, err
	}
	return plan, &spec, nil
}

// Register adds operation name. Registering a name twice panics: it is a
// programming error in the package, found by its first test.
func Register[S any](o *Ops, name string, op Op[S]) {
	if _, dup := o.byName[name]; dup {
		panic("opkit: operation " + name + " registered twice")
	}
	o.names = append(o.names, name)
	o.byName[name] = entry{
		apply: func(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
			return planspec.With(plan, func(s *S) (*scaling.Applied, error) {
				kinds := o.kinds
				if op.Kinds != nil {
					kinds = maps.Clone(o.kinds)
					maps.Copy(kinds, op.Kinds(s))
				}
				if err := Refuse(plan, kinds); err != nil {
					return nil, err
				}
				if op.Chart != nil {
					if err := o.trusted(plan, op.Chart(s)); err != nil {
						return nil, err
					}
				}
				if op.Derive == nil {
					return op.Apply(ctx, plan, s)
				}
				derived, ds, err := op.Derive(ctx, s)
				if err != nil {
					return nil, err
				}
				if res, err := Check(plan, derived); res != nil || err != nil {
					return res, err
				}
				return op.Apply(ctx, derived, ds)
			})
		},
		verify: func(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
			return planspec.With(plan, func(s *S) (*scaling.Verification, error) { return op.Verify(ctx, plan, s) })
		},
	}
}

// Check decides what a stored plan may do, given the plan derived from its
// request on live state just now, in this order:
//
//  1. The derived plan changes nothing: the target state holds (the plan
//     was applied already, or the cluster got there another way). Applied
//     says so, Changed false, and nothing is written.
//  2. The stored plan records no live state: a *scaling.InvalidPlanError.
//  3. It records other objects than the derived plan reads (a plan
//     retargeted by hand): a *scaling.PlanMismatchError.
//  4. Those objects moved since planning: a *scaling.StalePlanError.
//  5. The stored plan shows or carries anything else than the derived one
//     (target, summary, steps, diff, spec): a *scaling.PlanMismatchError
//     naming each difference.
//  6. A derived guard blocks: a *scaling.GuardBlockedError with the typed
//     causes, whatever the stored plan's guards say (a stored verdict is
//     information, never permission).
//  7. A guard's outcome differs from the one shown (a new warning): a
//     *scaling.PlanMismatchError.
//
// Both nil means: run the derived plan.
func Check(stored, derived *scaling.Plan) (*scaling.Applied, error) {
	if derived.NoOp {
		now := time.Now()
		return &scaling.Applied{Operation: stored.Operation, Target: derived.Target, Started: now, Finished: now, Fingerprint: derived.Fingerprint,
			Reason: "the target state already holds: nothing to do"}, nil
	}
	if len(stored.Fingerprint) == 0 {
		return nil, &scaling.InvalidPlanError{Reason: "the plan records no live state (empty fingerprint): nothing to tell a stale plan by"}
	}
	mismatch := func(ds []scaling.Difference) error {
		return &scaling.PlanMismatchError{Operation: stored.Operation, Differences: ds}
	}
	if planned, now := keys(stored.Fingerprint), keys(derived.Fingerprint); planned != now {
		return nil, mismatch([]scaling.Difference{{Field: "fingerprint", Planned: planned, Derived: now}})
	}
	if drift := stored.Fingerprint.Compare(derived.Fingerprint); len(drift) > 0 {
		return nil, &scaling.StalePlanError{Operation: stored.Operation, Drift: drift}
	}
	var shown, guards []scaling.Difference
	for _, d := range Compare(stored, derived) {
		if d.Field == "guards" || strings.HasPrefix(d.Field, "guard ") {
			guards = append(guards, d)
		} else {
			shown = append(shown, d)
		}
	}
	if len(shown) > 0 {
		return nil, mismatch(shown)
	}
	if err := Blocked(derived); err != nil {
		return nil, err
	}
	if len(guards) > 0 {
		return nil, mismatch(guards)
	}
	return nil, nil
}

// keys lists what a fingerprint records, sorted.
func keys(f scaling.Fingerprint) string {
	return strings.Join(slices.Sorted(maps.Keys(f)), ", ")
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
// spec does not decode (*scaling.InvalidPlanError), an unsigned or
// mis-signed plan when signatures are required (*scaling.SignatureError),
// and a plan with a blocking guard (*scaling.GuardBlockedError with its typed causes), all
// before any request; otherwise it runs the operation's apply.
func (o *Ops) Apply(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
	e, err := o.lookup(plan)
	if err != nil {
		return nil, err
	}
	if o.verifier != nil {
		if err := plan.VerifySignatures(o.verifier); err != nil {
			return nil, err
		}
	}
	// The operation refuses a blocked plan first thing, once its spec has
	// decoded (the spec says which guards' typed causes it may carry).
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

// Blocked is the refusal of a plan just made (its guards carry their causes
// in memory) that some guard blocks: a *scaling.GuardBlockedError with the
// typed causes; nil when no guard blocks.
func Blocked(p *scaling.Plan) error {
	guards := p.Blocking()
	if len(guards) == 0 {
		return nil
	}
	e := &scaling.GuardBlockedError{Operation: p.Operation, Guards: guards}
	for _, g := range guards {
		if g.Cause != nil {
			e.Causes = append(e.Causes, g.Cause)
		}
	}
	return e
}
