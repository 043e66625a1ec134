package helmrelease

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/values"
)

// renderCache keeps a Client's last few renders. A render is a pure
// function of the release revision it upgrades (immutable once written),
// the chart's content (its digest) and the values, given the cluster's
// capabilities, which a Client reads once: Apply planning again from a
// stored request moments after Plan (the approval flow in one process)
// then costs no second render. A process that applies a stored plan
// renders once, as Plan did.
type renderCache struct {
	mu    sync.Mutex
	order []string
	byKey map[string]*scaling.Release
}

const renderCacheSize = 16

// renderKey is what a render depends on. A release without a revision
// (nothing to pin) or values that do not encode are not cached.
func renderKey(namespace, name string, prev *release.Release, digest string, vals map[string]any) (string, bool) {
	if prev == nil || digest == "" {
		return "", false
	}
	raw, err := json.Marshal(vals) // sorted keys: equal values, equal bytes
	if err != nil {
		return "", false
	}
	h := sha256.New()
	for _, part := range []string{namespace, name, strconv.Itoa(prev.Version), digest} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)), true
}

// get returns a copy, so a caller that edits what it got (values, a
// status) edits nothing here.
func (c *renderCache) get(key string) (*scaling.Release, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	return copyRelease(r), true
}

func (c *renderCache) put(key string, r *scaling.Release) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]*scaling.Release{}
	}
	if _, ok := c.byKey[key]; !ok {
		c.order = append(c.order, key)
	}
	c.byKey[key] = copyRelease(r)
	if len(c.order) > renderCacheSize {
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
}

func copyRelease(r *scaling.Release) *scaling.Release {
	out := *r
	out.Values = values.Copy(r.Values)
	out.Computed = values.Copy(r.Computed)
	if r.Dependencies != nil {
		out.Dependencies = append(out.Dependencies[:0:0], r.Dependencies...)
	}
	return &out
}
