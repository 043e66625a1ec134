package scaling_test

import (
	"encoding/json"
	"testing"

	"github.com/ironflow/scaling"
)

// FuzzDecode: any bytes decode to a plan or an ErrInvalidPlan, never a
// panic; a decoded plan survives storage with its digest (what a signature
// signs) unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"operation":"scale.Replicas","steps":[{"action":"helm upgrade"}],"spec":{"request":{"replicas":5}},"fingerprint":{"k":"1"}}`))
	f.Add([]byte(`{"version":1,"steps":null,"guards":[{"name":"quota","outcome":"block"}],"spec":null}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := scaling.Decode(data)
		if err != nil {
			return
		}
		d1, err := p.Digest()
		if err != nil {
			return // a spec that is not JSON cannot be stored either
		}
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a decoded plan does not encode: %v", err)
		}
		again, err := scaling.Decode(raw)
		if err != nil {
			t.Fatalf("a stored decoded plan does not decode: %v", err)
		}
		d2, err := again.Digest()
		if err != nil || d1 != d2 {
			t.Fatalf("storage changed the digest: %s -> %s (%v)", d1, d2, err)
		}
	})
}
