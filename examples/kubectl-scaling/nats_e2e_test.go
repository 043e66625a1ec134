package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nats/natstest"
)

// The NATS half of the runbook through the plugin: a release whose NATS
// subchart's StatefulSet real JetStream servers follow (natstest plays the
// kubelet), reached with --nats-url and the system account as an operator
// would. Report, scale 3 -> 5 through a saved plan, 5 -> 3 on the spot
// (peer-remove before each server goes), and a scale to 1 without
// --disable-clustering refused with exit 2.
func TestE2ENATSReportScaleUpDownThroughThePlugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	servers, err := natstest.Start(ctx, natstest.Options{Name: release + "-nats", Size: 3})
	require.NoError(t, err)
	t.Cleanup(servers.Shutdown)
	u := newUserEnv(t, map[string]any{"replicaCount": 1,
		"nats":       map[string]any{"enabled": true, "config": map[string]any{"cluster": map[string]any{"enabled": true, "replicas": 3}}},
		"postgresql": map[string]any{"enabled": false}})
	stop := servers.Follow(u.env.Client, u.ns, release+"-nats")
	t.Cleanup(func() {
		for _, err := range stop() {
			t.Errorf("kubelet: %v", err)
		}
	})
	require.NoError(t, servers.WaitReady(ctx))
	sysUser, sysPassword := servers.SystemCredentials()
	natsFlags := []string{"--nats-url", strings.Join(servers.ClientURLs(), ","), "--nats-system-user", sysUser, "--nats-system-password", sysPassword}
	withNATS := func(args ...string) []string { return append(args, natsFlags...) }
	settled := func() {
		sys, err := servers.ConnectSystem()
		require.NoError(t, err)
		defer sys.Close()
		require.Eventually(t, func() bool {
			r, err := nats.Inspect(ctx, sys, time.Second)
			if err != nil || r.Meta.Leader == "" {
				return false
			}
			for _, p := range r.Meta.Peers {
				if p.Offline || !p.Current {
					return false
				}
			}
			return true
		}, time.Minute, 50*time.Millisecond, "the meta group settles")
	}
	settled()

	report := u.run(withNATS("nats", "report")...)
	require.Equal(t, exitOK, report.code, report)
	for i := range 3 {
		assert.Contains(t, report.stdout, servers.Name(i), "the report lists every server")
	}

	noURL := u.run("nats", "scale", release, "5", "--out", "up.json", "--nats-url", "")
	assert.Equal(t, exitFailed, noURL.code, noURL)
	assert.Contains(t, noURL.stderr, "--nats-url")

	up := u.run(withNATS("nats", "scale", release, "5", "--out", "up.json")...)
	require.Equal(t, exitOK, up.code, up)
	assert.Equal(t, 1, u.revision(), "saving writes nothing")
	applied := u.run(withNATS("apply", "up.json", "--auto-approve")...)
	require.Equal(t, exitOK, applied.code, applied)
	assert.Len(t, servers.ServerNames(), 5)
	settled()

	down := u.run(withNATS("nats", "scale", release, "3", "--auto-approve")...)
	require.Equal(t, exitOK, down.code, down)
	assert.Contains(t, down.stderr, "peer-remove", "each server leaves the meta group before its pod goes")
	assert.Len(t, servers.ServerNames(), 3)
	rev := u.revision()

	one := u.run(withNATS("nats", "scale", release, "1", "--auto-approve")...)
	require.Equal(t, exitBlocked, one.code, one)
	assert.Contains(t, one.stdout, "[block] quorum", "the plan shows the guard that blocks it")
	assert.Contains(t, one.stdout, "or set --disable-clustering", "with advice in the plugin's flags")
	assert.Equal(t, rev, u.revision(), "a blocked plan writes nothing")
	assert.Len(t, servers.ServerNames(), 3)
}
