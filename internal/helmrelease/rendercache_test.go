package helmrelease

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

// TestRenderCacheAnswersOnlyTheSameInputs: the same revision, chart content
// and values give the cached render, as a copy the caller may edit; other
// values, another revision or a changed chart render anew.
func TestRenderCacheAnswersOnlyTheSameInputs(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	installApp(t, c, "web", nil)
	src := scaling.ChartSource{Ref: appDir()}
	vals := map[string]any{"replicaCount": 2}

	first, err := c.Render(ctx, "demo", "web", 1, src, vals)
	require.NoError(t, err)
	require.Len(t, c.renders.order, 1)
	first.Values["replicaCount"] = 99
	again, err := c.Render(ctx, "demo", "web", 1, src, vals)
	require.NoError(t, err)
	assert.EqualValues(t, 2, again.Values["replicaCount"], "the cache hands out copies")
	assert.Equal(t, first.Manifest, again.Manifest)
	assert.Len(t, c.renders.order, 1, "the second render came from the cache")

	other, err := c.Render(ctx, "demo", "web", 1, src, map[string]any{"replicaCount": 3})
	require.NoError(t, err)
	assert.NotEqual(t, first.Manifest, other.Manifest)
	assert.Len(t, c.renders.order, 2)

	for i := range renderCacheSize + 4 {
		_, err := c.Render(ctx, "demo", "web", 1, src, map[string]any{"replicaCount": 10 + i})
		require.NoError(t, err)
	}
	assert.Len(t, c.renders.order, renderCacheSize, "bounded")
	assert.Len(t, c.renders.byKey, renderCacheSize)
}
