package scale_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// The credentials a release of the reference chart carries: two the chart
// renders into its Secret, and one of the user's own values the chart does
// not read (values files carry such things).
const jwtSecret, adminPassword, dbPassword = "jwt-DO-NOT-SHOW", "admin-DO-NOT-SHOW", "db-DO-NOT-SHOW"

func withCredentials(vals map[string]any) map[string]any {
	vals["auth"] = map[string]any{"jwtSecret": jwtSecret, "adminPassword": adminPassword}
	vals["database"] = map[string]any{"poolSize": 10, "password": dbPassword}
	return vals
}

// TestPlansNeverCarryASecretAndStillApply: for Replicas, Down and Template
// the plan's diff, String(), stored JSON (spec included) and the progress
// events of its Apply hold no credential; the stored plan, redacted as it
// is, applies, and the upgraded release keeps every credential as it was
// (Apply writes the values it derives from the live release, not the
// plan's placeholders).
func TestPlansNeverCarryASecretAndStillApply(t *testing.T) {
	for name, plan := range map[string]func(context.Context, *scale.Client) (*scaling.Plan, error){
		"Replicas 3 -> 5": func(ctx context.Context, c *scale.Client) (*scaling.Plan, error) {
			return c.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
		},
		"Down to 1": func(ctx context.Context, c *scale.Client) (*scaling.Plan, error) {
			return c.PlanDown(ctx, scale.Down{Namespace: ns, Release: release})
		},
		"Template to Medium": func(ctx context.Context, c *scale.Client) (*scaling.Plan, error) {
			return c.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Medium})
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, withCredentials(clustered(3)))
			var events []scaling.Event
			client, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
				Progress: func(ev scaling.Event) { events = append(events, ev) }})
			require.NoError(t, err)
			ctx := context.Background()
			p, err := plan(ctx, client)
			require.NoError(t, err)
			require.False(t, p.NoOp)
			raw, err := json.Marshal(p)
			require.NoError(t, err)
			assert.Contains(t, string(raw), "(sensitive sha256:", "the spec's values keep their shape, redacted")

			applied, err := client.Apply(ctx, stored(t, p, func(map[string]any) {}))
			require.NoError(t, err)
			assert.True(t, applied.Changed)
			require.NotEmpty(t, events)

			shown := p.Diff + "\n" + p.String() + "\n" + string(raw) + "\n" + fmt.Sprintf("%+v", applied)
			for _, ev := range events {
				b, err := json.Marshal(ev)
				require.NoError(t, err)
				shown += "\n" + string(b) + fmt.Sprintf("%+v", ev.Step)
			}
			for _, secret := range []string{jwtSecret, adminPassword, dbPassword} {
				assert.NotContains(t, shown, secret)
			}

			rel := e.last(t)
			assert.Equal(t, 2, rel.Revision)
			assert.Equal(t, map[string]any{"jwtSecret": jwtSecret, "adminPassword": adminPassword}, rel.Values["auth"], "the credentials were sent as they were, not as shown")
			assert.Equal(t, dbPassword, rel.Values["database"].(map[string]any)["password"])
			assert.Contains(t, rel.Manifest, "admin-password: \""+adminPassword+"\"", "the chart's Secret still holds the real value")
			assert.False(t, strings.Contains(rel.Manifest, "sensitive sha256"), "no placeholder reached the cluster")
		})
	}
}

// TestCallerMarkedValuesAreRedacted: a value the default pattern does not
// know, marked by the caller.
func TestCallerMarkedValuesAreRedacted(t *testing.T) {
	vals := clustered(3)
	vals["signing"] = map[string]any{"seed": "SEED-DO-NOT-SHOW"}
	e := newFakeEnv(t, vals)
	ctx := context.Background()
	p, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "SEED-DO-NOT-SHOW", "not a key the default pattern names")

	marked, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		Redaction: scaling.Redaction{Paths: []string{"signing.seed"}}})
	require.NoError(t, err)
	p, err = marked.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	raw, err = json.Marshal(p)
	require.NoError(t, err)
	assert.NotContains(t, string(raw)+p.String(), "SEED-DO-NOT-SHOW")
	_, err = marked.Apply(ctx, stored(t, p, func(map[string]any) {}))
	require.NoError(t, err)
	assert.Equal(t, "SEED-DO-NOT-SHOW", e.last(t).Values["signing"].(map[string]any)["seed"])

	_, err = scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Redaction: scaling.Redaction{Paths: []string{""}}})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
}
