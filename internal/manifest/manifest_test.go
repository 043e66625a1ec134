package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const before = `---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
---
# Source: web/templates/ns.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: tenant-a
`

func TestParseAndDiff(t *testing.T) {
	objs, err := Parse(before, "demo")
	require.NoError(t, err)
	require.Len(t, objs, 2)
	dep, ok := objs["demo, web, Deployment (apps/v1)"]
	require.True(t, ok, "namespaced objects get the release namespace")
	_, ok = objs[", tenant-a, Namespace (v1)"]
	require.True(t, ok, "cluster-scoped objects keep no namespace")
	n, ok := Replicas(dep)
	require.True(t, ok)
	assert.Equal(t, int64(3), n)
	assert.Len(t, Workloads(objs), 1)

	after, err := Parse(strings.Replace(before, "replicas: 3", "replicas: 5", 1), "demo")
	require.NoError(t, err)
	d := Diff(objs, after)
	assert.Contains(t, d, "demo, web, Deployment (apps/v1) changed:")
	assert.Contains(t, d, "-  replicas: 3\n+  replicas: 5\n")
	assert.NotContains(t, d, "tenant-a", "unchanged objects are left out")
	assert.Empty(t, Diff(objs, objs))

	vd, err := ValuesDiff(map[string]any{"replicaCount": 3}, map[string]any{"replicaCount": 5})
	require.NoError(t, err)
	assert.Contains(t, vd, "-replicaCount: 3\n+replicaCount: 5\n")
}
