package values

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetSetInt(t *testing.T) {
	tree := map[string]any{"replicaCount": float64(3), "nats": map[string]any{"config": map[string]any{"cluster": map[string]any{"enabled": true}}}}
	n, ok := Int(tree, "replicaCount")
	require.True(t, ok)
	assert.Equal(t, int64(3), n)
	assert.True(t, Bool(tree, "nats.config.cluster.enabled"))
	assert.False(t, Bool(tree, "cluster.enabled"))

	require.NoError(t, Set(tree, "nats.config.cluster.replicas", 5))
	n, ok = Int(tree, "nats.config.cluster.replicas")
	require.True(t, ok)
	assert.Equal(t, int64(5), n)
	require.NoError(t, Set(tree, "autoscaling.minReplicas", 2), "intermediate maps are created")
	assert.Equal(t, map[string]any{"minReplicas": 2}, tree["autoscaling"])

	err := Set(tree, "replicaCount.x", 1)
	assert.ErrorContains(t, err, "replicaCount is a float64, not a map")
	_, err = Split("a..b")
	assert.Error(t, err)
	_, ok = AsInt(2.5)
	assert.False(t, ok)
}

func TestCopyIsDeep(t *testing.T) {
	orig := map[string]any{"a": map[string]any{"b": []any{map[string]any{"c": 1}}}}
	cp := Copy(orig)
	require.NoError(t, Set(cp, "a.b", "changed"))
	assert.Equal(t, []any{map[string]any{"c": 1}}, orig["a"].(map[string]any)["b"])
}

func TestEqualComparesAsStored(t *testing.T) {
	same, err := Equal(map[string]any{"a": map[string]any{"n": 5}}, map[string]any{"a": map[string]any{"n": 5.0}})
	require.NoError(t, err)
	assert.True(t, same, "5 and 5.0 are the same JSON number")
	same, err = Equal(nil, map[string]any{})
	require.NoError(t, err)
	assert.True(t, same)
	same, err = Equal(map[string]any{"n": 5}, map[string]any{"n": 6})
	require.NoError(t, err)
	assert.False(t, same)
	_, err = Equal(map[string]any{"f": func() {}}, nil)
	assert.Error(t, err)
}
