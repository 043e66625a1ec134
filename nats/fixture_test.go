package nats_test

import (
	"context"
	"os"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nats/natstest"
)

// TestMain starts the real control plane once for the package; the tests
// that need only NATS ignore it.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{}))
}

// release is the reference chart's release name in every real test; its
// NATS StatefulSet, and so the in-process servers, are "ironflow-nats-<i>".
const (
	release = "ironflow"
	natsSTS = release + "-nats"
)

// realNATS is a release of the reference chart on the real control plane
// whose NATS StatefulSet drives a real in-process JetStream cluster
// (natstest's Follow plays the kubelet), so one Apply drives both sides.
type realNATS struct {
	ns       string
	servers  *natstest.Cluster
	cluster  *scaling.Cluster
	rec      *reqcount.Recorder
	releases *helmrelease.Client
	sys, app *natsgo.Conn
	client   *nats.Client
}

// natsValues are the reference chart's values for a clustered NATS of size
// servers and nothing else.
func natsValues(size int) map[string]any {
	return map[string]any{
		"replicaCount": 1,
		"nats": map[string]any{"enabled": true, "config": map[string]any{
			"cluster": map[string]any{"enabled": true, "replicas": size},
		}},
		"postgresql": map[string]any{"enabled": false},
	}
}

func newRealNATS(t testing.TB, size int, opts nats.Options) *realNATS {
	t.Helper()
	return newRealNATSWith(t, natsValues(size), size, opts)
}

// newRealNATSWith installs the chart with vals, which must run size servers.
func newRealNATSWith(t testing.TB, vals map[string]any, size int, opts nats.Options) *realNATS {
	t.Helper()
	return newRealNATSNamed(t, vals, size, natsSTS, "", opts)
}

// newRealNATSNamed is newRealNATSWith for a chart whose values name the
// StatefulSet sts (fullnameOverride) and prefix the servers' names
// (config.serverNamePrefix): the servers follow that StatefulSet's pods.
func newRealNATSNamed(t testing.TB, vals map[string]any, size int, sts, prefix string, opts nats.Options) *realNATS {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := &realNATS{ns: env.Namespace(t), rec: &reqcount.Recorder{}}
	var err error
	e.servers, err = natstest.Start(ctx, natstest.Options{Name: sts, ServerNamePrefix: prefix, Size: size})
	require.NoError(t, err)
	t.Cleanup(e.servers.Shutdown)

	cfg := env.RESTConfig()
	cfg.Wrap(e.rec.Wrap)
	e.cluster, err = scaling.NewCluster(cfg)
	require.NoError(t, err)
	e.releases = helmrelease.New(cfg, e.cluster.Kube)
	_, err = e.releases.Install(ctx, e.ns, release, testenv.ChartPath("ironflow"), vals, time.Minute)
	require.NoError(t, err)

	stop := e.servers.Follow(env.Client, e.ns, sts)
	t.Cleanup(func() {
		for _, err := range stop() {
			t.Errorf("kubelet: %v", err)
		}
	})

	e.sys, err = e.servers.ConnectSystem()
	require.NoError(t, err)
	t.Cleanup(e.sys.Close)
	e.app, err = e.servers.Connect()
	require.NoError(t, err)
	t.Cleanup(e.app.Close)
	opts.System = e.sys
	if opts.Accounts == nil {
		opts.Accounts = map[string]*natsgo.Conn{"APP": e.app}
	}
	opts.Releases = e.releases
	if opts.Chart.IsZero() {
		opts.Chart = chartSource
	}
	e.client, err = nats.New(e.cluster, opts)
	require.NoError(t, err)
	e.rec.Reset()
	return e
}

// settle waits until the cluster is as an operator would find it before
// planning: a meta leader, every peer current, every stream led with all its
// replicas placed and current. Right after streams are created or servers
// stop, a reading can catch a replica behind for a moment, and the plan's
// guards rightly block on it.
func (e *realNATS) settle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last *nats.Report
	ok := assert.Eventually(t, func() bool {
		r, err := nats.Inspect(ctx, e.sys, time.Second)
		if err != nil {
			return false
		}
		last = r
		if r.Meta.Leader == "" {
			return false
		}
		for _, p := range r.Meta.Peers {
			if p.Offline || !p.Current {
				return false
			}
		}
		for _, s := range r.Streams {
			if s.Leader == "" || len(s.Lagging) > 0 || len(s.Peers) < s.Replicas {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond)
	if !ok && last != nil {
		t.Fatalf("the cluster did not settle:\n%s", last)
	}
}

// chartSource is the reference chart's folder, which every upgrade takes the
// chart from (Helm's stored release keeps no subcharts).
var chartSource = scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}

// natsSelector selects the servers' pods, as the official chart's
// StatefulSet does.
const natsSelector = "app.kubernetes.io/name=nats,app.kubernetes.io/instance=" + release + ",app.kubernetes.io/component=nats"

// rollingOnConfig switches the chart from the official chart's config
// reloader to rolling the servers on every nats.conf change
// (checksum/config).
func rollingOnConfig(vals map[string]any) map[string]any {
	n := vals["nats"].(map[string]any)
	n["reloader"] = map[string]any{"enabled": false}
	n["podTemplate"] = map[string]any{"configChecksumAnnotation": true}
	return vals
}
