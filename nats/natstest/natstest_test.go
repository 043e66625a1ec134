package natstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func start(t *testing.T, size int) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	c, err := Start(ctx, Options{Name: "ironflow-nats", Size: size})
	require.NoError(t, err)
	t.Logf("%d servers ready in %s", size, time.Since(began).Round(time.Millisecond))
	t.Cleanup(c.Shutdown)
	return c
}

// metaCluster asks the meta leader for the JetStream meta group, as an
// operator's tool does, on a cluster that has one.
func metaCluster(t *testing.T, c *Cluster) *server.MetaClusterInfo {
	t.Helper()
	m, err := metaInfo(c)
	require.NoError(t, err)
	return m
}

// metaInfo is metaCluster's read. Only the meta leader answers it, so while
// the group elects (servers just added or restarted) it gets no answer: a
// wait on the group reads that as "not yet", not as a failure.
func metaInfo(c *Cluster) (*server.MetaClusterInfo, error) {
	nc, err := c.ConnectSystem()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	req, _ := json.Marshal(server.JSzOptions{LeaderOnly: true})
	msg, err := nc.Request("$SYS.REQ.SERVER.PING.JSZ", req, 5*time.Second)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data *server.JSInfo `json:"data"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, err
	}
	if resp.Data == nil || resp.Data.Meta == nil {
		return nil, fmt.Errorf("the JSZ answer carries no meta group: %s", msg.Data)
	}
	return resp.Data.Meta, nil
}

func TestStartThreeNodes(t *testing.T) {
	c := start(t, 3)
	assert.Equal(t, []string{"ironflow-nats-0", "ironflow-nats-1", "ironflow-nats-2"}, c.ServerNames())
	meta := metaCluster(t, c)
	assert.Equal(t, 3, meta.Size)
	assert.Len(t, meta.Replicas, 2, "the leader lists the other two peers")
	assert.Contains(t, c.ServerNames(), meta.Leader)
}

func TestQuorumLossAndRecovery(t *testing.T) {
	c := start(t, 3)
	nc, err := c.Connect(nats.MaxReconnects(-1))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3})
	require.NoError(t, err)
	acked := 0
	publish := func(id int) error {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "orders.new", []byte("order"), jetstream.WithMsgID("order-"+strconv.Itoa(id)))
		if err == nil {
			acked++
		}
		return err
	}
	for i := range 10 {
		require.NoError(t, publish(i))
	}

	require.NoError(t, c.Stop("ironflow-nats-2"))
	_, err = c.WaitMetaLeader(ctx)
	require.NoError(t, err)
	// If the stopped server led the stream, the two left elect a new stream
	// leader (seconds, not milliseconds); with it, writes work again.
	streamInfo := func() (*jetstream.StreamInfo, error) {
		// Each attempt gets its own short deadline: a request sent while the
		// stream has no leader is never answered.
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		defer acancel()
		s, err := js.Stream(actx, "ORDERS")
		if err != nil {
			return nil, err
		}
		return s.Info(actx)
	}
	require.NoError(t, poll(ctx, "an ORDERS leader on a running server", func() bool {
		info, err := streamInfo()
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != "ironflow-nats-2"
	}))
	require.NoError(t, publish(10), "one server down: writes keep working")

	require.NoError(t, c.Stop("ironflow-nats-1"))
	assert.Error(t, publish(11), "two of three down: no quorum, no acknowledged write")

	require.NoError(t, c.Restart(ctx, "ironflow-nats-1"))
	leader, err := c.WaitMetaLeader(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, leader)
	// Retry with the same message ID until the stream has a leader again;
	// de-duplication makes the retries safe.
	require.NoError(t, poll(ctx, "a writable stream", func() bool { return publish(12) == nil }))
	info, err := streamInfo()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, info.State.Msgs, uint64(acked), "no acknowledged message is lost")
}

func TestAddServersGrowsMetaGroup(t *testing.T) {
	c := start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 2 {
		_, err := c.Add(ctx)
		require.NoError(t, err)
	}
	assert.Len(t, c.ServerNames(), 5)
	require.NoError(t, poll(ctx, "meta group of 5", func() bool {
		m, err := metaInfo(c)
		return err == nil && m.Size == 5
	}))
}

func TestScaleToStopsHighestOrdinal(t *testing.T) {
	c := start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.ScaleTo(ctx, 2))
	assert.Equal(t, []string{"ironflow-nats-0", "ironflow-nats-1"}, c.ServerNames())
	assert.Nil(t, c.Server("ironflow-nats-2"))
	require.NoError(t, c.ScaleTo(ctx, 3))
	assert.Len(t, c.ServerNames(), 3, "the stopped ordinal comes back on its old store")
	_, err := c.MonitorURL("other-0")
	assert.Error(t, err)
}

func TestStandaloneRecoversTheStreamsOfItsStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Name: "solo", Size: 3})
	require.NoError(t, err)
	defer c.Shutdown()
	nc, err := c.Connect()
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"S.>"}, Replicas: 1})
	require.NoError(t, err)
	for range 7 {
		_, err := js.Publish(ctx, "S.x", []byte("m"))
		require.NoError(t, err)
	}
	home := s.CachedInfo().Cluster.Leader
	nc.Close()
	for _, name := range c.ServerNames() {
		if name != home {
			require.NoError(t, c.Stop(name))
		}
	}

	require.NoError(t, c.Standalone(home))
	nc, err = c.Connect()
	require.NoError(t, err)
	defer nc.Close()
	js, err = jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := js.Stream(ctx, "S")
		return err == nil && st.CachedInfo().State.Msgs == 7
	}, 10*time.Second, 50*time.Millisecond, "the single server serves the stream from its store")
	info, err := js.AccountInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, info.Streams)
	assert.Equal(t, []string{home}, c.ServerNames())
}

func TestWipedServerResyncsFromItsPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Name: "wipe", Size: 3})
	require.NoError(t, err)
	defer c.Shutdown()
	nc, err := c.Connect()
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"S.>"}, Replicas: 3})
	require.NoError(t, err)
	for range 25 {
		_, err := js.Publish(ctx, "S.x", []byte("m"))
		require.NoError(t, err)
	}
	assert.Error(t, c.Wipe("wipe-2"), "a running server's store is not wiped")
	require.NoError(t, c.Stop("wipe-2"))
	require.NoError(t, c.Wipe("wipe-2"))
	require.NoError(t, c.Restart(ctx, "wipe-2"))
	require.Eventually(t, func() bool {
		s := c.Server("wipe-2")
		jsz, err := s.Jsz(&server.JSzOptions{Streams: true})
		return err == nil && jsz.Messages == 25
	}, 30*time.Second, 50*time.Millisecond, "the wiped server holds the stream's 25 messages again")
}

func TestClaimOrdinal(t *testing.T) {
	i, ok := claimOrdinal("r-nats-js-r-nats-2", "r-nats")
	assert.True(t, ok)
	assert.Equal(t, 2, i)
	_, ok = claimOrdinal("data-other-2", "r-nats")
	assert.False(t, ok)
	_, ok = claimOrdinal("r-nats-js-r-nats-x", "r-nats")
	assert.False(t, ok)
}

// config.serverNamePrefix: the servers' names carry the prefix, the pods'
// names (Pod) do not, and a pod's name is no server name.
func TestServerNamePrefix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Name: "nats", ServerNamePrefix: "east-", Size: 3})
	require.NoError(t, err)
	defer c.Shutdown()
	assert.Equal(t, []string{"east-nats-0", "east-nats-1", "east-nats-2"}, c.ServerNames())
	assert.Equal(t, "east-nats-1", c.Name(1))
	assert.Equal(t, "nats-1", c.Pod(1))
	assert.NotNil(t, c.Server("east-nats-1"))
	assert.Nil(t, c.Server("nats-1"), "a pod's name is no server's")
	_, err = c.MonitorURL("nats-1")
	assert.Error(t, err)
	meta := metaCluster(t, c)
	assert.Contains(t, c.ServerNames(), meta.Leader, "the meta group knows the servers by their prefixed names")
	for _, p := range meta.Replicas {
		assert.Contains(t, c.ServerNames(), p.Name)
	}
	require.NoError(t, c.ScaleTo(ctx, 2))
	assert.Equal(t, []string{"east-nats-0", "east-nats-1"}, c.ServerNames())
}
