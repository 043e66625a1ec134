package opkit

import (
	"encoding/json"
	"fmt"

	"github.com/ironflow/scaling"
)

// Causes are the typed errors behind a plan's blocking guards, by guard
// name, in the JSON a plan's spec stores them as: a GuardResult's Cause is
// not serialised, so a decoded plan gets its causes back from here.
type Causes map[string]json.RawMessage

// CausesOf collects the causes of the blocking guards.
func CausesOf(guards []scaling.GuardResult) (Causes, error) {
	var c Causes
	for _, g := range guards {
		if g.Outcome != scaling.Block || g.Cause == nil {
			continue
		}
		raw, err := json.Marshal(g.Cause)
		if err != nil {
			return nil, fmt.Errorf("encoding the cause of guard %s: %w", g.Name, err)
		}
		if c == nil {
			c = Causes{}
		}
		c[g.Name] = raw
	}
	return c, nil
}

// Kinds is what each guard of a package registers: a new value of its typed
// error, to decode a stored cause into. Adding a guard adds one entry here,
// nothing else.
type Kinds map[string]func() error

// Refuse returns a *scaling.GuardBlockedError for a plan with blocking
// guards, with the typed causes its spec stored (the spec's "causes" field),
// in guard order; nil when nothing blocks.
func Refuse(plan *scaling.Plan, kinds Kinds) error {
	blocked := plan.Blocking()
	if len(blocked) == 0 {
		return nil
	}
	var spec struct {
		Causes Causes `json:"causes"`
	}
	_ = json.Unmarshal(plan.Spec, &spec) // a spec without causes refuses all the same
	var causes []error
	for _, g := range blocked {
		raw, ok := spec.Causes[g.Name]
		mk := kinds[g.Name]
		if !ok || mk == nil {
			continue
		}
		e := mk()
		if err := json.Unmarshal(raw, e); err == nil {
			causes = append(causes, e)
		}
	}
	return &scaling.GuardBlockedError{Operation: plan.Operation, Guards: blocked, Causes: causes}
}
