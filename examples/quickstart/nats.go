package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nats/natstest"
)

// natsOptions say how to reach the release's NATS cluster. With URL empty
// the demo starts a real in-process JetStream cluster that follows the
// release's StatefulSet, as the kubelet would run its pods.
type natsOptions struct {
	URL, SystemUser, SystemPassword string
	// Account and AccountUser/AccountPassword: the account whose streams
	// the scale-down may re-replicate.
	Account, AccountUser, AccountPassword string
}

// runNATS is the demo's second half, the runbook's "Scale NATS cluster":
// 3 -> 5 servers, then back to 3 the safe way: the first plan is blocked by
// an R5 stream and R1 streams on the leaving servers, the second lowers and
// evacuates them first, then removes one server at a time. Last, the
// volumes grow from 20Gi to 30Gi ("Increasing JetStream PVC size").
func runNATS(ctx context.Context, cluster *scaling.Cluster, namespace, release string, chart scaling.ChartSource, o natsOptions, progress scaling.Progress) error {
	sts := release + "-nats"
	if strings.Contains(release, "nats") {
		sts = release
	}
	if o.URL == "" {
		fmt.Printf("\nStarting a real 3-server JetStream cluster (servers %s-0..2) that follows StatefulSet %s...\n", sts, sts)
		servers, err := natstest.Start(ctx, natstest.Options{Name: sts, Size: 3})
		if err != nil {
			return err
		}
		defer servers.Shutdown()
		stop := servers.Follow(cluster.Kube, namespace, sts)
		defer func() {
			for _, err := range stop() {
				fmt.Println("kubelet:", err)
			}
		}()
		// As the pods would: the servers now run the chart's nats.conf
		// (Follow restarts those whose settings cannot be reloaded), and
		// the cluster is whole again before anyone plans against it.
		if err := servers.WaitRollout(ctx); err != nil {
			return err
		}
		if err := servers.WaitReady(ctx); err != nil {
			return err
		}
		o.URL = strings.Join(servers.ClientURLs(), ",")
		o.SystemUser, o.SystemPassword = servers.SystemCredentials()
		o.Account, o.AccountUser, o.AccountPassword = "APP", natstest.AppUser, natstest.AppPassword
	}
	quiet := natsgo.ErrorHandler(func(*natsgo.Conn, *natsgo.Subscription, error) {})
	sys, err := natsgo.Connect(o.URL, natsgo.UserInfo(o.SystemUser, o.SystemPassword), quiet)
	if err != nil {
		return err
	}
	defer sys.Close()
	app, err := natsgo.Connect(o.URL, natsgo.UserInfo(o.AccountUser, o.AccountPassword), quiet)
	if err != nil {
		return err
	}
	defer app.Close()
	client, err := nats.New(cluster, nats.Options{System: sys, Accounts: map[string]*natsgo.Conn{o.Account: app}, Progress: progress, Chart: chart})
	if err != nil {
		return err
	}
	if err := demoStreams(ctx, app, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"EVENTS.>"}, Replicas: 3}); err != nil {
		return err
	}

	up := nats.ScaleCluster{Namespace: namespace, Release: release, Replicas: 5}
	if err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) { return client.PlanScaleCluster(ctx, up) }); err != nil {
		return err
	}
	// New R1 streams go to the servers holding the fewest: the new ones.
	if err := demoStreams(ctx, app,
		jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"ORDERS.>"}, Replicas: 5},
		jetstream.StreamConfig{Name: "AUDIT0", Subjects: []string{"AUDIT0.>"}, Replicas: 1},
		jetstream.StreamConfig{Name: "AUDIT1", Subjects: []string{"AUDIT1.>"}, Replicas: 1}); err != nil {
		return err
	}
	down := nats.ScaleCluster{Namespace: namespace, Release: release, Replicas: 3}
	plan, err := client.PlanScaleCluster(ctx, down)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(plan)
	if _, err := client.Apply(ctx, plan); errors.Is(err, scaling.ErrGuardBlocked) {
		fmt.Println("\nApply refused it, as it should:", err)
	} else if err != nil {
		return err
	}
	down.LowerStreamReplicas, down.Evacuate = true, true
	if err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) { return client.PlanScaleCluster(ctx, down) }); err != nil {
		return err
	}
	// "JetStream storage filling up": grow every server's volume by 10Gi.
	grow := nats.ExpandStorage{Namespace: namespace, Release: release, Size: "30Gi"}
	if err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) { return client.PlanExpandStorage(ctx, grow) }); err != nil {
		return err
	}
	report, err := nats.Inspect(ctx, sys, time.Second)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(report)
	return nil
}

// demoStreams creates (or updates) streams and publishes ten messages to each.
func demoStreams(ctx context.Context, app *natsgo.Conn, cfgs ...jetstream.StreamConfig) error {
	js, err := jetstream.New(app)
	if err != nil {
		return err
	}
	for _, cfg := range cfgs {
		if err := createStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		for i := range 10 {
			if _, err := js.Publish(ctx, cfg.Name+".x", fmt.Appendf(nil, "message %d", i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// createStream creates or updates a stream. Right after servers joined, the
// meta leader may not have their first statistics yet, which placement
// reads: an R5 stream is then refused for want of placement (JetStream
// error 10005, seen in CI) although every server is current. As the
// library's own placement step does, the demo tries again until its
// deadline; any other error is returned at once.
func createStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		var api *jetstream.APIError
		if err == nil || !errors.As(err, &api) || api.ErrorCode != noPlacement {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// noPlacement is JetStream's "no suitable peers for placement".
const noPlacement jetstream.ErrorCode = 10005
