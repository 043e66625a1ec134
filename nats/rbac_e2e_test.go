package nats_test

import (
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nats"
)

// underRole is a client of e's release whose Kubernetes requests are made
// as a user holding exactly perms, recorded by rec.
func (e *realNATS) underRole(t *testing.T, perms scaling.Permissions) (*nats.Client, *reqcount.Recorder) {
	t.Helper()
	user := "nats-operator-" + e.ns
	rbactest.Grant(t, testenv.Shared().Client, user, perms, e.ns)
	rec := &reqcount.Recorder{}
	cfg := rbactest.As(testenv.Shared().RESTConfig(), user)
	cfg.Wrap(rec.Wrap)
	cluster, err := scaling.NewCluster(cfg)
	require.NoError(t, err)
	client, err := nats.New(cluster, nats.Options{System: e.sys, Accounts: map[string]*natsgo.Conn{"APP": e.app},
		Releases: helmrelease.New(cfg, cluster.Kube), Chart: chartSource})
	require.NoError(t, err)
	return client, rec
}

// TestEveryOperationRunsUnderTheDocumentedRole: ScaleCluster up and down
// and ExpandStorage by both paths (claims grown in place on an expandable
// class, volumes replaced and resynced on a fixed one), Plan, Apply and
// Verify, by a user holding exactly nats.Permissions(). A missing rule is a
// forbidden request; a rule no request used fails too.
func TestEveryOperationRunsUnderTheDocumentedRole(t *testing.T) {
	var reqs []reqcount.Request
	run := func(t *testing.T, client *nats.Client, name string, plan func() (*scaling.Plan, error)) {
		plantest.Done(t, ctxFor(t, 3*time.Minute), client, name, plan)
	}
	// Each part runs in a subtest of its own, so its JetStream cluster
	// stops before the next one starts (three at once crowd two cores).
	t.Run("ScaleCluster", func(t *testing.T) {
		e := newRealNATS(t, 3, nats.Options{})
		client, rec := e.underRole(t, nats.Permissions())
		stream(t, e.servers, "ORDERS", 3, 10)
		e.settle(t)
		ctx := ctxFor(t, 6*time.Minute)
		run(t, client, "ScaleCluster 3 -> 5", func() (*scaling.Plan, error) {
			return client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 5})
		})
		e.settle(t)
		run(t, client, "ScaleCluster 5 -> 3", func() (*scaling.Plan, error) {
			return client.PlanScaleCluster(ctx, nats.ScaleCluster{Namespace: e.ns, Release: release, Replicas: 3})
		})
		reqs = append(reqs, rec.Requests()...)
	})
	t.Run("ExpandStorage in place", func(t *testing.T) {
		// This chart rolls its servers on a config change, so the new
		// max_file_store reaches them by a roll Verify can wait for.
		e := newRealNATSWith(t, rollingOnConfig(natsValues(3)), 3, nats.Options{})
		client, rec := e.underRole(t, nats.Permissions())
		stream(t, e.servers, "ORDERS", 3, 10)
		e.settle(t)
		ctx := ctxFor(t, 3*time.Minute)
		run(t, client, "ExpandStorage in place", func() (*scaling.Plan, error) {
			return client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi"})
		})
		reqs = append(reqs, rec.Requests()...)
	})
	t.Run("ExpandStorage by resync", func(t *testing.T) {
		vals := natsValues(3)
		vals["nats"].(map[string]any)["config"].(map[string]any)["jetstream"] = map[string]any{
			"enabled": true, "fileStore": map[string]any{"pvc": map[string]any{"size": "10Gi", "storageClassName": testenv.FixedClass}},
		}
		e := newRealNATSWith(t, vals, 3, nats.Options{})
		client, rec := e.underRole(t, nats.Permissions())
		stream(t, e.servers, "ORDERS", 3, 10)
		e.settle(t)
		ctx := ctxFor(t, 3*time.Minute)
		run(t, client, "ExpandStorage by resync", func() (*scaling.Plan, error) {
			return client.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: e.ns, Release: release, Size: "20Gi", AcceptDataLoss: true})
		})
		reqs = append(reqs, rec.Requests()...)
	})
	if t.Failed() {
		return // the rules are judged on a complete run only
	}
	rbactest.Check(t, nats.Permissions(), reqs)
}
