package tenants

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
)

// wrappedSpec is the spec of a tenant plan that runs another package's
// plan (scale's Resources, postgres's or nats's ExpandStorage): the
// tenant's request, and the inner plan as that package made it for the
// tenant's release. The tenant operations add the ownership guards; the
// inner package's own code plans, applies and verifies, so there is one
// implementation of each change.
type wrappedSpec[R any] struct {
	Request R `json:"request"`
	// Inner is the other package's plan, without its creation time (two
	// derivations of the same state are the same plan) or signatures (the
	// tenant plan is what is signed).
	Inner  *scaling.Plan `json:"inner"`
	Causes opkit.Causes  `json:"causes,omitempty"`
}

// wrap makes the tenant plan around inner: the inner plan's steps, diff
// and fingerprint, the tenant's ownership guards first and the inner
// plan's guards after them. Nothing is read.
func wrap[R any](op string, t *tenantState, r R, inner *scaling.Plan) (*scaling.Plan, *wrappedSpec[R], error) {
	in := *inner
	in.CreatedAt, in.Signatures = time.Time{}, nil
	fp := t.fingerprint()
	maps.Copy(fp, inner.Fingerprint)
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: op, Target: inner.Target,
		Summary: fmt.Sprintf("Tenant %s: %s", t.Name, inner.Summary),
		Steps:   inner.Steps, Diff: inner.Diff, NoOp: inner.NoOp,
		Guards:      append(t.ownership(nil), inner.Guards...),
		Fingerprint: fp, CreatedAt: time.Now().UTC(),
	}
	causes, err := opkit.CausesOf(plan.Guards)
	if err != nil {
		return nil, nil, err
	}
	spec := &wrappedSpec[R]{Request: r, Inner: &in, Causes: causes}
	if plan.Spec, err = planspec.Encode(spec); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// applyWrapped runs a derived tenant plan's inner plan with its package's
// Apply, which plans it again itself and refuses it if the state moved in
// between: the check of the tenant's guards and of the inner plan's is
// made twice, never skipped.
func applyWrapped(ctx context.Context, inner scaling.Operator, plan *scaling.Plan, innerPlan *scaling.Plan) (*scaling.Applied, error) {
	res, err := inner.Apply(ctx, innerPlan)
	if res != nil {
		res.Operation = plan.Operation
	}
	return res, err
}

// verifyWrapped verifies a tenant plan by its inner plan.
func verifyWrapped(ctx context.Context, inner scaling.Operator, plan *scaling.Plan, innerPlan *scaling.Plan) (*scaling.Verification, error) {
	if innerPlan == nil {
		return nil, &scaling.InvalidPlanError{Reason: "the tenant plan carries no inner plan"}
	}
	v, err := inner.Verify(ctx, innerPlan)
	if v != nil {
		v.Operation = plan.Operation
	}
	return v, err
}
