package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/postgres"
)

// The postgres and nodes commands on the medium release (CloudNativePG's
// Cluster and Pooler from the chart's subchart, on the real API server):
// each plans from live state and saves a plan its package reads back, and
// the read-only diagnosis is a document a script parses. (Their apply and
// verify run through the same router and workflow as the tests above; the
// packages' own e2e tests drive them against real PostgreSQL, which
// `postgres parameters` needs even to plan: it reads pg_settings from the
// primary.)
func TestE2EPostgresAndNodesCommandsPlanFromLiveState(t *testing.T) {
	v, err := chartutil.ReadValuesFile(filepath.Join(testenv.ChartPath("ironflow"), "values-medium.yaml"))
	require.NoError(t, err)
	u := newUserEnv(t, v.AsMap())

	for _, c := range []struct {
		args []string
		op   string
	}{
		{[]string{"postgres", "instances", release, "4", "--out", "pg.json"}, postgres.OpScaleInstances},
		{[]string{"postgres", "pooler", release, "--instances", "3", "--out", "pooler.json"}, postgres.OpConfigurePooler},
		{[]string{"postgres", "expand-storage", release, "30Gi", "--out", "pgsize.json"}, postgres.OpExpandStorage},
	} {
		r := u.run(c.args...)
		require.Equal(t, exitOK, r.code, "%v: %s", c.args, r)
		shown := u.run("show", c.args[len(c.args)-1], "-o", "json")
		require.Equal(t, exitOK, shown.code, shown)
		plan, err := scaling.Decode([]byte(shown.stdout))
		require.NoError(t, err, "%v", c.args)
		assert.Equal(t, c.op, plan.Operation)
		assert.NotEmpty(t, plan.Steps, "%v: %s", c.args, r.stdout)
	}
	assert.Equal(t, 1, u.revision(), "planning writes nothing")

	shrink := u.run("postgres", "expand-storage", release, "1Gi", "--auto-approve")
	assert.Equal(t, exitBlocked, shrink.code, "volumes cannot shrink: %s", shrink)

	diag := u.run("nodes", "diagnose", "-o", "json")
	require.Equal(t, exitOK, diag.code, diag)
	var d nodes.Diagnosis
	require.NoError(t, json.Unmarshal([]byte(diag.stdout), &d), diag.stdout)
	text := u.run("nodes", "diagnose")
	require.Equal(t, exitOK, text.code, text)
	assert.NotEmpty(t, text.stdout)
	assert.Equal(t, 1, u.revision())
}
