package helmplan_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/redact"
)

func install(t *testing.T) *fake.Releases {
	t.Helper()
	r := fake.NewReleases(nil)
	_, err := r.Install(context.Background(), "prod", "web", "../../examples/charts/ironflow",
		map[string]any{"replicaCount": 3, "image": map[string]any{"tag": "v7"}})
	require.NoError(t, err)
	return r
}

func TestPlanKeepsOtherValuesAndDiffs(t *testing.T) {
	r := install(t)
	res, err := helmplan.Plan(context.Background(), r, "prod", "web", chartSource, []helmplan.Set{{Path: "replicaCount", Value: int64(5)}}, nil)
	require.NoError(t, err)
	assert.True(t, res.Changed())
	assert.Equal(t, "v7", res.Values["image"].(map[string]any)["tag"], "--reuse-values semantics: other user values stay")
	assert.EqualValues(t, 5, res.Values["replicaCount"])
	assert.Contains(t, res.Diff, "-replicaCount: 3\n+replicaCount: 5\n")
	assert.Contains(t, res.Diff, "prod, web-ironflow, Deployment (apps/v1) changed:")
	assert.Equal(t, "HelmRelease/prod/web revision", helmplan.FingerprintKey("prod", "web"))

	same, err := helmplan.Plan(context.Background(), r, "prod", "web", chartSource, []helmplan.Set{{Path: "replicaCount", Value: int64(3)}}, nil)
	require.NoError(t, err)
	assert.False(t, same.Changed())
	assert.Empty(t, same.Diff)
}

func TestPlanRefusals(t *testing.T) {
	r := install(t)
	_, err := helmplan.Plan(context.Background(), r, "prod", "web", chartSource, []helmplan.Set{{Path: "replicaCount.sub", Value: 1}}, nil)
	assert.ErrorIs(t, err, scaling.ErrInvalidInput, "a path through a number")
	require.NoError(t, r.SetStatus("prod", "web", "pending-install"))
	_, err = helmplan.Plan(context.Background(), r, "prod", "web", chartSource, nil, nil)
	assert.ErrorIs(t, err, scaling.ErrReleasePending)
	_, err = helmplan.Plan(context.Background(), r, "prod", "nope", chartSource, nil, nil)
	assert.ErrorIs(t, err, scaling.ErrNotFound)
}

var chartSource = scaling.ChartSource{Ref: "../../examples/charts/ironflow"}

// TestTheDiffNeverShowsASecret: a changed credential shows in the values
// diff and in the chart's Secret as changed (two digests), never as text;
// the Result keeps the real values, which is what the upgrade sends.
func TestTheDiffNeverShowsASecret(t *testing.T) {
	r := fake.NewReleases(nil)
	_, err := r.Install(context.Background(), "prod", "web", "../../examples/charts/ironflow",
		map[string]any{"replicaCount": 3, "auth": map[string]any{"adminPassword": "old-pw-1"}})
	require.NoError(t, err)
	res, err := helmplan.Plan(context.Background(), r, "prod", "web", chartSource, []helmplan.Set{{Path: "auth.adminPassword", Value: "new-pw-2"}}, nil)
	require.NoError(t, err)
	require.True(t, res.Changed())
	for _, secret := range []string{"old-pw-1", "new-pw-2"} {
		assert.NotContains(t, res.Diff, secret)
	}
	assert.Contains(t, res.Diff, "prod, web-ironflow-auth, Secret (v1) changed:")
	assert.Regexp(t, `-\s+adminPassword: \(sensitive sha256:[0-9a-f]{12}\)\n\+\s+adminPassword: \(sensitive sha256:[0-9a-f]{12}\)\n`, res.Diff, "changed, shown as two digests")
	assert.Regexp(t, `-\s+admin-password: \(sensitive sha256:[0-9a-f]{12}\)\n\+\s+admin-password: \(sensitive sha256:[0-9a-f]{12}\)\n`, res.Diff)
	assert.Equal(t, "new-pw-2", res.Values["auth"].(map[string]any)["adminPassword"], "the values to send are the real ones")
}

// BenchmarkRedactMedium is what redaction adds to a plan of the medium
// release (NATS and CNPG objects, credentials set): its values and both
// manifests' objects, as PlanFrom redacts them.
func BenchmarkRedactMedium(b *testing.B) {
	vals, err := chartutil.ReadValuesFile("../../examples/charts/ironflow/values-medium.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m := vals.AsMap()
	m["auth"] = map[string]any{"jwtSecret": "jwt", "adminPassword": "pw"}
	r := fake.NewReleases(nil)
	rel, err := r.Install(context.Background(), "prod", "web", "../../examples/charts/ironflow", m)
	if err != nil {
		b.Fatal(err)
	}
	objs, err := manifest.Parse(rel.Manifest, "prod")
	if err != nil {
		b.Fatal(err)
	}
	red, err := redact.New(scaling.Redaction{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for range 2 { // deployed and planned
			if _, err := red.Manifest(objs); err != nil {
				b.Fatal(err)
			}
			red.Values(rel.Values)
		}
	}
	b.ReportMetric(float64(len(objs)), "objects")
}
