package natstest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ironflow/scaling/nats/natstest"
)

// Start a three-server cluster, connect in the system account and ask the
// JetStream meta leader for its group, as package nats does before it plans.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := natstest.Start(ctx, natstest.Options{Name: "ironflow-nats", Size: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Shutdown()
	fmt.Println("servers:", c.ServerNames())

	sys, err := c.ConnectSystem()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sys.Close()
	// Only the meta leader answers a leader-only ping, so the first reply
	// is the whole answer.
	req, _ := json.Marshal(server.JSzOptions{LeaderOnly: true})
	msg, err := sys.Request("$SYS.REQ.SERVER.PING.JSZ", req, 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	var resp struct {
		Data server.JSInfo `json:"data"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil || resp.Data.Meta == nil {
		fmt.Println("no meta group:", err)
		return
	}
	fmt.Println("meta group size:", resp.Data.Meta.Size)
	fmt.Println("peers besides the leader:", len(resp.Data.Meta.Replicas))
	// Output:
	// servers: [ironflow-nats-0 ironflow-nats-1 ironflow-nats-2]
	// meta group size: 3
	// peers besides the leader: 2
}

// Stop and Restart a server as the kubelet restarts its pod; a name the
// cluster has no server for is a typed error.
func ExampleCluster_Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := natstest.Start(ctx, natstest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Shutdown()
	if err := c.Stop("nats-2"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after stop:", c.ServerNames())
	err = c.Stop("nats-2")
	fmt.Println("stopped twice:", errors.Is(err, natstest.ErrNotRunning))
	if err := c.Restart(ctx, "nats-2"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after restart:", c.ServerNames())
	fmt.Println(c.Stop("web-0"))
	// Output:
	// after stop: [nats-0 nats-1]
	// stopped twice: true
	// after restart: [nats-0 nats-1 nats-2]
	// natstest: stop: "web-0" is not a server of cluster nats
}
