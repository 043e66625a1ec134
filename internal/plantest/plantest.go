// Package plantest helps the operation packages' tests treat plans the way
// an approval system does: stored as JSON, edited by someone, read back.
package plantest

import (
	"context"
	"encoding/json"
	"testing"

	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
)

// Edited returns plan as stored JSON, decoded into a generic document,
// changed by edit (nothing, to store it as it is) and decoded again.
func Edited(t testing.TB, plan *scaling.Plan, edit func(doc map[string]any)) *scaling.Plan {
	t.Helper()
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatalf("encoding the plan: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decoding the stored plan: %v", err)
	}
	edit(doc)
	if raw, err = json.Marshal(doc); err != nil {
		t.Fatalf("encoding the edited plan: %v", err)
	}
	p, err := scaling.Decode(raw)
	if err != nil {
		t.Fatalf("decoding the edited plan: %v", err)
	}
	return p
}

// Writes lists a fake clientset's mutating actions ("update deployments")
// since its last ClearActions: what "nothing was written" is checked by.
func Writes(kube *k8sfake.Clientset) []string {
	var out []string
	for _, a := range kube.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

// Done plans with plan, applies and verifies the result with op, and fails
// t unless the plan was unblocked, Apply changed something and Verify
// Succeeded: one operation run end to end, as a person would run it.
func Done(t testing.TB, ctx context.Context, op scaling.Operator, name string, plan func() (*scaling.Plan, error)) {
	t.Helper()
	p, err := plan()
	if err != nil {
		t.Fatalf("%s: plan: %v", name, err)
	}
	if b := p.Blocking(); len(b) > 0 {
		t.Fatalf("%s: blocked: %s", name, p)
	}
	applied, err := op.Apply(ctx, p)
	if err != nil {
		t.Fatalf("%s: apply: %v", name, err)
	}
	if !applied.Changed {
		t.Fatalf("%s: apply changed nothing: %s", name, applied.Reason)
	}
	v, err := op.Verify(ctx, p)
	if err != nil {
		t.Fatalf("%s: verify: %v", name, err)
	}
	if v.Phase != scaling.Succeeded {
		t.Fatalf("%s: verify: %s", name, v)
	}
}
