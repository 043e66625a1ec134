package scaling

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every typed error below matches one of them with
// errors.Is, so callers can branch on the class of failure and use errors.As
// when they need its fields.
var (
	// ErrGuardBlocked: a guard blocks the plan; nothing was changed.
	ErrGuardBlocked = errors.New("scaling: blocked by a guard")
	// ErrStalePlan: live state changed since the plan was made; nothing was changed.
	ErrStalePlan = errors.New("scaling: plan is stale")
	// ErrNotFound: an object the operation needs does not exist.
	ErrNotFound = errors.New("scaling: not found")
	// ErrReleasePending: a Helm release is in a pending state and blocks upgrades.
	ErrReleasePending = errors.New("scaling: release has an operation in progress")
	// ErrInvalidInput: a request or option is malformed; nothing was read or changed.
	ErrInvalidInput = errors.New("scaling: invalid input")
	// ErrInvalidPlan: a plan is malformed or belongs to another operation.
	ErrInvalidPlan = errors.New("scaling: invalid plan")
)

// GuardBlockedError is returned by Apply for a plan with a blocking guard,
// and by operations that refuse to plan at all.
type GuardBlockedError struct {
	Operation string
	Guards    []GuardResult // the blocking guards
	// Causes are the operation's typed errors behind the guards, with the
	// numbers and objects involved, for errors.As; they are not part of a
	// serialised plan, so an operation rebuilds them from its spec.
	Causes []error
}

func (e *GuardBlockedError) Error() string {
	parts := make([]string, 0, len(e.Guards))
	for _, g := range e.Guards {
		s := g.Name + ": " + g.Reason
		if g.Remedy != "" {
			s += " (" + g.Remedy + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%s blocked: %s", e.Operation, strings.Join(parts, "; "))
}

// Is reports ErrGuardBlocked.
func (e *GuardBlockedError) Is(target error) bool { return target == ErrGuardBlocked }

// Unwrap returns the Causes, so errors.As finds an operation's typed error.
func (e *GuardBlockedError) Unwrap() []error { return e.Causes }

// Guard returns the blocking guard with the given name, if any.
func (e *GuardBlockedError) Guard(name string) (GuardResult, bool) {
	for _, g := range e.Guards {
		if g.Name == name {
			return g, true
		}
	}
	return GuardResult{}, false
}

// StalePlanError is returned by Apply when live state drifted from the plan's
// fingerprint. Make a new plan and review it again.
type StalePlanError struct {
	Operation string
	Drift     []Drift
}

func (e *StalePlanError) Error() string {
	parts := make([]string, 0, len(e.Drift))
	for _, d := range e.Drift {
		live := d.Live
		if live == "" {
			live = "(gone)"
		}
		parts = append(parts, fmt.Sprintf("%s planned %s, live %s", d.Key, d.Planned, live))
	}
	return fmt.Sprintf("%s: plan is stale, live state changed since planning (%s): plan again", e.Operation, strings.Join(parts, "; "))
}

// Is reports ErrStalePlan.
func (e *StalePlanError) Is(target error) bool { return target == ErrStalePlan }

// NotFoundError names the missing object.
type NotFoundError struct {
	Object ObjectRef
	// Detail adds context, e.g. which part of the plan needed the object.
	Detail string
}

func (e *NotFoundError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s not found: %s", e.Object, e.Detail)
	}
	return fmt.Sprintf("%s not found", e.Object)
}

// Is reports ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ReleasePendingError reports a Helm release stuck in pending-install,
// pending-upgrade or pending-rollback. Helm refuses every upgrade until it is
// resolved (usually by `helm rollback` to the last deployed revision).
type ReleasePendingError struct {
	Namespace, Release string
	Status             string
	Revision           int
}

func (e *ReleasePendingError) Error() string {
	return fmt.Sprintf("helm release %s/%s is %s at revision %d: another operation is in progress or was interrupted; wait for it, or roll back to the last deployed revision", e.Namespace, e.Release, e.Status, e.Revision)
}

// Is reports ErrReleasePending.
func (e *ReleasePendingError) Is(target error) bool { return target == ErrReleasePending }

// InvalidInputError reports a malformed request or option.
type InvalidInputError struct {
	Field  string
	Value  any
	Reason string
}

func (e *InvalidInputError) Error() string {
	return fmt.Sprintf("invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// Is reports ErrInvalidInput.
func (e *InvalidInputError) Is(target error) bool { return target == ErrInvalidInput }

// InvalidPlanError reports a plan that cannot be applied by this operation
// or library version.
type InvalidPlanError struct {
	Reason string
}

func (e *InvalidPlanError) Error() string { return "invalid plan: " + e.Reason }

// Is reports ErrInvalidPlan.
func (e *InvalidPlanError) Is(target error) bool { return target == ErrInvalidPlan }
