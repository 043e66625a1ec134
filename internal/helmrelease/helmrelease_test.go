package helmrelease

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

func chartDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "charts", "ironflow")
}

func TestRenderMatchesWhatHelmInstalls(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	vals := map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true}}
	installed, err := c.Install(ctx, "demo", "web", chartDir(), vals, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, installed.Revision)
	assert.Equal(t, "deployed", installed.Status)
	assert.EqualValues(t, 3, installed.Computed["replicaCount"])
	assert.Equal(t, "ironflow", installed.Chart)

	rendered, err := c.Render(ctx, "demo", "web", 1, source(), vals)
	require.NoError(t, err)
	assert.Equal(t, installed.Manifest, rendered.Manifest, "the plan's render is what Helm applies")
	assert.NotContains(t, rendered.Manifest, "NOTES.txt")

	last, err := c.Last(ctx, "demo", "web")
	require.NoError(t, err)
	assert.Equal(t, installed.Manifest, last.Manifest)
}

func TestUpgradeUsesExactlyTheGivenValues(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	_, err := c.Install(ctx, "demo", "web", chartDir(), map[string]any{"replicaCount": 3, "image": map[string]any{"tag": "v1"}}, 0)
	require.NoError(t, err)
	given := map[string]any{"replicaCount": 5}
	up, err := c.Upgrade(ctx, "demo", "web", 1, source(), given)
	require.NoError(t, err)
	assert.Equal(t, 2, up.Revision)
	assert.Equal(t, map[string]any{"replicaCount": float64(5)}, normalised(t, up.Values), "no value of revision 1 is merged in")
	given["replicaCount"] = 7
	again, err := c.Last(ctx, "demo", "web")
	require.NoError(t, err)
	assert.EqualValues(t, 5, again.Values["replicaCount"], "the caller's map is not retained")
}

func TestMissingAndPendingReleases(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	_, err := c.Last(ctx, "demo", "nope")
	assert.ErrorIs(t, err, scaling.ErrNotFound)
	_, err = c.Render(ctx, "demo", "nope", 1, source(), nil)
	assert.ErrorIs(t, err, scaling.ErrNotFound)
	_, err = c.Install(ctx, "demo", "web", chartDir(), nil, 0)
	require.NoError(t, err)
	require.NoError(t, c.SetStatus("demo", "web", "pending-upgrade"))
	rel, err := c.Last(ctx, "demo", "web")
	require.NoError(t, err)
	assert.True(t, rel.Pending())
}

func normalised(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, x := range v {
		if n, ok := x.(int64); ok {
			out[k] = float64(n)
			continue
		}
		if n, ok := x.(int); ok {
			out[k] = float64(n)
			continue
		}
		out[k] = x
	}
	return out
}

func source() scaling.ChartSource { return scaling.ChartSource{Ref: chartDir()} }
