// Package helmrelease adapts Helm v3's pkg/action to scaling.Releases. It is
// the only package that imports Helm's action, release and storage types: a
// move to Helm v4 rewrites this package and nothing else.
package helmrelease

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	helmkube "helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/values"
)

// Client implements scaling.Releases.
type Client struct {
	config func(namespace string) (*action.Configuration, error)
}

var _ scaling.Releases = (*Client)(nil)

// New returns a Client for a real cluster. Release history is read from and
// written to Secrets through kube (Helm's default storage), and objects are
// applied through cfg.
func New(cfg *rest.Config, kube kubernetes.Interface) *Client {
	var (
		mu      sync.Mutex
		getters = map[string]*restGetter{}
	)
	return &Client{config: func(ns string) (*action.Configuration, error) {
		mu.Lock()
		defer mu.Unlock()
		g, ok := getters[ns]
		if !ok {
			var err error
			if g, err = newRESTGetter(cfg, ns); err != nil {
				return nil, fmt.Errorf("helm: %w", err)
			}
			getters[ns] = g
		}
		kc := helmkube.New(g)
		kc.Namespace = ns
		kc.Log = discard
		d := driver.NewSecrets(kube.CoreV1().Secrets(ns))
		d.Log = discard
		return &action.Configuration{
			RESTClientGetter: g,
			KubeClient:       kc,
			Releases:         storage.Init(d),
			Log:              discard,
			HookOutputFunc:   func(_, _, _ string) io.Writer { return io.Discard },
		}, nil
	}}
}

// NewMemory returns a Client whose releases live in memory and whose object
// applies go nowhere (Helm's own test fixture). It renders real charts and
// keeps real revision history: what unit tests need from Helm.
func NewMemory() *Client {
	mem := driver.NewMemory()
	store := storage.Init(mem)
	return &Client{config: func(ns string) (*action.Configuration, error) {
		mem.SetNamespace(ns)
		return &action.Configuration{
			Releases:       store,
			KubeClient:     &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
			Capabilities:   chartutil.DefaultCapabilities,
			Log:            discard,
			HookOutputFunc: func(_, _, _ string) io.Writer { return io.Discard },
		}, nil
	}}
}

func discard(string, ...any) {}

// Last implements scaling.Releases.
func (c *Client) Last(_ context.Context, namespace, name string) (*scaling.Release, error) {
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, notFoundOr(err, namespace, name)
	}
	return convert(rel)
}

// Render implements scaling.Releases. It renders the way `helm upgrade`
// does (same value coalescing, same manifest order, hooks left out) but with
// Helm's default capabilities, so it sends no request to the cluster.
func (c *Client) Render(_ context.Context, namespace, name string, revision int, vals map[string]any) (*scaling.Release, error) {
	_, prev, err := c.revision(namespace, name, revision)
	if err != nil {
		return nil, err
	}
	ch := prev.Chart
	opts := chartutil.ReleaseOptions{Name: name, Namespace: namespace, Revision: revision + 1, IsUpgrade: true}
	renderValues, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("helm: values for %s/%s: %w", namespace, name, err)
	}
	files, err := engine.Render(ch, renderValues)
	if err != nil {
		return nil, fmt.Errorf("helm: rendering %s/%s: %w", namespace, name, err)
	}
	for name := range files {
		// Helm renders NOTES.txt for people and never applies it.
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(files, chartutil.DefaultVersionSet, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("helm: sorting manifests of %s/%s: %w", namespace, name, err)
	}
	var b bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	computed, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, err
	}
	return &scaling.Release{
		Name: name, Namespace: namespace, Status: "rendered",
		Chart: ch.Metadata.Name, ChartVersion: ch.Metadata.Version,
		Values: values.Copy(vals), Computed: computed, Manifest: b.String(),
	}, nil
}

// Upgrade implements scaling.Releases with ResetValues: values are the
// complete user values, and nothing is merged from earlier revisions.
func (c *Client) Upgrade(ctx context.Context, namespace, name string, revision int, vals map[string]any) (*scaling.Release, error) {
	cfg, prev, err := c.revision(namespace, name, revision)
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.ResetValues = true
	up.MaxHistory = 10
	// Helm mutates the chart it is given; the memory driver hands out the
	// stored release's own chart pointer.
	ch := copyChart(prev.Chart)
	rel, err := up.RunWithContext(ctx, name, ch, values.Copy(vals))
	if err != nil {
		return nil, fmt.Errorf("helm upgrade %s/%s: %w", namespace, name, err)
	}
	return convert(rel)
}

// Install installs a chart from a folder or archive. It is not part of
// scaling.Releases (the operations never install); tests and the demo use it
// to put a release in place. wait makes Helm wait for the workloads.
func (c *Client) Install(ctx context.Context, namespace, name, chartPath string, vals map[string]any, wait time.Duration) (*scaling.Release, error) {
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

// SetStatus overwrites the stored status of the newest revision: tests use it
// to leave a release stuck in pending-upgrade the way an interrupted
// `helm upgrade` does.
func (c *Client) SetStatus(namespace, name, status string) error {
	cfg, err := c.config(namespace)
	if err != nil {
		return err
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
	}
	return out, nil
}

func copyChart(c *chart.Chart) *chart.Chart {
	cp := *c
	cp.Values = values.Copy(c.Values)
	return &cp
}
