package helmrelease

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/ironflow/scaling/internal/values"
)

// recordCache is Helm's Secret driver with the records of each release
// kept from the newest Refresh: one list of the release's Secrets answers
// every read Helm's actions make after it (Render's revision and Last,
// Upgrade's revision, Last and history), and the driver's own writes keep
// it current. Client.Last calls Refresh, and every operation reads Last
// before it renders or upgrades, so an action sees the release as the
// operation's own read found it, a few milliseconds before: the window in
// which Helm's own Last precedes its Create. Helm's lock is that Create
// (it fails when another writer took the revision), and it is not cached.
//
// Reads hand out copies: Helm changes the releases it reads (an upgrade
// marks the previous one superseded before writing it).
type recordCache struct {
	*driver.Secrets

	mu sync.Mutex
	// byName holds, per release name, its records by Secret name; a name
	// is absent until a Refresh.
	byName map[string]map[string]*release.Release
}

var _ driver.Driver = (*recordCache)(nil)

func newRecordCache(d *driver.Secrets) *recordCache {
	return &recordCache{Secrets: d, byName: map[string]map[string]*release.Release{}}
}

func key(name string, version int) string {
	return fmt.Sprintf("%s.%s.v%d", storage.HelmStorageType, name, version)
}

// Refresh lists the release's records from the server (one request) and
// keeps them. A release without records is driver.ErrReleaseNotFound, and
// is remembered as such until the next Refresh or write.
func (c *recordCache) Refresh(name string) error {
	rels, err := c.Secrets.Query(map[string]string{"name": name, "owner": "helm"})
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		c.forget(name)
		return err
	}
	recs := map[string]*release.Release{}
	for _, r := range rels {
		recs[key(r.Name, r.Version)] = cloneRelease(r)
	}
	c.mu.Lock()
	c.byName[name] = recs
	c.mu.Unlock()
	return err
}

func (c *recordCache) forget(name string) {
	c.mu.Lock()
	delete(c.byName, name)
	c.mu.Unlock()
}

// Get implements driver.Driver from the cache when it holds the record.
func (c *recordCache) Get(k string) (*release.Release, error) {
	c.mu.Lock()
	for _, recs := range c.byName {
		if r, ok := recs[k]; ok {
			c.mu.Unlock()
			return cloneRelease(r), nil
		}
	}
	c.mu.Unlock()
	return c.Secrets.Get(k)
}

// Query implements driver.Driver from the cache for the queries Helm's
// storage makes of one release (its history, its deployed revisions);
// anything else goes to the server.
func (c *recordCache) Query(labels map[string]string) ([]*release.Release, error) {
	name, status, ok := releaseQuery(labels)
	if !ok {
		return c.Secrets.Query(labels)
	}
	c.mu.Lock()
	recs, cached := c.byName[name]
	var out []*release.Release
	for _, k := range slices.Sorted(maps.Keys(recs)) {
		if r := recs[k]; status == "" || r.Info != nil && r.Info.Status.String() == status {
			out = append(out, cloneRelease(r))
		}
	}
	c.mu.Unlock()
	if !cached {
		return c.Secrets.Query(labels)
	}
	if len(out) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	return out, nil
}

// releaseQuery recognises {name, owner=helm[, status]}.
func releaseQuery(labels map[string]string) (name, status string, ok bool) {
	for k, v := range labels {
		switch k {
		case "name":
			name = v
		case "owner":
			if v != "helm" {
				return "", "", false
			}
		case "status":
			status = v
		default:
			return "", "", false
		}
	}
	return name, status, name != "" && labels["owner"] == "helm"
}

// Create implements driver.Driver and records what it wrote.
func (c *recordCache) Create(k string, rls *release.Release) error {
	err := c.Secrets.Create(k, rls)
	c.wrote(k, rls, err)
	return err
}

// Update implements driver.Driver and records what it wrote.
func (c *recordCache) Update(k string, rls *release.Release) error {
	err := c.Secrets.Update(k, rls)
	c.wrote(k, rls, err)
	return err
}

// Delete implements driver.Driver and drops the record.
func (c *recordCache) Delete(k string) (*release.Release, error) {
	rls, err := c.Secrets.Delete(k)
	c.mu.Lock()
	for name, recs := range c.byName {
		if _, ok := recs[k]; ok {
			if err != nil {
				delete(c.byName, name)
			} else {
				delete(recs, k)
			}
		}
	}
	c.mu.Unlock()
	return rls, err
}

// wrote keeps a record the server accepted; after a failed write the
// release's records are read again by the next Refresh.
func (c *recordCache) wrote(k string, rls *release.Release, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, ok := c.byName[rls.Name]
	switch {
	case !ok:
	case err != nil:
		delete(c.byName, rls.Name)
	default:
		recs[k] = cloneRelease(rls)
	}
}

// cloneRelease copies what Helm's actions may change of a release they
// read: its info, values, labels, hooks and the chart's values and
// metadata. Templates and files are shared: nothing writes them.
func cloneRelease(r *release.Release) *release.Release {
	cp := *r
	if r.Info != nil {
		info := *r.Info
		cp.Info = &info
	}
	cp.Config = values.Copy(r.Config)
	cp.Labels = maps.Clone(r.Labels)
	if r.Hooks != nil {
		cp.Hooks = make([]*release.Hook, len(r.Hooks))
		for i, h := range r.Hooks {
			hc := *h
			cp.Hooks[i] = &hc
		}
	}
	if r.Chart != nil {
		cp.Chart = cloneChart(r.Chart)
	}
	return &cp
}

func cloneChart(c *chart.Chart) *chart.Chart {
	cp := copyChart(c)
	if c.Metadata != nil {
		md := *c.Metadata
		if c.Metadata.Dependencies != nil {
			md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
			for i, d := range c.Metadata.Dependencies {
				dc := *d
				md.Dependencies[i] = &dc
			}
		}
		cp.Metadata = &md
	}
	cp.Templates = slices.Clone(c.Templates)
	cp.Files = slices.Clone(c.Files)
	cp.Raw = slices.Clone(c.Raw)
	return cp
}
