package helmwrite

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/helmrelease"
)

const chartDir = "../helmrelease/testdata/app"

var src = scaling.ChartSource{Ref: chartDir}

// installed is a release at revision 2: installed with two user values,
// then upgraded by someone else, who also set broker.size.
func installed(t *testing.T) *helmrelease.Client {
	t.Helper()
	ctx := context.Background()
	mem := helmrelease.NewMemory()
	_, err := mem.Install(ctx, "prod", "web", chartDir, map[string]any{"replicaCount": 3, "broker": map[string]any{"replicas": 3}}, 0)
	require.NoError(t, err)
	_, err = mem.Upgrade(ctx, "prod", "web", 1, src, map[string]any{"replicaCount": 3, "broker": map[string]any{"replicas": 3, "size": "20Gi"}})
	require.NoError(t, err)
	return mem
}

func TestPlannedSendsExactlyThePlansValues(t *testing.T) {
	mem := installed(t)
	planned := map[string]any{"replicaCount": 5, "broker": map[string]any{"replicas": 3}}
	rel, did, err := Write{Mode: Planned, Namespace: "prod", Release: "web", Source: src, Revision: 2, Values: planned}.Do(context.Background(), mem)
	require.NoError(t, err)
	assert.True(t, did)
	assert.Equal(t, 3, rel.Revision)
	assert.Equal(t, planned, rel.Values, "the approved values, not a merge with the newest revision's (broker.size is gone)")
}

func TestReapplySetsOnTheNewestRevision(t *testing.T) {
	mem := installed(t)
	ctx := context.Background()
	w := Write{Mode: Reapply, Namespace: "prod", Release: "web", Source: src, Sets: []helmplan.Set{{Path: "broker.replicas", Value: 5}}}
	rel, did, err := w.Do(ctx, mem)
	require.NoError(t, err)
	assert.True(t, did)
	assert.Equal(t, 3, rel.Revision)
	assert.Equal(t, map[string]any{"replicaCount": 3, "broker": map[string]any{"replicas": 5, "size": "20Gi"}}, rel.Values,
		"--reuse-values --set: what the plan does not name is kept")

	rel, did, err = w.Do(ctx, mem)
	require.NoError(t, err)
	assert.False(t, did, "the sets hold already: no new revision")
	assert.Equal(t, 3, rel.Revision)

	w.Force = true
	rel, did, err = w.Do(ctx, mem)
	require.NoError(t, err)
	assert.True(t, did, "Force upgrades unchanged values (it recreates missing objects)")
	assert.Equal(t, 4, rel.Revision)
}

func TestReapplyUpgradesAReleaseThatIsNotDeployed(t *testing.T) {
	mem := installed(t)
	require.NoError(t, mem.SetStatus("prod", "web", "failed"))
	rel, did, err := Write{Mode: Reapply, Namespace: "prod", Release: "web", Source: src, Sets: []helmplan.Set{{Path: "broker.replicas", Value: 3}}}.Do(context.Background(), mem)
	require.NoError(t, err)
	assert.True(t, did, "a failed revision is upgraded even when the values hold")
	assert.Equal(t, "deployed", rel.Status)
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	mem := installed(t)
	_, did, err := Write{Namespace: "prod", Release: "web", Source: src}.Do(ctx, mem)
	assert.ErrorIs(t, err, scaling.ErrInvalidInput, "a zero Mode is no mode")
	assert.False(t, did)

	require.NoError(t, mem.SetStatus("prod", "web", "pending-upgrade"))
	_, did, err = Write{Mode: Reapply, Namespace: "prod", Release: "web", Source: src, Sets: []helmplan.Set{{Path: "broker.replicas", Value: 5}}}.Do(ctx, mem)
	var pending *scaling.ReleasePendingError
	require.ErrorAs(t, err, &pending)
	assert.False(t, did)
	last, err := mem.Last(ctx, "prod", "web")
	require.NoError(t, err)
	assert.Equal(t, 2, last.Revision, "nothing was written")
}
