package scale_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// FuzzApplyDecodedPlan: any bytes an approval store hands back, decoded
// and applied, never panic, and whatever Apply refuses it refuses before
// a write. The seed corpus (testdata/fuzz) holds a real plan, truncated and
// edited ones, and the shapes issue 11 found panicking (steps null, [] and
// shorter than the spec expects); `go test` runs them every time, `go test
// -fuzz FuzzApplyDecodedPlan ./scale/` explores further.
func FuzzApplyDecodedPlan(f *testing.F) {
	e := newFakeEnv(f, clustered(3))
	plan, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	if err != nil {
		f.Fatal(err)
	}
	valid, err := json.Marshal(plan)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{"version":1,"operation":"scale.Replicas","steps":null,"spec":{}}`))
	f.Add([]byte(`{"version":1,"operation":"scale.Down","steps":[],"spec":{"request":{"replicas":-1}},"fingerprint":{"x":"1"}}`))
	f.Add([]byte(`{"version":1,"operation":"scale.RolloutRestart","spec":{"workload":{}},"fingerprint":{}}`))
	f.Add([]byte(`{"version":1,"operation":"scale.Template","spec":{"request":{"to":{}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := scaling.Decode(data)
		if err != nil {
			return
		}
		e := newFakeEnv(t, clustered(3))
		before := e.last(t).Revision
		if _, err := e.client.Apply(context.Background(), p); err != nil {
			if w := e.mutatingActions(); len(w) > 0 {
				t.Fatalf("Apply refused (%v) after writing %v", err, w)
			}
			if after := e.last(t).Revision; after != before {
				t.Fatalf("Apply refused (%v) after upgrading the release to revision %d", err, after)
			}
		}
	})
}
