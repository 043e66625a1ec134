package helmrelease

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/ironflow/scaling"
)

// TestUpgradeFromAnOlderRevisionIsStale: two Applies of one plan upgrade
// from the same revision; the second finds a newer one and is refused as a
// stale plan, typed, instead of adding a revision nobody planned (issue 11:
// untyped "release: already exists", or a third revision).
func TestUpgradeFromAnOlderRevisionIsStale(t *testing.T) {
	c := NewMemory()
	ctx := context.Background()
	installApp(t, c, "web", nil)
	src := scaling.ChartSource{Ref: appDir()}
	_, err := c.Upgrade(ctx, "demo", "web", 1, src, map[string]any{"replicaCount": 2})
	require.NoError(t, err)
	_, err = c.Upgrade(ctx, "demo", "web", 1, src, map[string]any{"replicaCount": 2})
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale)
	assert.Equal(t, []scaling.Drift{{Key: "HelmRelease/demo/web revision", Planned: "1", Live: "2"}}, stale.Drift)
	last, err := c.Last(ctx, "demo", "web")
	require.NoError(t, err)
	assert.Equal(t, 2, last.Revision, "nothing was written")
}

// TestLostRacesAreTyped: what Helm answers an upgrade that lost to another
// writer between its read and its write.
func TestLostRacesAreTyped(t *testing.T) {
	last := &release.Release{Version: 4, Info: &release.Info{Status: release.StatusUninstalling}}
	err := lostRace(fmt.Errorf("create: %w", driver.ErrReleaseExists), "demo", "web", 4, last)
	assert.ErrorIs(t, err, scaling.ErrStalePlan)
	err = lostRace(errors.New("another operation (install/upgrade/rollback) is in progress"), "demo", "web", 4, last)
	var pending *scaling.ReleasePendingError
	require.ErrorAs(t, err, &pending)
	assert.Equal(t, "uninstalling", pending.Status)
	err = lostRace(fmt.Errorf("%q %w", "web", driver.ErrNoDeployedReleases), "demo", "web", 4, last)
	assert.ErrorIs(t, err, scaling.ErrReleasePending)
	other := errors.New("boom")
	assert.ErrorIs(t, lostRace(other, "demo", "web", 4, last), other, "anything else is wrapped as it is")
	assert.NotErrorIs(t, lostRace(other, "demo", "web", 4, last), scaling.ErrStalePlan)
}
