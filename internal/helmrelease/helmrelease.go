// Package helmrelease adapts Helm v3's pkg/action to scaling.Releases. It is
// the only package that imports Helm's action, release and storage types: a
// move to Helm v4 rewrites this package and nothing else.
package helmrelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/kubecache"
	"github.com/ironflow/scaling/internal/values"
)

// Client implements scaling.Releases.
type Client struct {
	config func(namespace string) (*action.Configuration, error)
	// refresh reads a release's records from the server into the
	// namespace's record cache (nil for the memory store, which needs none).
	refresh func(namespace, name string) error
	// capabilities are what the templates see as .Capabilities: the
	// cluster's version and API versions, read once per Client (Helm reads
	// them again on every upgrade).
	capabilities func() (*chartutil.Capabilities, error)
	settings     *cli.EnvSettings
	// lock, when set, serialises the calls on one namespace: Helm's memory
	// driver hands out the releases it stores, which an upgrade then
	// edits (the previous revision's status), so concurrent calls on it
	// would race. A real cluster's storage needs none: Helm's create of a
	// revision is the lock there.
	lock func(namespace string) (unlock func())
	// renders remembers this Client's recent renders (renderCache).
	renders renderCache

	regOnce sync.Once
	reg     *registry.Client
	regErr  error
}

var _ scaling.Releases = (*Client)(nil)

// New returns a Client for a real cluster. Release history is read from and
// written to Secrets through kube (Helm's default storage), and objects are
// applied through cfg. Chart repositories and OCI registries are reached
// with Helm's own settings ($HELM_REPOSITORY_CACHE, $HELM_REGISTRY_CONFIG, ...).
//
// What the server says about itself (discovery, version, OpenAPI) is read
// through kube's discovery client, cached: a scaling.Cluster's is shared by
// every client of that cluster, and another is cached for this Client's
// life. A release's records are read once per Last (see recordCache), and
// an upgrade touches only the objects it changes (see kubeClient.Update).
func New(cfg *rest.Config, kube kubernetes.Interface) *Client {
	type namespaced struct {
		getter  *restGetter
		records *recordCache
	}
	var (
		mu    sync.Mutex
		disco = kubecache.For(kube)
		byNS  = map[string]*namespaced{}
	)
	get := func(ns string) *namespaced {
		mu.Lock()
		defer mu.Unlock()
		n, ok := byNS[ns]
		if !ok {
			d := driver.NewSecrets(kube.CoreV1().Secrets(ns))
			d.Log = discard
			n = &namespaced{getter: newRESTGetter(cfg, ns, disco), records: newRecordCache(d)}
			byNS[ns] = n
		}
		return n
	}
	return &Client{
		settings:     cli.New(),
		capabilities: onceCapabilities(disco),
		refresh:      func(ns, name string) error { return get(ns).records.Refresh(name) },
		config: func(ns string) (*action.Configuration, error) {
			n := get(ns)
			return &action.Configuration{
				RESTClientGetter: n.getter,
				KubeClient:       newKubeClient(n.getter, ns),
				Releases:         storage.Init(n.records),
				Log:              discard,
				HookOutputFunc:   func(_, _, _ string) io.Writer { return io.Discard },
			}, nil
		},
	}
}

// NewMemory returns a Client whose releases live in memory and whose object
// applies go nowhere (Helm's own test fixture). It renders real charts and
// keeps real revision history: what unit tests need from Helm.
func NewMemory() *Client {
	var (
		mu      sync.Mutex
		drivers = map[string]*driver.Memory{}
		locks   = map[string]*sync.Mutex{}
	)
	// One driver per namespace: the driver's namespace is a field that
	// every call reads, so one driver shared by two namespaces answers one
	// namespace's query with the other's release.
	get := func(ns string) (*driver.Memory, *sync.Mutex) {
		mu.Lock()
		defer mu.Unlock()
		if drivers[ns] == nil {
			d := driver.NewMemory()
			d.SetNamespace(ns)
			drivers[ns], locks[ns] = d, &sync.Mutex{}
		}
		return drivers[ns], locks[ns]
	}
	return &Client{
		settings:     cli.New(),
		capabilities: func() (*chartutil.Capabilities, error) { return chartutil.DefaultCapabilities, nil },
		lock: func(ns string) func() {
			_, l := get(ns)
			l.Lock()
			return l.Unlock
		},
		config: func(ns string) (*action.Configuration, error) {
			d, _ := get(ns)
			return &action.Configuration{
				Releases:       storage.Init(d),
				KubeClient:     &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
				Capabilities:   chartutil.DefaultCapabilities,
				Log:            discard,
				HookOutputFunc: func(_, _, _ string) io.Writer { return io.Discard },
			}, nil
		},
	}
}

// locked takes the namespace's lock when the Client has one.
func (c *Client) locked(namespace string) func() {
	if c.lock == nil {
		return func() {}
	}
	return c.lock(namespace)
}

// onceCapabilities reads the cluster's capabilities the way Helm's
// Configuration.getCapabilities does, once; a failed read is retried on the
// next call.
func onceCapabilities(dc discovery.DiscoveryInterface) func() (*chartutil.Capabilities, error) {
	var (
		mu   sync.Mutex
		caps *chartutil.Capabilities
	)
	return func() (*chartutil.Capabilities, error) {
		mu.Lock()
		defer mu.Unlock()
		if caps != nil {
			return caps, nil
		}
		kv, err := dc.ServerVersion()
		if err != nil {
			return nil, fmt.Errorf("helm: reading the server version: %w", err)
		}
		// Like Helm, an orphaned API service (a group whose discovery
		// fails) does not stop the other groups from being listed.
		apiVersions, err := action.GetVersionSet(dc)
		if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
			return nil, fmt.Errorf("helm: reading the API versions: %w", err)
		}
		caps = &chartutil.Capabilities{
			APIVersions: apiVersions,
			KubeVersion: chartutil.KubeVersion{Version: kv.GitVersion, Major: kv.Major, Minor: kv.Minor},
			HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
		}
		return caps, nil
	}
}

func discard(string, ...any) {}

// Last implements scaling.Releases. It always reads the server (one list
// of the release's records); the Render and Upgrade calls after it use
// what it read.
func (c *Client) Last(_ context.Context, namespace, name string) (*scaling.Release, error) {
	defer c.locked(namespace)()
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	if c.refresh != nil {
		if err := c.refresh(namespace, name); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
			return nil, notFoundOr(err, namespace, name)
		}
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, notFoundOr(err, namespace, name)
	}
	return convert(rel)
}

// Render implements scaling.Releases with Helm's own upgrade code in
// client-side dry-run mode: the same dependency processing, schema
// validation, value coalescing, manifest order and hook split as the real
// upgrade, with the cluster's capabilities, and no object sent anywhere.
func (c *Client) Render(ctx context.Context, namespace, name string, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Release, error) {
	defer c.locked(namespace)()
	cfg, prev, err := c.revision(namespace, name, revision)
	if err != nil {
		return nil, err
	}
	ch, digest, err := c.load(ctx, namespace, name, src, prev)
	if err != nil {
		return nil, err
	}
	key, cacheable := renderKey(namespace, name, prev, digest, vals)
	if out, ok := c.renders.get(key); cacheable && ok {
		return out, nil
	}
	caps, err := c.capabilities()
	if err != nil {
		return nil, err
	}
	dry := &action.Configuration{
		Releases:       cfg.Releases,
		KubeClient:     &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities:   caps,
		Log:            discard,
		HookOutputFunc: func(_, _, _ string) io.Writer { return io.Discard },
	}
	up := action.NewUpgrade(dry)
	up.Namespace = namespace
	up.ResetValues = true
	up.DryRun = true
	up.DryRunOption = "client"
	rel, err := up.RunWithContext(ctx, name, ch, values.Copy(vals))
	if err != nil {
		return nil, fmt.Errorf("helm: rendering %s/%s: %w", namespace, name, err)
	}
	out, err := convert(rel)
	if err != nil {
		return nil, err
	}
	out.Revision, out.Status, out.ChartDigest = 0, "rendered", digest
	if cacheable {
		c.renders.put(key, out)
	}
	return out, nil
}

// Upgrade implements scaling.Releases with ResetValues: values are the
// complete user values, and nothing is merged from earlier revisions.
func (c *Client) Upgrade(ctx context.Context, namespace, name string, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Release, error) {
	defer c.locked(namespace)()
	cfg, prev, err := c.revision(namespace, name, revision)
	if err != nil {
		return nil, err
	}
	ch, _, err := c.load(ctx, namespace, name, src, prev)
	if err != nil {
		return nil, err
	}
	if cfg.Capabilities, err = c.capabilities(); err != nil {
		return nil, err
	}
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, notFoundOr(err, namespace, name)
	}
	// An upgrade is made from the revision its values were computed on: a
	// newer one means another writer got there first (a concurrent Apply of
	// the same plan), and upgrading anyway would add a revision nobody
	// planned. Helm's create of the next revision closes the window left
	// between this read and the write (lostRace).
	if last.Version != revision {
		return nil, staleRevision(namespace, name, revision, strconv.Itoa(last.Version))
	}
	// Only the deployed revision's objects are known to be as its manifest
	// says (a failed upgrade may have changed some of them): after a
	// failure, every object goes through Helm's full three-way update.
	if kc, ok := cfg.KubeClient.(*kubeClient); ok {
		kc.fullUpdate = last.Info == nil || last.Info.Status != release.StatusDeployed
		if !kc.fullUpdate && prev != nil {
			// Helm validates the new manifest before it builds the deployed
			// one: know the deployed objects from the start.
			if kc.original, err = kc.Client.Build(strings.NewReader(prev.Manifest), false); err != nil {
				return nil, fmt.Errorf("helm upgrade %s/%s: reading the deployed manifest: %w", namespace, name, err)
			}
		}
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.ResetValues = true
	up.MaxHistory = 10
	rel, err := up.RunWithContext(ctx, name, ch, values.Copy(vals))
	if err != nil {
		return nil, lostRace(err, namespace, name, revision, last)
	}
	return convert(rel)
}

// staleRevision is the refusal of an upgrade from a revision that is no
// longer the newest.
func staleRevision(namespace, name string, planned int, live string) error {
	return &scaling.StalePlanError{Operation: "helm upgrade " + namespace + "/" + name, Drift: []scaling.Drift{{
		Key:     scaling.FingerprintKey(scaling.ObjectRef{Kind: "HelmRelease", Namespace: namespace, Name: name}, scaling.AspectRevision),
		Planned: strconv.Itoa(planned), Live: live}}}
}

// lostRace types the errors of an upgrade that lost to another writer
// between its read and its write: Helm's create of a revision that exists
// already is a stale plan; "another operation is in progress" and a release
// whose deployed revision went away (an uninstall in progress) are a
// pending release. Anything else is wrapped as it is.
func lostRace(err error, namespace, name string, revision int, last *release.Release) error {
	status := ""
	if last.Info != nil {
		status = string(last.Info.Status)
	}
	switch {
	case errors.Is(err, driver.ErrReleaseExists):
		return fmt.Errorf("helm upgrade %s/%s: %w", namespace, name, staleRevision(namespace, name, revision, "written by a concurrent upgrade"))
	case strings.Contains(err.Error(), "another operation (install/upgrade/rollback) is in progress"),
		errors.Is(err, driver.ErrNoDeployedReleases):
		return fmt.Errorf("helm upgrade %s/%s: %v: %w", namespace, name, err, &scaling.ReleasePendingError{Namespace: namespace, Release: name, Status: status, Revision: last.Version})
	}
	return fmt.Errorf("helm upgrade %s/%s: %w", namespace, name, err)
}

// load returns a chart to render or upgrade with, loaded fresh on every
// call (Helm's dependency processing edits the chart it is given), and its
// content digest. The zero source is the chart stored with prev, refused
// when that chart declares dependencies: Helm's release record keeps the
// list in Chart.yaml but not the subcharts themselves.
func (c *Client) load(ctx context.Context, namespace, name string, src scaling.ChartSource, prev *release.Release) (*chart.Chart, string, error) {
	if err := src.Validate("ChartSource"); err != nil {
		return nil, "", err
	}
	if src.IsZero() {
		if deps := dependencyNames(prev.Chart); len(deps) > 0 {
			return nil, "", &scaling.ChartSourceRequiredError{Namespace: namespace, Release: name, Chart: chartID(prev.Chart), Dependencies: deps}
		}
		return copyChart(prev.Chart), "", nil
	}
	path, err := c.locate(ctx, src)
	if err != nil {
		return nil, "", &scaling.ChartLoadError{Source: src, Err: err}
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, "", &scaling.ChartLoadError{Source: src, Err: err}
	}
	if deployed, source := chartID(prev.Chart), chartID(ch); deployed != source && !src.Upgrade {
		return nil, "", &scaling.ChartMismatchError{Namespace: namespace, Release: name, Deployed: deployed, Source: source}
	}
	digest := Digest(ch)
	if src.Digest != "" && src.Digest != digest {
		return nil, "", &scaling.ChartChangedError{Source: src, Planned: src.Digest, Current: digest}
	}
	return ch, digest, nil
}

// locate turns a source into a local chart folder or archive with Helm's
// own lookup (`helm upgrade`'s CHART argument with --repo and --version):
// repository and OCI charts are downloaded into Helm's repository cache.
//
// Helm's lookup takes no context, so it runs aside and ctx bounds the
// wait: a registry that does not answer holds the caller (and this
// namespace's lock) only until ctx ends. The abandoned lookup finishes or
// fails on its own; its result is dropped.
func (c *Client) locate(ctx context.Context, src scaling.ChartSource) (string, error) {
	opts := action.ChartPathOptions{RepoURL: src.RepoURL, Version: src.Version}
	up := action.NewUpgrade(&action.Configuration{})
	up.ChartPathOptions = opts
	if registry.IsOCI(src.Ref) {
		rc, err := c.registry()
		if err != nil {
			return "", err
		}
		up.SetRegistryClient(rc)
	}
	if isLocal(src) {
		return up.ChartPathOptions.LocateChart(src.Ref, c.settings)
	}
	type located struct {
		path string
		err  error
	}
	done := make(chan located, 1)
	go func() {
		path, err := up.ChartPathOptions.LocateChart(src.Ref, c.settings)
		done <- located{path, err}
	}()
	select {
	case l := <-done:
		return l.path, l.err
	case <-ctx.Done():
		return "", fmt.Errorf("locating %s: %w", src, context.Cause(ctx))
	}
}

// isLocal reports whether a source is a folder or archive on this machine,
// which Helm reads without a request.
func isLocal(src scaling.ChartSource) bool {
	if src.RepoURL != "" || registry.IsOCI(src.Ref) {
		return false
	}
	_, err := os.Stat(src.Ref)
	return err == nil
}

func (c *Client) registry() (*registry.Client, error) {
	c.regOnce.Do(func() {
		c.reg, c.regErr = registry.NewClient(registry.ClientOptWriter(io.Discard), registry.ClientOptCredentialsFile(c.settings.RegistryConfig))
	})
	return c.reg, c.regErr
}

// Digest is the sha256 of a loaded chart's files (subcharts included), in
// name order: two loads of the same content give the same digest.
func Digest(ch *chart.Chart) string {
	files := slices.Clone(ch.Raw)
	slices.SortFunc(files, func(a, b *chart.File) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d:%s\n%d:", len(f.Name), f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func dependencyNames(ch *chart.Chart) []string {
	if ch == nil || ch.Metadata == nil {
		return nil
	}
	out := make([]string, 0, len(ch.Metadata.Dependencies))
	for _, d := range ch.Metadata.Dependencies {
		n := d.Name
		if d.Alias != "" {
			n = d.Alias
		}
		out = append(out, n)
	}
	return out
}

func chartID(ch *chart.Chart) string {
	if ch == nil || ch.Metadata == nil {
		return "(unknown)"
	}
	return ch.Metadata.Name + "-" + ch.Metadata.Version
}

// Install installs a chart from a folder or archive. It is not part of
// scaling.Releases (the operations never install); tests and the demo use it
// to put a release in place. wait makes Helm wait for the workloads.
func (c *Client) Install(ctx context.Context, namespace, name, chartPath string, vals map[string]any, wait time.Duration) (*scaling.Release, error) {
	defer c.locked(namespace)()
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	ch, err := loader.Load(chartPath)
	if err != nil {
		return nil, fmt.Errorf("helm: loading chart %s: %w", chartPath, err)
	}
	in := action.NewInstall(cfg)
	in.Namespace = namespace
	in.ReleaseName = name
	if wait > 0 {
		in.Wait = true
		in.Timeout = wait
	}
	rel, err := in.RunWithContext(ctx, ch, values.Copy(vals))
	if err != nil {
		return nil, fmt.Errorf("helm install %s/%s: %w", namespace, name, err)
	}
	return convert(rel)
}

// Rollback rolls a release back to a revision with Helm's own rollback
// (`helm rollback NAME REVISION`), every object read and three-way patched
// as Helm does. It is not part of scaling.Releases; tests use it to prove
// that the records Upgrade writes are the ones Helm's history and rollback
// work from.
func (c *Client) Rollback(ctx context.Context, namespace, name string, revision int) error {
	defer c.locked(namespace)()
	cfg, err := c.config(namespace)
	if err != nil {
		return err
	}
	if c.refresh != nil {
		if err := c.refresh(namespace, name); err != nil {
			return notFoundOr(err, namespace, name)
		}
	}
	if kc, ok := cfg.KubeClient.(*kubeClient); ok {
		kc.fullUpdate = true
	}
	rb := action.NewRollback(cfg)
	rb.Version = revision
	rb.MaxHistory = 10
	if err := rb.Run(name); err != nil {
		return fmt.Errorf("helm rollback %s/%s %d: %w", namespace, name, revision, err)
	}
	return nil
}

// SetStatus overwrites the stored status of the newest revision: tests use it
// to leave a release stuck in pending-upgrade the way an interrupted
// `helm upgrade` does.
func (c *Client) SetStatus(namespace, name, status string) error {
	defer c.locked(namespace)()
	cfg, err := c.config(namespace)
	if err != nil {
		return err
	}
	if c.refresh != nil {
		if err := c.refresh(namespace, name); err != nil {
			return notFoundOr(err, namespace, name)
		}
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return notFoundOr(err, namespace, name)
	}
	rel.Info.Status = release.Status(status)
	return cfg.Releases.Update(rel)
}

// revision reads one stored revision of a release with its chart.
func (c *Client) revision(namespace, name string, revision int) (*action.Configuration, *release.Release, error) {
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, nil, err
	}
	rel, err := cfg.Releases.Get(name, revision)
	if err != nil {
		return nil, nil, notFoundOr(err, namespace, name)
	}
	return cfg, rel, nil
}

func notFoundOr(err error, namespace, name string) error {
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "HelmRelease", Namespace: namespace, Name: name}}
	}
	return fmt.Errorf("helm: reading release %s/%s: %w", namespace, name, err)
}

func convert(rel *release.Release) (*scaling.Release, error) {
	computed, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return nil, fmt.Errorf("helm: coalescing values of %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	out := &scaling.Release{
		Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version,
		Values: values.Copy(rel.Config), Computed: computed, Manifest: rel.Manifest,
	}
	if rel.Info != nil {
		out.Status = rel.Info.Status.String()
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		out.Chart, out.ChartVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version
		out.Dependencies = dependencyNames(rel.Chart)
	}
	return out, nil
}

func copyChart(c *chart.Chart) *chart.Chart {
	cp := *c
	cp.Values = values.Copy(c.Values)
	return &cp
}
