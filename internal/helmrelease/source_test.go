package helmrelease

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
)

// appDir is a parent chart with one real subchart (testdata/app).
func appDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "app")
}

func installApp(t *testing.T, c *Client, name string, vals map[string]any) *scaling.Release {
	t.Helper()
	rel, err := c.Install(context.Background(), "demo", name, appDir(), vals, 0)
	require.NoError(t, err)
	return rel
}

// copyChart copies the test chart into a temporary folder the test may edit.
func copyApp(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "app")
	require.NoError(t, os.CopyFS(dst, os.DirFS(appDir())))
	return dst
}

func TestStoredChartOfAReleaseWithSubchartsIsRefused(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	installed := installApp(t, c, "web", nil)
	assert.Equal(t, []string{"broker"}, installed.Dependencies)
	assert.Contains(t, installed.Manifest, "kind: StatefulSet", "Helm installs the subchart")

	_, err := c.Render(ctx, "demo", "web", 1, scaling.ChartSource{}, map[string]any{"replicaCount": 2})
	var missing *scaling.ChartSourceRequiredError
	require.ErrorAs(t, err, &missing)
	assert.ErrorIs(t, err, scaling.ErrChartSource)
	assert.Equal(t, []string{"broker"}, missing.Dependencies)
	assert.Equal(t, "app-1.0.0", missing.Chart)

	_, err = c.Upgrade(ctx, "demo", "web", 1, scaling.ChartSource{}, map[string]any{"replicaCount": 2})
	require.ErrorAs(t, err, &missing)
	last, err := c.Last(ctx, "demo", "web")
	require.NoError(t, err)
	assert.Equal(t, 1, last.Revision, "nothing was written")
	assert.Equal(t, installed.Manifest, last.Manifest)
}

func TestRenderFromSourceIsWhatHelmInstallsWithSubcharts(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	src := scaling.ChartSource{Ref: appDir()}
	for name, vals := range map[string]map[string]any{
		"on":  {"replicaCount": 2},
		"off": {"replicaCount": 2, "broker": map[string]any{"enabled": false}},
	} {
		t.Run(name, func(t *testing.T) {
			// Install revision 1 with other values, then render the values a
			// fresh install of another release gets: the same manifest.
			installApp(t, c, "web-"+name, nil)
			want := installApp(t, c, "ref-"+name, vals)
			got, err := c.Render(ctx, "demo", "web-"+name, 1, src, vals)
			require.NoError(t, err)
			assert.Equal(t, strings.ReplaceAll(want.Manifest, "ref-"+name, "web-"+name), got.Manifest)
			assert.Equal(t, name == "on", strings.Contains(got.Manifest, "kind: StatefulSet"), "the condition broker.enabled is honoured")
			assert.True(t, strings.HasPrefix(got.ChartDigest, "sha256:"))
			if name == "on" {
				assert.EqualValues(t, 3, got.Computed["broker"].(map[string]any)["replicas"], "computed values carry the subchart's defaults")
				assert.Contains(t, got.Manifest, `value: "3"`, "the parent sees the subchart's default")
			}
		})
	}
}

func TestUpgradeFromSourceKeepsTheSubchart(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	installApp(t, c, "web", nil)
	up, err := c.Upgrade(ctx, "demo", "web", 1, scaling.ChartSource{Ref: appDir()}, map[string]any{"replicaCount": 4})
	require.NoError(t, err)
	assert.Equal(t, 2, up.Revision)
	assert.Contains(t, up.Manifest, "name: web-broker")
	assert.Contains(t, up.Manifest, "replicas: 4")
}

func TestChartVersionMustMatchUnlessUpgrading(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	installApp(t, c, "web", nil)
	dir := copyApp(t)
	chartYAML := filepath.Join(dir, "Chart.yaml")
	raw, err := os.ReadFile(chartYAML)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(chartYAML, []byte(strings.Replace(string(raw), "version: 1.0.0", "version: 1.1.0", 1)), 0o644))

	_, err = c.Upgrade(ctx, "demo", "web", 1, scaling.ChartSource{Ref: dir}, map[string]any{"replicaCount": 1})
	var mismatch *scaling.ChartMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, "app-1.0.0", mismatch.Deployed)
	assert.Equal(t, "app-1.1.0", mismatch.Source)
	last, _ := c.Last(ctx, "demo", "web")
	assert.Equal(t, 1, last.Revision, "nothing was written")

	rendered, err := c.Render(ctx, "demo", "web", 1, scaling.ChartSource{Ref: dir, Upgrade: true}, map[string]any{"replicaCount": 1})
	require.NoError(t, err)
	assert.Equal(t, "1.1.0", rendered.ChartVersion)
}

func TestUpgradeRefusesAChartThatChangedSincePlanning(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	installApp(t, c, "web", nil)
	dir := copyApp(t)
	src := scaling.ChartSource{Ref: dir}
	planned, err := c.Render(ctx, "demo", "web", 1, src, nil)
	require.NoError(t, err)
	src.Digest = planned.ChartDigest

	again, err := c.Render(ctx, "demo", "web", 1, src, nil)
	require.NoError(t, err, "the same content has the same digest")
	assert.Equal(t, planned.ChartDigest, again.ChartDigest)

	tmpl := filepath.Join(dir, "charts", "broker", "templates", "statefulset.yaml")
	raw, err := os.ReadFile(tmpl)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tmpl, []byte(strings.Replace(string(raw), "image: broker:1", "image: evil.example/broker:latest", 1)), 0o644))

	_, err = c.Upgrade(ctx, "demo", "web", 1, src, nil)
	var changed *scaling.ChartChangedError
	require.ErrorAs(t, err, &changed)
	assert.ErrorIs(t, err, scaling.ErrStalePlan)
	assert.Equal(t, planned.ChartDigest, changed.Planned)
	assert.NotEqual(t, changed.Planned, changed.Current)
	last, _ := c.Last(ctx, "demo", "web")
	assert.Equal(t, 1, last.Revision, "nothing was written")
}

func TestArchiveAndRepositorySources(t *testing.T) {
	// Helm's settings are read when the client is made: point its
	// repository cache and config into the test's folder.
	t.Setenv("HELM_REPOSITORY_CACHE", t.TempDir())
	t.Setenv("HELM_REPOSITORY_CONFIG", filepath.Join(t.TempDir(), "repositories.yaml"))
	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(t.TempDir(), "registry.json"))
	c := NewMemory()
	ctx := context.Background()
	installed := installApp(t, c, "web", nil)

	ch, err := loader.Load(appDir())
	require.NoError(t, err)
	repoDir := t.TempDir()
	archive, err := chartutil.Save(ch, repoDir)
	require.NoError(t, err)

	fromArchive, err := c.Render(ctx, "demo", "web", 1, scaling.ChartSource{Ref: archive}, nil)
	require.NoError(t, err)
	assert.Equal(t, installed.Manifest, fromArchive.Manifest)

	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	defer srv.Close()
	index, err := repo.IndexDirectory(repoDir, srv.URL)
	require.NoError(t, err)
	require.NoError(t, index.WriteFile(filepath.Join(repoDir, "index.yaml"), 0o644))

	fromRepo, err := c.Render(ctx, "demo", "web", 1, scaling.ChartSource{Ref: "app", RepoURL: srv.URL, Version: "1.0.0"}, nil)
	require.NoError(t, err)
	assert.Equal(t, installed.Manifest, fromRepo.Manifest)

	_, err = c.Render(ctx, "demo", "web", 1, scaling.ChartSource{Ref: "app", RepoURL: srv.URL, Version: "9.9.9"}, nil)
	var load *scaling.ChartLoadError
	require.ErrorAs(t, err, &load)
	assert.ErrorIs(t, err, scaling.ErrChartSource)

	_, err = c.Render(ctx, "demo", "web", 1, scaling.ChartSource{Ref: filepath.Join(t.TempDir(), "nope")}, nil)
	require.ErrorAs(t, err, &load)
	_, err = c.Render(ctx, "demo", "web", 1, scaling.ChartSource{RepoURL: srv.URL}, nil)
	assert.ErrorIs(t, err, scaling.ErrInvalidInput, "a repository needs the chart's name")
}

func TestCapabilitiesAreTheClustersAndReadOnce(t *testing.T) {
	kube := fake.NewClientset()
	dc := kube.Discovery().(*fakediscovery.FakeDiscovery)
	dc.FakedServerVersion = &version.Info{GitVersion: "v1.37.1", Major: "1", Minor: "37"}
	dc.Resources = []*metav1.APIResourceList{{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "widgets", Kind: "Widget"}}}}

	c := NewMemory()
	c.capabilities = onceCapabilities(dc)
	ctx := context.Background()
	installApp(t, c, "web", nil)
	src := scaling.ChartSource{Ref: appDir()}
	first, err := c.Render(ctx, "demo", "web", 1, src, nil)
	require.NoError(t, err)
	assert.Contains(t, first.Manifest, "kind: Widget", "the template sees the cluster's API versions, as helm upgrade would")
	reads := len(kube.Actions())
	assert.NotZero(t, reads)
	_, err = c.Render(ctx, "demo", "web", 1, src, nil)
	require.NoError(t, err)
	assert.Equal(t, reads, len(kube.Actions()), "discovery is read once per client")

	failing := fake.NewClientset().Discovery().(*fakediscovery.FakeDiscovery)
	c.capabilities = onceCapabilities(brokenDiscovery{failing})
	c.renders = renderCache{} // another cluster: what this Client rendered is not its
	_, err = c.Render(ctx, "demo", "web", 1, src, nil)
	assert.ErrorContains(t, err, "server version")
}

type brokenDiscovery struct{ *fakediscovery.FakeDiscovery }

func (brokenDiscovery) ServerVersion() (*version.Info, error) {
	return nil, errors.New("connection refused")
}

// installMedium installs the reference chart's medium release in memory.
func installMedium(b *testing.B) (*Client, map[string]any) {
	b.Helper()
	vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir(), "values-medium.yaml"))
	require.NoError(b, err)
	c := NewMemory()
	_, err = c.Install(context.Background(), "demo", "web", chartDir(), vals.AsMap(), 0)
	require.NoError(b, err)
	return c, vals.AsMap()
}

// BenchmarkRenderMediumFromSource: one plan's render of the reference
// chart's medium release (app, NATS and PostgreSQL subcharts) from its
// folder: load, dependency processing, Helm's dry-run upgrade.
func BenchmarkRenderMediumFromSource(b *testing.B) {
	c, vals := installMedium(b)
	ctx := context.Background()
	src := scaling.ChartSource{Ref: chartDir()}
	b.ReportAllocs()
	for b.Loop() {
		c.renders = renderCache{} // every sample renders, as a first Plan does
		if _, err := c.Render(ctx, "demo", "web", 1, src, vals); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderMediumAgain: the same render again on one Client, as
// Apply's re-derivation of a plan made moments before: the chart is loaded
// and hashed, the render comes from the cache.
func BenchmarkRenderMediumAgain(b *testing.B) {
	c, vals := installMedium(b)
	ctx := context.Background()
	src := scaling.ChartSource{Ref: chartDir()}
	_, err := c.Render(ctx, "demo", "web", 1, src, vals)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(ctx, "demo", "web", 1, src, vals); err != nil {
			b.Fatal(err)
		}
	}
}

// A registry that accepts connections and never answers holds a render only
// as long as the caller's context: Helm's chart lookup takes no context, so
// without this bound an unreachable source named in a request (or an
// edited stored plan) holds the caller, and the namespace's lock, for as
// long as the network takes to give up.
func TestASilentRegistryIsBoundByTheContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	held := make(chan net.Conn, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			held <- conn // never read, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(held)
		for conn := range held {
			conn.Close()
		}
	})

	c := NewMemory()
	installApp(t, c, "web", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Render(ctx, "demo", "web", 1, scaling.ChartSource{Ref: "oci://" + ln.Addr().String() + "/charts/app", Version: "1.0.0"}, nil)
	var load *scaling.ChartLoadError
	require.ErrorAs(t, err, &load)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the lookup ended with the caller's context, not the network's timeout")

	// The namespace's lock was released: the next render goes through.
	_, err = c.Render(context.Background(), "demo", "web", 1, scaling.ChartSource{Ref: appDir()}, nil)
	require.NoError(t, err)
}
