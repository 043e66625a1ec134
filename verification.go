package scaling

import (
	"fmt"
	"strings"
	"time"
)

// Phase is the outcome of a Verify.
type Phase string

const (
	// Succeeded: every check holds.
	Succeeded Phase = "Succeeded"
	// Failed: a check can no longer hold without intervention (a lost
	// quorum, a failed release); Reason says which.
	Failed Phase = "Failed"
	// TimedOut: the deadline passed before every check held; the checks show
	// what was last observed.
	TimedOut Phase = "TimedOut"
	// Overridden: something else (an HPA, a person, another controller)
	// changed what the plan set after it was applied.
	Overridden Phase = "Overridden"
)

// Verification is the result of watching an applied plan's outcome.
type Verification struct {
	Operation string    `json:"operation"`
	Target    ObjectRef `json:"target"`
	Phase     Phase     `json:"phase"`
	// Reason is one sentence explaining a phase other than Succeeded.
	Reason string  `json:"reason,omitempty"`
	Checks []Check `json:"checks"`
	// Started and Finished bound the watch; Duration is their difference.
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Duration time.Duration `json:"duration"`
	// Err is the typed cause of a Failed phase, for errors.As: a lost
	// quorum is a *nats.QuorumLostError. It is not serialised; Reason
	// carries its text.
	Err error `json:"-"`
}

// Check is one condition Verify watched, with what it last observed.
type Check struct {
	Name     string `json:"name"`
	Passed   bool   `json:"passed"`
	Expected string `json:"expected"`
	Observed string `json:"observed"`
	// Detail carries extra evidence: pending pods and their scheduler reason,
	// who overrode a value.
	Detail string `json:"detail,omitempty"`
	// ObservedAt is when Observed was last read.
	ObservedAt time.Time `json:"observedAt"`
}

// Check returns the check with the given name.
func (v *Verification) Check(name string) (Check, bool) {
	for _, c := range v.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// String renders the verification for people.
func (v *Verification) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Verify: %s on %s: %s after %s\n", v.Operation, v.Target, v.Phase, v.Duration.Round(time.Millisecond))
	if v.Reason != "" {
		fmt.Fprintf(&b, "  %s\n", v.Reason)
	}
	for _, c := range v.Checks {
		mark := "FAIL"
		if c.Passed {
			mark = " ok "
		}
		fmt.Fprintf(&b, "  [%s] %s: expected %s, observed %s\n", mark, c.Name, c.Expected, c.Observed)
		if c.Detail != "" {
			fmt.Fprintf(&b, "         %s\n", c.Detail)
		}
	}
	return b.String()
}
