package nats_test

import (
	"errors"
	"fmt"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
)

// A report as Inspect returns it, rendered the way an operator reads it
// before scaling.
func ExampleReport_String() {
	r := &nats.Report{
		Meta: nats.MetaGroup{Leader: "nats-0", Size: 3, QuorumNeeded: 2, Peers: []nats.Peer{
			{Name: "nats-0", Leader: true, Current: true},
			{Name: "nats-1", Current: true},
			{Name: "nats-2", Offline: true},
		}},
		Servers: []nats.ServerUsage{
			{Name: "nats-0", Version: "2.15.2", StorageUsed: 3 << 30, StorageMax: 10 << 30, Streams: 2},
			{Name: "nats-1", Version: "2.15.2", StorageUsed: 9 << 30, StorageMax: 10 << 30, Streams: 1},
		},
		Streams: []nats.StreamReport{
			{Account: "APP", Name: "ORDERS", Replicas: 3, Leader: "nats-0", Peers: []string{"nats-0", "nats-1", "nats-2"}, Messages: 1200, Bytes: 2 << 20},
		},
		Warnings: []string{"meta peer nats-2 is offline: one more failure may lose the quorum of 2"},
	}
	fmt.Print(r)
	// Output:
	// Meta group: leader nats-0, 3 peers, quorum 2
	//   nats-0                   current
	//   nats-1                   current
	//   nats-2                   OFFLINE
	// Servers:
	//   nats-0                   2.15.2   storage 3.0 GiB used / 0 B reserved / 10.0 GiB max, 2 stream replicas
	//   nats-1                   2.15.2   storage 9.0 GiB used / 0 B reserved / 10.0 GiB max, 1 stream replicas
	// Streams:
	//   APP/ORDERS               R3 on nats-0,nats-1,nats-2 (leader nats-0), 1200 msgs, 2.0 MiB
	// ! meta peer nats-2 is offline: one more failure may lose the quorum of 2
}

// A blocked plan's Apply returns a *scaling.GuardBlockedError whose causes
// carry the numbers: here, what a 5 -> 3 scale-down with an R5 stream gets.
func ExampleStreamReplicasError() {
	var err error = &scaling.GuardBlockedError{
		Operation: nats.OpScaleCluster,
		Guards:    []scaling.GuardResult{{Name: nats.GuardReplicas, Outcome: scaling.Block, Reason: "1 stream(s) want more replicas than the 3 servers left"}},
		Causes:    []error{&nats.StreamReplicasError{Target: 3, Streams: []nats.StreamRef{{Account: "APP", Name: "ORDERS", Replicas: 5}}}},
	}
	var over *nats.StreamReplicasError
	if errors.As(err, &over) {
		fmt.Println(errors.Is(err, scaling.ErrGuardBlocked), errors.Is(err, nats.ErrStreamReplicas))
		fmt.Println(over.Streams[0], "-> target", over.Target)
	}
	// Output:
	// true true
	// APP/ORDERS (R5) -> target 3
}
