package postgres_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling/postgres"
)

func TestLSN(t *testing.T) {
	l, err := postgres.ParseLSN("16/B374D848")
	require.NoError(t, err)
	assert.Equal(t, postgres.LSN(0x16B374D848), l)
	assert.Equal(t, "16/B374D848", l.String())
	next, _ := postgres.ParseLSN("17/0")
	assert.Equal(t, int64(0x17_0000_0000-0x16B374D848), l.Behind(next))
	assert.Zero(t, next.Behind(l), "ahead is not behind")
	zero, err := postgres.ParseLSN("")
	require.NoError(t, err)
	assert.Zero(t, zero)
	for _, bad := range []string{"16B374D848", "x/1", "1/100000000"} {
		_, err := postgres.ParseLSN(bad)
		assert.Error(t, err, bad)
	}
}

// The instance manager's JSON, as CloudNativePG v1.30 sends it.
func TestInstanceStatusDecodesTheInstanceManagersJSON(t *testing.T) {
	var st postgres.InstanceStatus
	require.NoError(t, json.Unmarshal([]byte(`{"currentLsn":"0/3000148","receivedLsn":"0/3000060","replayLsn":"0/3000000",
		"isPrimary":false,"isWalReceiverActive":true,"replayPaused":false,"pendingRestart":false,"timeLineID":1,"systemID":"7312"}`), &st))
	assert.Equal(t, postgres.InstanceStatus{CurrentLSN: 0x3000148, ReceivedLSN: 0x3000060, ReplayLSN: 0x3000000, WALReceiverActive: true, TimeLineID: 1}, st)
	assert.Error(t, json.Unmarshal([]byte(`{"replayLsn":"nope"}`), &st))
}
