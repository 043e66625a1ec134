package scale_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// medium is the reference chart's medium template: the app, NATS (the
// official chart's schema, a real subchart) and CloudNativePG PostgreSQL with
// a pooler (a real subchart), as the runbook's platform runs it.
func medium(t testing.TB) map[string]any {
	t.Helper()
	vals, err := chartutil.ReadValuesFile(filepath.Join(testenv.ChartPath("ironflow"), "values-medium.yaml"))
	require.NoError(t, err)
	return vals.AsMap()
}

// The runbook's first procedure on a release with real subcharts: scaling the
// app 3 -> 5 leaves every object of the NATS and PostgreSQL subcharts in
// place, the same objects (UIDs), and the new revision still renders them.
// Before chart sources, this Apply deleted the NATS StatefulSet with the rest
// of the subchart.
func TestE2EReplicasKeepsEverySubchartObject(t *testing.T) {
	e := newRealEnv(t, medium(t))
	env := testenv.Shared()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"nats", "postgresql"}, rel.Dependencies)
	before, err := env.Objects(ctx, e.ns, rel.Manifest)
	require.NoError(t, err)
	for _, k := range []string{"StatefulSet/ironflow-nats", "Service/ironflow-nats", "Service/ironflow-nats-headless", "ConfigMap/ironflow-nats-config",
		"PodDisruptionBudget/ironflow-nats", "Deployment/ironflow-nats-box", "Cluster/ironflow-pg", "Pooler/ironflow-pg-pooler-rw", "Deployment/ironflow"} {
		require.NotEmpty(t, before[k], "%s is installed (objects: %v)", k, testenv.Kinds(before))
	}

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), "%s", plan)
	blast, ok := guardOf(plan, scaling.GuardBlastRadius)
	require.True(t, ok)
	assert.Equal(t, scaling.Pass, blast.Outcome, blast.Reason)
	assert.NotContains(t, plan.Diff, "removed", "the plan deletes nothing")
	e.applyAndVerify(t, ctx, plan)

	after, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 2, after.Revision)
	assert.Contains(t, after.Manifest, "kind: StatefulSet", "revision 2 still renders the NATS StatefulSet")
	now, err := env.Objects(ctx, e.ns, rel.Manifest)
	require.NoError(t, err)
	assert.Equal(t, before, now, "every object of revision 1 is still there, the same object (UID)")
}

// A release whose chart has subcharts, and no chart source: every Helm
// operation is refused with a typed error naming the missing source, and
// nothing is written.
func TestE2ENoChartSourceOnAReleaseWithSubchartsIsTypedWithZeroWrites(t *testing.T) {
	e := newRealEnv(t, medium(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bare, err := scale.New(e.cluster, scale.Options{Releases: e.releases})
	require.NoError(t, err)
	e.rec.Reset()
	plans := map[string]func() (*scaling.Plan, error){
		"replicas": func() (*scaling.Plan, error) {
			return bare.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
		},
		"down": func() (*scaling.Plan, error) {
			return bare.PlanDown(ctx, scale.Down{Namespace: e.ns, Release: release})
		},
		"autoscale": func() (*scaling.Plan, error) {
			return bare.PlanAutoscale(ctx, scale.Autoscale{Namespace: e.ns, Release: release, MinReplicas: 3, MaxReplicas: 6})
		},
		"template": func() (*scaling.Plan, error) {
			return bare.PlanTemplate(ctx, scale.Template{Namespace: e.ns, Release: release, To: scale.Large})
		},
	}
	for name, plan := range plans {
		p, err := plan()
		assert.Nil(t, p, name)
		var missing *scaling.ChartSourceRequiredError
		require.ErrorAs(t, err, &missing, name)
		assert.ErrorIs(t, err, scaling.ErrChartSource)
		assert.ElementsMatch(t, []string{"nats", "postgresql"}, missing.Dependencies)
		assert.Contains(t, err.Error(), "give the chart source")
	}
	assert.Empty(t, e.rec.Mutating(), "no write of any kind")

	// A per-request source works where the client has none.
	p, err := bare.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 4, Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}})
	require.NoError(t, err)
	assert.Empty(t, p.Blocking(), "%s", p)
}

// A chart source whose NATS subchart lost its StatefulSet and nats-box
// templates (a stale or broken copy of the chart; the chart Helm stores with
// a release lacks whole subcharts the same way): the plan's blast-radius
// guard names every object the upgrade would delete, and Apply writes
// nothing. `helm upgrade` would delete them silently.
func TestE2EBlastRadiusBlocksAnUpgradeThatDropsNATSObjects(t *testing.T) {
	e := newRealEnv(t, medium(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	crafted := filepath.Join(t.TempDir(), "ironflow")
	require.NoError(t, os.CopyFS(crafted, os.DirFS(testenv.ChartPath("ironflow"))))
	templates := filepath.Join(crafted, "charts", "nats", "templates")
	require.NoError(t, os.Remove(filepath.Join(templates, "stateful-set.yaml")))
	require.NoError(t, os.RemoveAll(filepath.Join(templates, "nats-box")))

	client, err := scale.New(e.cluster, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: crafted}})
	require.NoError(t, err)
	e.rec.Reset()
	plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	blast, ok := guardOf(plan, scaling.GuardBlastRadius)
	require.True(t, ok)
	require.Equal(t, scaling.Block, blast.Outcome, "%s", plan)
	for _, obj := range []string{"delete StatefulSet/" + e.ns + "/ironflow-nats", "delete Deployment/" + e.ns + "/ironflow-nats-box", "delete Secret/" + e.ns + "/ironflow-nats-box-contexts"} {
		assert.Contains(t, blast.Reason, obj)
	}
	_, err = client.Apply(ctx, plan)
	var blocked *scaling.GuardBlockedError
	require.ErrorAs(t, err, &blocked)
	_, named := blocked.Guard(scaling.GuardBlastRadius)
	assert.True(t, named)
	assert.Empty(t, e.rec.Mutating(), "the blocked plan wrote nothing")
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Revision)
}

func guardOf(p *scaling.Plan, name string) (scaling.GuardResult, bool) {
	for _, g := range p.Guards {
		if g.Name == name {
			return g, true
		}
	}
	return scaling.GuardResult{}, false
}
