package nats_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/internal/testenv/natstest"
	"github.com/ironflow/scaling/nats"
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
// whose NATS StatefulSet drives a real in-process JetStream cluster: a
// goroutine plays the kubelet, starting and stopping servers whenever the
// StatefulSet's replicas change, so one Apply drives both sides.
type realNATS struct {
	ns       string
	servers  *natstest.Cluster
	cluster  *scaling.Cluster
	rec      *reqcount.Recorder
	releases *helmrelease.Client
	sys, app *natsgo.Conn
	client   *nats.Client

	mu          sync.Mutex
	kubeletErrs []error
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
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := &realNATS{ns: env.Namespace(t), rec: &reqcount.Recorder{}}
	var err error
	e.servers, err = natstest.Start(ctx, natstest.Options{Name: natsSTS, Size: size})
	require.NoError(t, err)
	t.Cleanup(e.servers.Shutdown)

	cfg := env.RESTConfig()
	cfg.Wrap(e.rec.Wrap)
	e.cluster, err = scaling.NewCluster(cfg)
	require.NoError(t, err)
	e.releases = helmrelease.New(cfg, e.cluster.Kube)
	_, err = e.releases.Install(ctx, e.ns, release, testenv.ChartPath("ironflow"), natsValues(size), time.Minute)
	require.NoError(t, err)

	kctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go e.kubelet(kctx, env, done)
	t.Cleanup(func() {
		stop()
		<-done
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, err := range e.kubeletErrs {
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
	e.client, err = nats.New(e.cluster, opts)
	require.NoError(t, err)
	e.rec.Reset()
	return e
}

// kubelet mirrors the StatefulSet's replicas onto the in-process servers,
// as the kubelet would start and stop the pods. When the pod template
// changes (the chart's config checksum) to a nats.conf without a cluster
// block, it restarts ordinal 0 without clustering, as the StatefulSet's
// rolling update would. It uses the environment's own client, so its
// requests are not recorded.
func (e *realNATS) kubelet(ctx context.Context, env *testenv.Env, done chan<- struct{}) {
	defer close(done)
	sts := env.Client.AppsV1().StatefulSets(e.ns)
	src := await.Typed(env.Client, "nats", &appsv1.StatefulSet{}, sts.List, sts.Watch, await.ByName(natsSTS))
	mirrored, checksum, standalone := len(e.servers.ServerNames()), "", false
	fail := func(err error) {
		if err != nil && ctx.Err() == nil {
			e.mu.Lock()
			e.kubeletErrs = append(e.kubeletErrs, err)
			e.mu.Unlock()
		}
	}
	_ = await.Until(ctx, []await.Source{src}, func(s await.Stores) (bool, error) {
		for _, o := range await.List[*appsv1.StatefulSet](s[0]) {
			if o.Spec.Replicas != nil && int(*o.Spec.Replicas) != mirrored {
				mirrored = int(*o.Spec.Replicas)
				fail(e.servers.ScaleTo(ctx, mirrored))
			}
			if sum := o.Spec.Template.Annotations["checksum/config"]; sum != checksum {
				checksum = sum
				cm, err := env.Client.CoreV1().ConfigMaps(e.ns).Get(ctx, natsSTS+"-config", metav1.GetOptions{})
				if err != nil {
					fail(err)
					continue
				}
				if !standalone && !strings.Contains(cm.Data["nats.conf"], "cluster {") {
					standalone = true
					fail(e.servers.Standalone(natsSTS + "-0"))
				}
			}
		}
		return false, nil
	})
}
