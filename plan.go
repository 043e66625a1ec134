package scaling

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// PlanVersion is the version of the Plan JSON format. Apply refuses a plan
// written in a format it does not know rather than guessing.
const PlanVersion = 1

// Plan is what an operation intends to do, computed from live state. It is
// safe to serialise with encoding/json and apply later, possibly from another
// process: everything Apply needs is inside it.
type Plan struct {
	// Version is the plan format version (PlanVersion when made).
	Version int `json:"version"`
	// Operation names the operation that made the plan, e.g. "scale.Replicas".
	// Apply uses it to refuse a plan made by another operation.
	Operation string `json:"operation"`
	// Target is the object the operation changes.
	Target ObjectRef `json:"target"`
	// Summary is one sentence saying what the plan does.
	Summary string `json:"summary"`
	// Steps are the changes in the order Apply makes them.
	Steps []Step `json:"steps"`
	// Guards are the safety checks evaluated while planning.
	Guards []GuardResult `json:"guards"`
	// Diff is a human-readable unified diff of values and rendered manifests.
	Diff string `json:"diff,omitempty"`
	// NoOp is true when the target state already holds: Apply will issue no
	// mutating request.
	NoOp bool `json:"noOp"`
	// Fingerprint records the live state the plan was computed from.
	Fingerprint Fingerprint `json:"fingerprint"`
	// Spec is the operation's own desired state (values to set, counts), in
	// the operation's JSON form. Apply reads it back; callers normally don't.
	Spec json.RawMessage `json:"spec"`
	// CreatedAt is when the plan was made.
	CreatedAt time.Time `json:"createdAt"`
	// Signatures are approvals of the plan's Digest (Sign); a client given
	// a Verifier applies only plans one of whose signatures verifies.
	Signatures []Signature `json:"signatures,omitempty"`
}

// ObjectRef names a Kubernetes object or another addressable thing (a Helm
// release, a NATS server).
type ObjectRef struct {
	// Kind is a Kubernetes kind ("Deployment") or "HelmRelease".
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String renders the reference as kind/namespace/name.
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Step is one change that Apply makes.
type Step struct {
	// Action is a short verb phrase, e.g. "helm upgrade".
	Action string `json:"action"`
	// Object is what the step changes.
	Object ObjectRef `json:"object"`
	// Field is the changed field or value path, e.g. "replicaCount".
	Field string `json:"field,omitempty"`
	// Before and After are the field's values, rendered for people.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Note explains a non-obvious choice (why this order, why this path).
	Note string `json:"note,omitempty"`
}

// Outcome is the result of one guard.
type Outcome string

const (
	// Pass means the guard found nothing in the way.
	Pass Outcome = "pass"
	// Warn means the plan may be applied but the reason deserves a read.
	Warn Outcome = "warn"
	// Block means the plan must not be applied: Apply refuses it.
	Block Outcome = "block"
)

// GuardResult is the verdict of one safety check.
type GuardResult struct {
	// Name identifies the guard, e.g. "hpa-range".
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	// Reason says why, with the numbers involved.
	Reason string `json:"reason"`
	// Remedy says what to do about a warn or block; empty on pass.
	Remedy string `json:"remedy,omitempty"`
	// Cause is the operation's typed error behind a block, with its
	// numbers, for errors.As on Apply's *GuardBlockedError. It is not
	// serialised here: the plan's spec keeps it, so a decoded plan's Apply
	// still returns it.
	Cause error `json:"-"`
}

// Blocking returns the guards whose outcome is Block, in plan order.
func (p *Plan) Blocking() []GuardResult {
	var out []GuardResult
	for _, g := range p.Guards {
		if g.Outcome == Block {
			out = append(out, g)
		}
	}
	return out
}

// Guard returns the named guard's result; ok is false when the plan has
// no guard of that name.
func (p *Plan) Guard(name string) (g GuardResult, ok bool) {
	for _, g := range p.Guards {
		if g.Name == name {
			return g, true
		}
	}
	return GuardResult{}, false
}

// Fingerprint maps each piece of live state a plan depends on to the version
// observed while planning. Keys are like "Deployment/ns/name generation" or
// "HelmRelease/ns/name revision"; values are the observed versions. Workloads
// are fingerprinted by metadata.generation, not resourceVersion, so that a pod
// turning Ready (a status write) does not make a plan stale while a spec
// change (a scale, an upgrade) does.
type Fingerprint map[string]string

// What a Fingerprint records of an object.
const (
	AspectGeneration = "generation" // metadata.generation, or "absent"
	AspectRevision   = "revision"   // a Helm release's revision
	AspectRequest    = "request"    // a claim's UID and requested size
	AspectPrimary    = "primary"    // a PostgreSQL cluster's current primary
)

// FingerprintKey is the key under which a Fingerprint records one aspect of
// one object. Plan and Apply's re-read build keys only with it, so the two
// cannot spell the same state differently.
func FingerprintKey(ref ObjectRef, aspect string) string { return ref.String() + " " + aspect }

// Drift is one fingerprint entry whose live value differs from the plan's.
type Drift struct {
	Key     string `json:"key"`
	Planned string `json:"planned"`
	Live    string `json:"live"`
}

// Compare returns the entries of f whose value in live differs, sorted by
// key. A key missing from live is reported with an empty Live value.
func (f Fingerprint) Compare(live Fingerprint) []Drift {
	var out []Drift
	for k, v := range f {
		if lv := live[k]; lv != v {
			out = append(out, Drift{Key: k, Planned: v, Live: lv})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Decode reads a plan written by json.Marshal and checks its format version.
func Decode(data []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, &InvalidPlanError{Reason: "not a plan: " + err.Error()}
	}
	if p.Version != PlanVersion {
		return nil, &InvalidPlanError{Reason: fmt.Sprintf("plan format version %d, this library reads %d", p.Version, PlanVersion)}
	}
	return &p, nil
}

// String renders the plan for people, in the spirit of `terraform plan`.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %s on %s\n", p.Operation, p.Target)
	if p.Summary != "" {
		fmt.Fprintf(&b, "  %s\n", p.Summary)
	}
	if p.NoOp {
		b.WriteString("\nNo changes. The target state already holds.\n")
	}
	if len(p.Steps) > 0 {
		b.WriteString("\nSteps:\n")
		for i, s := range p.Steps {
			fmt.Fprintf(&b, "  %d. %s %s", i+1, s.Action, s.Object)
			if s.Field != "" {
				fmt.Fprintf(&b, " %s: %s -> %s", s.Field, orNone(s.Before), orNone(s.After))
			}
			b.WriteString("\n")
			if s.Note != "" {
				fmt.Fprintf(&b, "     (%s)\n", s.Note)
			}
		}
	}
	if len(p.Guards) > 0 {
		b.WriteString("\nGuards:\n")
		for _, g := range p.Guards {
			fmt.Fprintf(&b, "  [%s] %s: %s\n", g.Outcome, g.Name, g.Reason)
			if g.Remedy != "" {
				fmt.Fprintf(&b, "         -> %s\n", g.Remedy)
			}
		}
	}
	if p.Diff != "" {
		b.WriteString("\nDiff:\n")
		b.WriteString(p.Diff)
		if !strings.HasSuffix(p.Diff, "\n") {
			b.WriteString("\n")
		}
	}
	switch blocked := p.Blocking(); {
	case len(blocked) > 0:
		fmt.Fprintf(&b, "\nBlocked by %d guard(s): this plan cannot be applied.\n", len(blocked))
	case !p.NoOp:
		fmt.Fprintf(&b, "\nPlan: %d step(s) to apply.\n", len(p.Steps))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Applied is what Apply did.
type Applied struct {
	Operation string    `json:"operation"`
	Target    ObjectRef `json:"target"`
	// Changed is false when Apply wrote nothing because the plan's target
	// state already held (a no-op plan, or a plan applied before).
	Changed bool `json:"changed"`
	// Reason says why nothing was written when Changed is false.
	Reason string `json:"reason,omitempty"`
	// Fingerprint is what Apply knows of the live state afterwards without
	// reading it again: the new Helm revision it wrote, or, when nothing
	// was written, the state it found.
	Fingerprint Fingerprint `json:"fingerprint,omitempty"`
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished"`
}
