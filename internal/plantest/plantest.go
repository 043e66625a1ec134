// Package plantest helps the operation packages' tests treat plans the way
// an approval system does: stored as JSON, edited by someone, read back.
package plantest

import (
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
