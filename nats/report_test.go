package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nats/natstest"
)

func cluster(t *testing.T, size int) *natstest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := natstest.Start(ctx, natstest.Options{Name: "ironflow-nats", Size: size})
	require.NoError(t, err)
	t.Cleanup(c.Shutdown)
	return c
}

func stream(t testing.TB, c *natstest.Cluster, name string, replicas, msgs int) {
	t.Helper()
	nc, err := c.Connect()
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Replicas: replicas})
	require.NoError(t, err)
	for range msgs {
		_, err := js.Publish(ctx, name+".x", make([]byte, 1024))
		require.NoError(t, err)
	}
}

func TestInspectReportsMetaGroupStorageAndPlacement(t *testing.T) {
	c := cluster(t, 3)
	stream(t, c, "ORDERS", 3, 50)
	stream(t, c, "AUDIT", 1, 10)
	sys, err := c.ConnectSystem()
	require.NoError(t, err)
	defer sys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var r *nats.Report
	// Stream state reaches every server's JSZ shortly after the writes: wait
	// until every replica reports what is asserted below (CI saw the leader
	// at 50 and a follower at 47).
	require.Eventually(t, func() bool {
		r, err = nats.Inspect(ctx, sys, 500*time.Millisecond)
		if err != nil || len(r.Streams) != 2 || r.Streams[1].Messages != 50 || len(r.Streams[1].LastSeq) != 3 {
			return false
		}
		for _, seq := range r.Streams[1].LastSeq {
			if seq != 50 {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, 3, r.Meta.Size)
	assert.Equal(t, 2, r.Meta.QuorumNeeded)
	assert.Contains(t, c.ServerNames(), r.Meta.Leader)
	require.Len(t, r.Meta.Peers, 3)
	require.Len(t, r.Servers, 3)
	for _, s := range r.Servers {
		assert.NotEmpty(t, s.Version)
		assert.EqualValues(t, 1<<30, s.StorageMax, s.Name)
	}
	audit, orders := r.Streams[0], r.Streams[1]
	assert.Equal(t, "APP", orders.Account)
	assert.Equal(t, 3, orders.Replicas)
	assert.ElementsMatch(t, c.ServerNames(), orders.Peers)
	assert.Equal(t, 1, audit.Replicas)
	assert.Len(t, audit.Peers, 1)
	assert.Contains(t, r.Warnings, "stream APP/AUDIT has one replica, on "+audit.Leader+" only: it goes if that server goes")
	assert.Contains(t, r.String(), "APP/ORDERS")
	for server, seq := range orders.LastSeq {
		assert.EqualValues(t, 50, seq, "%s holds all 50 messages", server)
	}
	assert.Len(t, orders.LastSeq, 3)

	// The same reading through a Client, which needs no Kubernetes access.
	kube := k8sfake.NewClientset()
	client, err := nats.New(&scaling.Cluster{Kube: kube}, nats.Options{System: sys, Releases: fake.NewReleases(kube)})
	require.NoError(t, err)
	viaClient, err := client.Report(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.Meta.Size, viaClient.Meta.Size)
	assert.Len(t, viaClient.Streams, 2)
	assert.Empty(t, kube.Actions(), "reading JetStream touches no Kubernetes object")
}

func TestInspectSeesAnOfflinePeer(t *testing.T) {
	c := cluster(t, 3)
	require.NoError(t, c.Stop("ironflow-nats-2"))
	sys, err := c.ConnectSystem()
	require.NoError(t, err)
	defer sys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r *nats.Report
	require.Eventually(t, func() bool {
		r, err = nats.Inspect(ctx, sys, 300*time.Millisecond)
		if err != nil || r.Meta.Leader == "" {
			return false
		}
		for _, p := range r.Meta.Peers {
			if p.Name == "ironflow-nats-2" && p.Offline {
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond)
	assert.Len(t, r.Servers, 2)
	assert.Contains(t, r.String(), "OFFLINE")
}

func TestInspectWithoutSystemAccountIsTypedAndFast(t *testing.T) {
	c := cluster(t, 3)
	app, err := c.Connect()
	require.NoError(t, err)
	defer app.Close()
	began := time.Now()
	_, err = nats.Inspect(context.Background(), app, 5*time.Second)
	require.ErrorIs(t, err, nats.ErrNoSystemAccount)
	var sa *nats.SystemAccountError
	require.True(t, errors.As(err, &sa))
	assert.ErrorIs(t, err, natsgo.ErrNoResponders, "the server says so at once")
	t.Logf("typed error after %s", time.Since(began))
}
