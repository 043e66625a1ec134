package helmplan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
)

const appChart = "../helmrelease/testdata/app"

func parse(t *testing.T, docs string) map[string]manifest.Object {
	t.Helper()
	objs, err := manifest.Parse(docs, "prod")
	require.NoError(t, err)
	return objs
}

func TestDamagesNameDeletesAndImmutableChanges(t *testing.T) {
	before := parse(t, `
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: app}
spec: {maxUnavailable: 1}
---
apiVersion: v1
kind: Service
metadata: {name: app-peers}
spec: {clusterIP: None}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 3
  selector: {matchLabels: {app: app}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: broker}
spec:
  replicas: 3
  serviceName: broker
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {resources: {requests: {storage: 10Gi}}}
`)
	after := parse(t, `
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: app}
spec: {maxUnavailable: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 5
  selector: {matchLabels: {app: app, tier: web}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: broker}
spec:
  replicas: 5
  serviceName: broker
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {resources: {requests: {storage: 20Gi}}}
`)
	got := helmplan.Damages(before, after)
	require.Len(t, got, 3, "a PDB moving from policy/v1beta1 to v1 is the same object, and a replica change damages nothing: %v", got)
	assert.Equal(t, scaling.ObjectDamage{Object: scaling.ObjectRef{Kind: "Deployment", Namespace: "prod", Name: "app"}, Action: "replace", Fields: []string{"spec.selector"}}, got[0])
	assert.Equal(t, scaling.ObjectDamage{Object: scaling.ObjectRef{Kind: "Service", Namespace: "prod", Name: "app-peers"}, Action: "delete"}, got[1])
	assert.Equal(t, scaling.ObjectDamage{Object: scaling.ObjectRef{Kind: "StatefulSet", Namespace: "prod", Name: "broker"}, Action: "replace", Fields: []string{"spec.volumeClaimTemplates"}}, got[2])
	assert.Equal(t, "replace StatefulSet/prod/broker (spec.volumeClaimTemplates changed, which the API server does not update in place)", got[2].String())
	assert.Empty(t, helmplan.Damages(after, after))
}

// The defect this guard exists for: a chart source that lacks the
// subchart (as the chart Helm stores with a release does) would delete the
// subchart's objects. The plan blocks and names them.
func TestBlastRadiusBlocksAnUpgradeThatDropsASubchart(t *testing.T) {
	ctx := context.Background()
	r := fake.NewReleases(nil)
	_, err := r.Install(ctx, "prod", "web", appChart, nil)
	require.NoError(t, err)

	full, err := helmplan.Plan(ctx, r, "prod", "web", scaling.ChartSource{Ref: appChart}, []helmplan.Set{{Path: "replicaCount", Value: int64(3)}}, nil)
	require.NoError(t, err)
	g, cause := helmplan.BlastRadius(full, nil)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	assert.Nil(t, cause)
	assert.Equal(t, scaling.GuardBlastRadius, g.Name)

	// The same chart with its subchart gone, as a stale copy might be.
	crafted := filepath.Join(t.TempDir(), "app")
	require.NoError(t, os.CopyFS(crafted, os.DirFS(appChart)))
	require.NoError(t, os.RemoveAll(filepath.Join(crafted, "charts")))
	require.NoError(t, os.WriteFile(filepath.Join(crafted, "Chart.yaml"), []byte("apiVersion: v2\nname: app\nversion: 1.0.0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(crafted, "values.yaml"), []byte("replicaCount: 1\nbroker:\n  replicas: 3\n"), 0o644))

	dropped, err := helmplan.Plan(ctx, r, "prod", "web", scaling.ChartSource{Ref: crafted}, []helmplan.Set{{Path: "replicaCount", Value: int64(3)}}, nil)
	require.NoError(t, err)
	assert.Contains(t, dropped.Diff, "prod, web-broker, StatefulSet (apps/v1) removed")
	g, cause = helmplan.BlastRadius(dropped, nil)
	assert.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "delete Service/prod/web-broker; delete StatefulSet/prod/web-broker")
	require.NotNil(t, cause)
	assert.ErrorIs(t, cause, scaling.ErrGuardBlocked)
	assert.Len(t, cause.Damages, 2)

	// An operation that sets out to delete them says so.
	g, cause = helmplan.BlastRadius(dropped, func(d helmplan.Damage) bool { return d.Object.Name == "web-broker" })
	assert.Equal(t, scaling.Pass, g.Outcome)
	assert.Contains(t, g.Reason, "sets out to: delete Service/prod/web-broker")
	assert.Nil(t, cause)
}

func TestPlanShowsAChartUpgrade(t *testing.T) {
	ctx := context.Background()
	r := fake.NewReleases(nil)
	_, err := r.Install(ctx, "prod", "web", appChart, nil)
	require.NoError(t, err)
	next := filepath.Join(t.TempDir(), "app")
	require.NoError(t, os.CopyFS(next, os.DirFS(appChart)))
	raw, err := os.ReadFile(filepath.Join(next, "Chart.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(next, "Chart.yaml"), []byte(strings.Replace(string(raw), "\nversion: 1.0.0", "\nversion: 1.1.0", 1)), 0o644))

	_, err = helmplan.Plan(ctx, r, "prod", "web", scaling.ChartSource{Ref: next}, nil, nil)
	assert.ErrorIs(t, err, scaling.ErrChartSource, "another version without Upgrade")

	res, err := helmplan.Plan(ctx, r, "prod", "web", scaling.ChartSource{Ref: next, Upgrade: true}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "app-1.0.0 -> app-1.1.0", res.ChartChange)
	assert.True(t, res.Changed(), "same values, another chart: still a change")
	assert.Contains(t, res.Diff, "chart: app-1.0.0 -> app-1.1.0\n")
	step, ok := helmplan.ChartStep(scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "web"}, res)
	require.True(t, ok)
	assert.Equal(t, "app-1.1.0", step.After)
	assert.NotEmpty(t, res.Chart.Digest, "the plan pins the chart's content")
	assert.EqualValues(t, 3, res.Current["broker"].(map[string]any)["replicas"], "deployed values with the subchart's defaults")
}
