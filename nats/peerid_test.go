package nats

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling/nats/natstest"
)

// TestPeerIDIsWhatTheServersReport: the IDs peerID computes from names are
// the Raft peer IDs real servers report, and a report's unknown names are
// resolved from the candidates. If nats-server ever changed how it derives
// the ID, this fails before any plan relies on it.
func TestPeerIDIsWhatTheServersReport(t *testing.T) {
	servers, err := natstest.Start(t.Context(), natstest.Options{Name: "pid", ServerNamePrefix: "eu-", Size: 3})
	require.NoError(t, err)
	t.Cleanup(servers.Shutdown)
	sys, err := servers.ConnectSystem()
	require.NoError(t, err)
	t.Cleanup(sys.Close)
	r, err := Inspect(t.Context(), sys, time.Second)
	require.NoError(t, err)
	require.Len(t, r.Meta.Peers, 3)
	for _, p := range r.Meta.Peers {
		assert.Equal(t, PeerID(p.Name), p.ID, p.Name)
	}

	gone := r.Meta.Peers[1]
	r.Meta.Peers[1].Name = "Server name unknown at this time (peerID: " + gone.ID + ")"
	r.Streams = []StreamReport{{Account: "APP", Name: "S", Peers: []string{"eu-pid-0", "Server name unknown at this time (peerID: " + gone.ID + ")"}}}
	r.resolveNames([]string{"eu-pid-0", "eu-pid-1", "eu-pid-2", "eu-pid-3"})
	assert.Equal(t, gone.Name, r.Meta.Peers[1].Name)
	assert.Equal(t, []string{"eu-pid-0", gone.Name}, r.Streams[0].Peers)
	p, ok := metaPeer(r, gone.Name)
	require.True(t, ok)
	assert.Equal(t, gone.ID, p.ID)
}
