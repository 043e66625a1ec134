package natstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/ironflow/scaling/internal/testenv"
)

// TestMain starts the real control plane once for the package: Follow's
// tests drive the servers through a StatefulSet on a real API server (the
// others ignore it).
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{}))
}

const chartSTS = "ironflow-nats"

// chart describes the objects the official nats-io/k8s chart (2.14.x)
// renders for the release "ironflow" with fullnameOverride ironflow-nats.
type chart struct {
	replicas int
	// cluster is config.cluster.enabled.
	cluster bool
	// maxFile is the JetStream PVC size (max_file_store), maxMem the
	// memory store's maxSize ("" renders the default: memory store off,
	// max_memory_store 0).
	maxFile, maxMem string
	// prefix is config.serverNamePrefix.
	prefix string
	// reloader is reloader.enabled; checksum is
	// podTemplate.configChecksumAnnotation.
	reloader, checksum bool
	image              string
}

// conf renders nats.conf as the official chart does (compare
// officialConf, the chart's real output).
func (ch chart) conf() string {
	var b strings.Builder
	b.WriteString("{\n")
	if ch.cluster {
		var routes []string
		for i := range ch.replicas {
			routes = append(routes, fmt.Sprintf("      \"nats://%s-%d.%s-headless:6222\"", chartSTS, i, chartSTS))
		}
		fmt.Fprintf(&b, "  \"cluster\": {\n    \"name\": %q,\n    \"no_advertise\": true,\n    \"port\": 6222,\n    \"routes\": [\n%s\n    ]\n  },\n",
			chartSTS, strings.Join(routes, ",\n"))
	}
	maxMem := "0"
	if ch.maxMem != "" {
		maxMem = ch.maxMem
	}
	fmt.Fprintf(&b, "  \"http_port\": 8222,\n  \"jetstream\": {\n    \"max_file_store\": %s,\n    \"max_memory_store\": %s,\n    \"store_dir\": \"/data\"\n  },\n", ch.maxFile, maxMem)
	b.WriteString("  \"lame_duck_duration\": \"30s\",\n  \"lame_duck_grace_period\": \"10s\",\n  \"pid_file\": \"/var/run/nats/nats.pid\",\n  \"port\": 4222,\n  \"server_name\": $SERVER_NAME\n}\n")
	return b.String()
}

func (ch chart) configMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: chartSTS + "-config"},
		Data:       map[string]string{"nats.conf": ch.conf()},
	}
}

func (ch chart) statefulSet() *appsv1.StatefulSet {
	labels := map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "ironflow", "app.kubernetes.io/component": "nats"}
	image := ch.image
	if image == "" {
		image = "nats:2.14.2-alpine"
	}
	replicas := int32(ch.replicas)
	ports := []corev1.ContainerPort{{Name: "nats", ContainerPort: 4222}}
	if ch.cluster {
		ports = append(ports, corev1.ContainerPort{Name: "cluster", ContainerPort: 6222})
	}
	ports = append(ports, corev1.ContainerPort{Name: "monitor", ContainerPort: 8222})
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "nats",
				Image: image,
				Args:  []string{"--config", "/etc/nats-config/nats.conf"},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "SERVER_NAME", Value: ch.prefix + "$(POD_NAME)"},
				},
				Ports: ports,
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/nats-config"},
					{Name: "pid", MountPath: "/var/run/nats"},
				},
			}},
			EnableServiceLinks: new(false),
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: chartSTS + "-config"}}}},
				{Name: "pid", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	if ch.reloader {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name:  "reloader",
			Image: "natsio/nats-server-config-reloader:0.23.0",
			Args:  []string{"-pid", "/var/run/nats/nats.pid", "-config", "/etc/nats-config/nats.conf"},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "pid", MountPath: "/var/run/nats"},
				{Name: "config", MountPath: "/etc/nats-config"},
			},
		})
		pod.Spec.ShareProcessNamespace = new(true)
	}
	if ch.checksum {
		sum := sha256.Sum256([]byte(ch.conf()))
		pod.Annotations = map[string]string{"checksum/config": hex.EncodeToString(sum[:])}
	}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: chartSTS, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         chartSTS + "-headless",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template:            pod,
		},
	}
}

// release is a chart's objects on the real API server, followed by a
// cluster's servers.
type release struct {
	t    *testing.T
	kube kubernetes.Interface
	ns   string
	c    *Cluster
	stop func() []error
}

// install creates ch's ConfigMap and StatefulSet and has c follow them.
func install(t *testing.T, c *Cluster, ch chart) *release {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	r := &release{t: t, kube: env.Client, ns: env.Namespace(t), c: c}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.kube.CoreV1().ConfigMaps(r.ns).Create(ctx, ch.configMap(), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = r.kube.AppsV1().StatefulSets(r.ns).Create(ctx, ch.statefulSet(), metav1.CreateOptions{})
	require.NoError(t, err)
	began := time.Now()
	r.stop = c.Follow(r.kube, r.ns, chartSTS)
	t.Logf("Follow's first pass took %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		for _, err := range r.stop() {
			t.Errorf("kubelet: %v", err)
		}
	})
	return r
}

// upgrade applies ch as a Helm upgrade does: the ConfigMap first, then the
// StatefulSet.
func (r *release) upgrade(ch chart) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(r.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := r.kube.CoreV1().ConfigMaps(r.ns).Get(ctx, chartSTS+"-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data = ch.configMap().Data
		_, err = r.kube.CoreV1().ConfigMaps(r.ns).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	}))
	require.NoError(r.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts, err := r.kube.AppsV1().StatefulSets(r.ns).Get(ctx, chartSTS, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := ch.statefulSet()
		sts.Spec.Replicas, sts.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = r.kube.AppsV1().StatefulSets(r.ns).Update(ctx, sts, metav1.UpdateOptions{})
		return err
	}))
}

// waitEvents waits until the events after the first `from` satisfy cond
// and returns them.
func waitEvents(t *testing.T, c *Cluster, from int, timeout time.Duration, what string, cond func([]Event) bool) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var evs []Event
	err := poll(ctx, what, func() bool {
		evs = c.Events()[from:]
		return cond(evs)
	})
	require.NoError(t, err, "events: %v", evs)
	return evs
}

// kinds returns "<kind> <server>" of each event, for comparisons.
func kinds(evs []Event) []string {
	out := make([]string, len(evs))
	for k, e := range evs {
		out[k] = e.Kind + " " + e.Server
	}
	return out
}

// jsz is the part of a server's /jsz answer the tests read.
type jsz struct {
	Config struct {
		MaxMemory int64 `json:"max_memory"`
		MaxStore  int64 `json:"max_storage"`
	} `json:"config"`
}

// monitorJSZ asks a server's monitoring endpoint for /jsz, as an operator
// (or a Prometheus exporter) does.
func monitorJSZ(t *testing.T, c *Cluster, name string) jsz {
	t.Helper()
	u, err := c.MonitorURL(name)
	require.NoError(t, err)
	resp, err := http.Get(u + "/jsz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out jsz
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// whole asserts the meta group has every running server, all current.
func whole(t *testing.T, c *Cluster, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx))
	require.NoError(t, poll(ctx, fmt.Sprintf("a meta group of %d", size), func() bool {
		m, err := metaInfo(c)
		if err != nil || m.Size != size || len(m.Replicas) != size-1 {
			return false
		}
		for _, p := range m.Replicas {
			if !p.Current || p.Offline {
				return false
			}
		}
		return true
	}))
}

// The official chart with podTemplate.configChecksumAnnotation: a changed
// pod template rolls the servers, highest ordinal first, one at a time,
// each back and healthy before the next goes, each on the ConfigMap's new
// nats.conf; an R3 stream keeps every message and the meta group ends
// whole.
func TestFollowRollsTheServersOnATemplateChange(t *testing.T) {
	c := start(t, 3)
	ch := chart{replicas: 3, cluster: true, maxFile: "10Gi", checksum: true}
	began := time.Now()
	r := install(t, c, ch)
	t.Logf("installed and followed in %s", time.Since(began).Round(time.Millisecond))

	// The servers started before Follow with natstest's defaults; Follow
	// brought them to the ConfigMap: max_file_store grows in place, but the
	// chart's max_memory_store 0 is lower than the running 256MiB, which
	// nats-server does not reload, so each server restarted. The meta
	// group is whole again the moment Follow returns: a JetStream request
	// sent while it elected would get no answer (CI: a stream created
	// right after Follow waited out its 30 s).
	assert.True(t, c.ready(), "Follow's first pass returns with a meta leader every server is current with")
	for _, name := range c.ServerNames() {
		js := monitorJSZ(t, c, name)
		assert.Equal(t, int64(10<<30), js.Config.MaxStore, name)
		assert.Equal(t, int64(0), js.Config.MaxMemory, name)
	}
	whole(t, c, 3)

	nc, err := c.Connect()
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3})
	require.NoError(t, err)
	for range 20 {
		_, err := js.Publish(ctx, "orders.new", []byte("o"))
		require.NoError(t, err)
	}

	// A Helm upgrade: a new image and a new max_file_store, which changes
	// the checksum annotation too.
	from := len(c.Events())
	ch.image, ch.maxFile = "nats:2.14.3-alpine", "20Gi"
	began = time.Now()
	r.upgrade(ch)
	require.NoError(t, c.WaitRollout(ctx))
	t.Logf("rolling update of 3 servers took %s", time.Since(began).Round(time.Millisecond))
	evs := c.Events()[from:]
	assert.Equal(t, []string{
		"stop ironflow-nats-2", "start ironflow-nats-2", "ready ironflow-nats-2",
		"stop ironflow-nats-1", "start ironflow-nats-1", "ready ironflow-nats-1",
		"stop ironflow-nats-0", "start ironflow-nats-0", "ready ironflow-nats-0",
	}, kinds(evs), "highest ordinal first, each ready before the next stops")
	for _, e := range evs {
		if e.Kind == EventStart {
			assert.Contains(t, e.Detail, fmt.Sprintf("max_file_store %d", int64(20<<30)), "restarted on the new nats.conf")
		}
	}
	for _, name := range c.ServerNames() {
		assert.Equal(t, int64(20<<30), monitorJSZ(t, c, name).Config.MaxStore, name)
	}
	whole(t, c, 3)
	// Each attempt gets its own short deadline: right after the servers
	// restarted, a request can go unanswered (the reply's interest not yet
	// known to the stream leader's server), and would then wait for all of
	// ctx.
	var msgs uint64
	require.NoError(t, poll(ctx, "ORDERS info", func() bool {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		defer acancel()
		s, err := js.Stream(actx, "ORDERS")
		if err == nil {
			msgs = s.CachedInfo().State.Msgs
		}
		return err == nil
	}))
	assert.Equal(t, uint64(20), msgs, "every message kept")
}

// The official chart's default: the config reloader sidecar and no
// checksum annotation. A ConfigMap change does not roll the pods; every
// server reloads in place, and a higher max_file_store shows in /jsz at
// once. Lower limits are refused by nats-server, as in a real pod: the
// servers run on with the old value. With config.serverNamePrefix the
// servers carry the prefix, the pods do not.
func TestFollowReloadsInPlaceWithTheConfigReloader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Name: chartSTS, ServerNamePrefix: "east-", Size: 3})
	require.NoError(t, err)
	t.Cleanup(c.Shutdown)
	assert.Equal(t, []string{"east-ironflow-nats-0", "east-ironflow-nats-1", "east-ironflow-nats-2"}, c.ServerNames())
	before := map[string]any{}
	for _, name := range c.ServerNames() {
		before[name] = c.Server(name)
	}

	ch := chart{replicas: 3, cluster: true, maxFile: "10Gi", maxMem: "1Gi", prefix: "east-", reloader: true}
	from := len(c.Events())
	r := install(t, c, ch)
	assert.Equal(t, []string{"reload east-ironflow-nats-2", "reload east-ironflow-nats-1", "reload east-ironflow-nats-0"},
		kinds(c.Events()[from:]), "the chart's limits are higher than the defaults: reloaded, not restarted")
	for _, name := range c.ServerNames() {
		assert.Equal(t, int64(10<<30), monitorJSZ(t, c, name).Config.MaxStore, name)
		assert.Equal(t, int64(1<<30), monitorJSZ(t, c, name).Config.MaxMemory, name)
	}

	from = len(c.Events())
	ch.maxFile = "20Gi"
	r.upgrade(ch)
	evs := waitEvents(t, c, from, time.Minute, "three reloads", func(evs []Event) bool { return len(evs) >= 3 })
	assert.Equal(t, []string{"reload east-ironflow-nats-2", "reload east-ironflow-nats-1", "reload east-ironflow-nats-0"}, kinds(evs))
	for _, name := range c.ServerNames() {
		assert.Equal(t, int64(20<<30), monitorJSZ(t, c, name).Config.MaxStore, name)
		assert.Same(t, before[name], c.Server(name), "%s was not restarted", name)
	}

	from = len(c.Events())
	ch.maxFile = "5Gi"
	r.upgrade(ch)
	evs = waitEvents(t, c, from, time.Minute, "three refused reloads", func(evs []Event) bool { return len(evs) >= 3 })
	for _, e := range evs {
		assert.Equal(t, EventReloadRefused, e.Kind)
		assert.Contains(t, e.Detail, "decreasing jetstream max memory and store")
	}
	for _, name := range c.ServerNames() {
		assert.Equal(t, int64(20<<30), monitorJSZ(t, c, name).Config.MaxStore, "%s runs on with its limit", name)
		assert.Same(t, before[name], c.Server(name))
	}

	// Scaling up: the new server starts on the new nats.conf, the others
	// reload their routes; nobody restarts.
	from = len(c.Events())
	ch.replicas, ch.maxFile = 4, "30Gi"
	r.upgrade(ch)
	// Wait for the events themselves: the server is running a moment
	// before its start event is recorded (seen in CI: three reloads and a
	// running -3, its start not yet in the list).
	evs = waitEvents(t, c, from, 2*time.Minute, "a fourth server and three reloads", func(evs []Event) bool {
		reloads, started := 0, false
		for _, e := range evs {
			switch {
			case e.Kind == EventReload:
				reloads++
			case e.Kind == EventStart && e.Server == "east-ironflow-nats-3":
				started = true
			}
		}
		return reloads == 3 && started
	})
	assert.ElementsMatch(t, []string{"start east-ironflow-nats-3", "reload east-ironflow-nats-2", "reload east-ironflow-nats-1", "reload east-ironflow-nats-0"}, kinds(evs))
	for _, e := range evs {
		assert.Contains(t, e.Detail, "routes to ordinals [0 1 2 3]")
	}
	whole(t, c, 4)
	for _, name := range c.ServerNames() {
		assert.Equal(t, int64(30<<30), monitorJSZ(t, c, name).Config.MaxStore, name)
	}
	m := metaCluster(t, c)
	assert.True(t, strings.HasPrefix(m.Leader, "east-ironflow-nats-"), m.Leader)
	require.NoError(t, c.WaitRollout(ctx), "four servers on the one template")

	r.stop()
	assert.ErrorContains(t, c.WaitRollout(ctx), "needs Follow running")
}

// A chart whose server names carry a prefix natstest was not given: Follow
// says so instead of running servers under names the chart does not use.
func TestFollowReportsAServerNameItDoesNotUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := start(t, 3)
	env := testenv.Shared()
	ns := env.Namespace(t)
	ch := chart{replicas: 3, cluster: true, maxFile: "1Gi", maxMem: "256Mi", prefix: "west-"}
	_, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, ch.configMap(), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.Client.AppsV1().StatefulSets(ns).Create(ctx, ch.statefulSet(), metav1.CreateOptions{})
	require.NoError(t, err)
	errs := c.Follow(env.Client, ns, chartSTS)()
	require.Len(t, errs, 3, "%v", errs)
	for i, err := range errs {
		assert.ErrorContains(t, err, fmt.Sprintf(`pod ironflow-nats-%d: nats.conf names its server "west-ironflow-nats-%d" but natstest names it "ironflow-nats-%d"`, 2-i, 2-i, 2-i))
	}
	assert.Equal(t, []string{"ironflow-nats-0", "ironflow-nats-1", "ironflow-nats-2"}, c.ServerNames(), "running on, under natstest's names")
}

// handWritten renders the reference chart's nats.conf from before it
// followed the official chart: the classic "cluster { ... }" syntax.
func handWritten(replicas int, cluster bool, maxFile string) string {
	var b strings.Builder
	b.WriteString("# $POD_NAME is resolved by nats-server from the container environment.\nserver_name: $POD_NAME\nport: 4222\nhttp_port: 8222\npid_file: /var/run/nats.pid\nlame_duck_grace_period: 10s\nlame_duck_duration: 30s\n")
	if cluster {
		b.WriteString("\ncluster {\n  name: ironflow-nats\n  port: 6222\n  no_advertise: true\n  routes: [\n")
		for i := range replicas {
			fmt.Fprintf(&b, "    nats://%s-%d.%s-headless:6222\n", chartSTS, i, chartSTS)
		}
		b.WriteString("  ]\n}\n")
	}
	fmt.Fprintf(&b, "\njetstream {\n  store_dir: \"/data\"\n  max_file_store: %s\n}\n", maxFile)
	return b.String()
}

// The reference chart's old objects (hand-written nats.conf, $POD_NAME,
// checksum annotation, no reloader) keep working: the servers take its
// max_file_store, and turning clustering off with one replica leaves
// ordinal 0 running standalone, serving JetStream from its store.
func TestFollowTheHandWrittenConfig(t *testing.T) {
	c := start(t, 3)
	env := testenv.Shared()
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sts := func(replicas int, conf string) *appsv1.StatefulSet {
		s := chart{replicas: replicas, cluster: true}.statefulSet()
		sum := sha256.Sum256([]byte(conf))
		s.Spec.Template.Annotations = map[string]string{"checksum/config": hex.EncodeToString(sum[:])}
		s.Spec.Template.Spec.Containers[0].Env = s.Spec.Template.Spec.Containers[0].Env[:1] // POD_NAME only
		return s
	}
	conf := handWritten(3, true, "10Gi")
	_, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: chartSTS + "-config"}, Data: map[string]string{"nats.conf": conf},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.Client.AppsV1().StatefulSets(ns).Create(ctx, sts(3, conf), metav1.CreateOptions{})
	require.NoError(t, err)
	from := len(c.Events())
	stop := c.Follow(env.Client, ns, chartSTS)
	t.Cleanup(func() {
		for _, err := range stop() {
			t.Errorf("kubelet: %v", err)
		}
	})
	assert.Equal(t, []string{"reload ironflow-nats-2", "reload ironflow-nats-1", "reload ironflow-nats-0"}, kinds(c.Events()[from:]))
	for _, name := range c.ServerNames() {
		js := monitorJSZ(t, c, name)
		assert.Equal(t, int64(10<<30), js.Config.MaxStore, name)
		assert.Equal(t, int64(DefaultMaxMemoryStore), js.Config.MaxMemory, "%s: not in the config, natstest's default", name)
	}

	from = len(c.Events())
	conf = handWritten(1, false, "10Gi")
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := env.Client.CoreV1().ConfigMaps(ns).Get(ctx, chartSTS+"-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["nats.conf"] = conf
		_, err = env.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	}))
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := env.Client.AppsV1().StatefulSets(ns).Get(ctx, chartSTS, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := sts(1, conf)
		s.Spec.Replicas, s.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = env.Client.AppsV1().StatefulSets(ns).Update(ctx, s, metav1.UpdateOptions{})
		return err
	}))
	require.NoError(t, c.WaitRollout(ctx))
	evs := c.Events()[from:]
	assert.Equal(t, []string{"stop ironflow-nats-2", "stop ironflow-nats-1", "stop ironflow-nats-0", "start ironflow-nats-0", "ready ironflow-nats-0"}, kinds(evs))
	assert.Equal(t, []string{"ironflow-nats-0"}, c.ServerNames())
	s := c.Server("ironflow-nats-0")
	assert.False(t, s.JetStreamIsClustered(), "clustering off")
	assert.Equal(t, int64(10<<30), monitorJSZ(t, c, "ironflow-nats-0").Config.MaxStore)

	nc, err := c.Connect()
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "SOLO", Subjects: []string{"solo.>"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "solo.x", []byte("m"))
	require.NoError(t, err)
}
