// Package planspec encodes and decodes the operation-specific part of a
// scaling.Plan (its Spec), the same way for every operation package.
package planspec

import (
	"encoding/json"
	"fmt"

	"github.com/ironflow/scaling"
)

// Decode checks the plan's format version and decodes its Spec into into.
// Either failure is a *scaling.InvalidPlanError.
func Decode(plan *scaling.Plan, into any) error {
	if plan.Version != scaling.PlanVersion {
		return &scaling.InvalidPlanError{Reason: "unknown plan format version"}
	}
	if err := json.Unmarshal(plan.Spec, into); err != nil {
		return &scaling.InvalidPlanError{Reason: plan.Operation + " spec: " + err.Error()}
	}
	return nil
}

// Encode encodes an operation's spec for Plan.Spec.
func Encode(spec any) (json.RawMessage, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding plan spec: %w", err)
	}
	return b, nil
}

// With decodes the plan's Spec into a new S and calls fn with it: the body
// of one case of an operation package's Apply or Verify.
func With[S, R any](plan *scaling.Plan, fn func(*S) (R, error)) (R, error) {
	var spec S
	if err := Decode(plan, &spec); err != nil {
		var zero R
		return zero, err
	}
	return fn(&spec)
}
