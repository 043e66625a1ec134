package scaling

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPlanMismatch: the plan shows or carries something other than what
// Apply, re-deriving it from its request and live state, would do now: an
// edited plan, or one whose display no longer matches its spec. Nothing
// was changed.
var ErrPlanMismatch = errors.New("scaling: plan does not match what it would do")

// PlanMismatchError is Apply's refusal of a plan that differs from the
// plan re-derived from its request on live state.
type PlanMismatchError struct {
	Operation   string
	Differences []Difference
}

// Difference is one part of a plan that differs: Field names it ("target",
// "steps[1]", "spec", "diff", "guard quota"); Planned is what the stored
// plan says, Derived what Apply derived now (long texts are abbreviated).
type Difference struct {
	Field   string `json:"field"`
	Planned string `json:"planned"`
	Derived string `json:"derived"`
}

func (e *PlanMismatchError) Error() string {
	parts := make([]string, 0, len(e.Differences))
	for _, d := range e.Differences {
		parts = append(parts, fmt.Sprintf("%s: plan %q, derived %q", d.Field, d.Planned, d.Derived))
	}
	return fmt.Sprintf("%s: the plan is not what it would do now (plan again, and approve the new plan): %s", e.Operation, strings.Join(parts, "; "))
}

// Is reports ErrPlanMismatch.
func (e *PlanMismatchError) Is(target error) bool { return target == ErrPlanMismatch }
