package natstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling/internal/await"
)

// Bounds of Follow's waits. A StatefulSet's rolling update would wait as
// long as the startup probe allows (15 minutes in the official chart); a
// test wants to hear much sooner that a server does not come back.
const (
	// rolloutTimeout bounds the wait for one restarted server to be ready.
	rolloutTimeout = 2 * time.Minute
	// scaleTimeout bounds one ScaleTo.
	scaleTimeout = 2 * time.Minute
	// syncTimeout bounds how long Follow waits for its first pass.
	syncTimeout = 3 * time.Minute
	// getTimeout bounds reading a ConfigMap for a starting server.
	getTimeout = 10 * time.Second
)

// Follow plays the kubelet, the StatefulSet controller's rolling update and
// the official chart's config reloader for the cluster's servers, so that
// one Helm upgrade or one deleted claim drives both the Kubernetes objects
// and the real servers. It watches the StatefulSet namespace/name, its
// ConfigMap and the claims, and:
//
//   - Replicas: when spec.replicas changes it starts or stops servers
//     (ScaleTo: highest ordinal first, as the StatefulSet removes pods).
//   - Configuration: every server started while following (scale-up,
//     restart, Restart or Add called by the test) reads its pod's nats.conf
//     the way the kubelet mounts it: the ConfigMap of the volume mounted
//     where the "nats" container's --config points (the official chart's
//     "<name>-config", key nats.conf), read from the API server at that
//     moment, parsed by nats-server's own parser in either syntax (ParseConf)
//     with the container's environment for variables ($POD_NAME, and
//     $SERVER_NAME, which the official chart sets to config.serverNamePrefix
//     followed by the pod name). The config must name the server Name(i):
//     a different server_name (a prefix natstest was not given) is reported
//     as an error, and the server runs under natstest's name.
//   - Honoured settings: the cluster block (clustering on or off); its
//     routes, mapped to ordinals through the pod names in their hosts
//     ("nats://<name>-<i>.<headless>:6222"; routes to other hosts are
//     ignored, and if none maps the default routes are used); JetStream on
//     or off; jetstream max_file_store and max_memory_store (natstest's
//     DefaultMaxFileStore and DefaultMaxMemoryStore where the config does
//     not set them, not nats-server's sizing from the machine). Not
//     honoured, natstest owns them: listen addresses and ports (loopback
//     ports allocated by Start), store_dir, the cluster name, accounts,
//     authorization and TLS, pid_file, lame duck settings, logging,
//     gateways, leaf nodes, websocket and MQTT.
//   - Pod template changes (any change: image, args, resources, env, a
//     checksum/config annotation...): the StatefulSet controller rolls the
//     pods, so Follow restarts every running server that runs an older
//     template, highest ordinal first, one at a time, each with its
//     nats.conf as the ConfigMap now says, and waits until the restarted
//     server is routed to the others and answers /healthz (the chart's
//     startup probe: JetStream current, its streams current) before the
//     next, as the rolling update waits for the pod to be ready; nor does
//     it take a server down while another is being restarted or has not
//     been healthy since it started (a new volume still copying its
//     streams). Honoured from the update strategy: OnDelete (nothing
//     rolls) and a RollingUpdate partition (only ordinals at or above it
//     roll); maxUnavailable is not (always one at a time). The test
//     environment's pods (KWOK's) are ready at once, so the StatefulSet's
//     status says nothing of this rollout: WaitRollout does.
//   - Config reloader: when the pod template has the reloader sidecar (a
//     container named "reloader" or running nats-server-config-reloader, the
//     official chart's reloader.enabled) a change of nats.conf is applied to
//     every running server in place (nats-server's reload, the sidecar's
//     SIGHUP): routes and higher JetStream limits change at once. Settings
//     nats-server cannot reload (clustering on or off, lower JetStream
//     limits, JetStream limits that were unset) are refused as a real server
//     refuses them: the server keeps running with its old settings until
//     it restarts, and Events has an EventReloadRefused with nats-server's
//     reason. Without the sidecar a ConfigMap change alone leaves running
//     servers alone (nats-server does not watch its file); the official
//     chart's checksum/config annotation turns the change into a template
//     change, so a rolling update. With both, the rolling update comes
//     first and the reload finds nothing left to change.
//   - First sight of the StatefulSet: the servers started before Follow are
//     taken to run its current template, and are brought to its nats.conf
//     as if their pods had started with it: reloaded, or restarted one at a
//     time where nats-server refuses the reload.
//   - Claims: when a server's claim ("<template>-<name>-<i>") is replaced by
//     a new one, the server restarts on an empty store, as a pod that mounts
//     a new volume; at once, even during a rolling update (between two of
//     its steps at worst, when it is the server being restarted).
//
// Follow returns once that first pass is done, so the servers already run
// the ConfigMap's settings and, where it restarted any, the meta group has
// a leader again that every server is current with (as after Start). The returned stop ends following and returns
// what went wrong meanwhile (each distinct error once); call it before
// Shutdown, and before following another StatefulSet (a cluster follows one
// at a time). kube is any kubernetes.Interface: a real API server's client,
// or client-go's fake clientset for a unit test (whose pods nobody runs, so
// only the StatefulSet, its ConfigMap and claims matter).
func (c *Cluster) Follow(kube kubernetes.Interface, namespace, name string) (stop func() []error) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{c: c, kube: kube, namespace: namespace, name: name, ctx: ctx, revs: map[int]string{}, ops: map[int]*sync.Mutex{}, starting: map[int]bool{}}
	c.mu.Lock()
	c.following = f
	c.mu.Unlock()
	var wg sync.WaitGroup
	synced := make(chan struct{})
	var once sync.Once
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer once.Do(func() { close(synced) })
		sts := kube.AppsV1().StatefulSets(namespace)
		cms := kube.CoreV1().ConfigMaps(namespace)
		sources := []await.Source{
			await.Typed(kube, "nats", &appsv1.StatefulSet{}, sts.List, sts.Watch, await.ByName(name)),
			await.Typed(kube, "configmaps", &corev1.ConfigMap{}, cms.List, cms.Watch, metav1.ListOptions{}),
		}
		l := &loop{f: f, mirrored: len(c.ServerNames())}
		_ = await.Until(ctx, sources, func(s await.Stores) (bool, error) {
			l.step(s)
			once.Do(func() { close(synced) })
			return false, nil
		})
	}()
	// Claims have a loop of their own: a replaced volume must take its
	// server down at once, as deleting the pod does, even while a rolling
	// update waits for a server, or a caller waiting for the server to come
	// back would see the old one still there.
	go func() {
		defer wg.Done()
		pvcs := kube.CoreV1().PersistentVolumeClaims(namespace)
		sources := []await.Source{await.Typed(kube, "claims", &corev1.PersistentVolumeClaim{}, pvcs.List, pvcs.Watch, metav1.ListOptions{})}
		claims := map[string]types.UID{}
		_ = await.Until(ctx, sources, func(s await.Stores) (bool, error) {
			for _, pvc := range await.List[*corev1.PersistentVolumeClaim](s[0]) {
				i, ok := claimOrdinal(pvc.Name, name)
				if !ok || pvc.DeletionTimestamp != nil {
					continue
				}
				if old, seen := claims[pvc.Name]; seen && old != pvc.UID && c.Server(c.Name(i)) != nil {
					f.fail(f.replaceVolume(i))
				}
				claims[pvc.Name] = pvc.UID
			}
			return false, nil
		})
	}()
	select {
	case <-synced:
	case <-time.After(syncTimeout):
		f.fail(fmt.Errorf("natstest: Follow's first pass over %s/%s did not finish within %s", namespace, name, syncTimeout))
	}
	return func() []error {
		cancel()
		wg.Wait()
		c.mu.Lock()
		c.following = nil
		c.mu.Unlock()
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.errs
	}
}

// WaitRollout waits until the servers run what the followed StatefulSet
// says: one per replica, each on its current pod template (where its update
// strategy rolls it), none being restarted and every one started since
// healthy once. It is what `kubectl rollout status` tells of real pods,
// which the test environment's pods (KWOK's, ready at once) cannot: wait on
// it before reading the cluster "as an operator finds it some time later".
// It waits for ctx if a server the StatefulSet counts was stopped by hand,
// and fails at once when Follow is not running.
func (c *Cluster) WaitRollout(ctx context.Context) error {
	c.mu.Lock()
	f := c.following
	c.mu.Unlock()
	if f == nil {
		return fmt.Errorf("natstest: WaitRollout needs Follow running: %w", ErrNotFollowing)
	}
	return poll(ctx, "the servers to run the StatefulSet's rollout", func() bool {
		gctx, cancel := context.WithTimeout(ctx, getTimeout)
		defer cancel()
		sts, err := f.kube.AppsV1().StatefulSets(f.namespace).Get(gctx, f.name, metav1.GetOptions{})
		return err == nil && f.rolledOut(sts)
	})
}

// rolledOut says whether the servers run sts, as WaitRollout describes.
func (f *follower) rolledOut(sts *appsv1.StatefulSet) bool {
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	running := f.running()
	if len(running) != replicas || (replicas > 0 && running[0] != replicas-1) {
		return false
	}
	rev := templateRevision(&sts.Spec.Template)
	partition := 0
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	rolls := sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rev != rev || f.busy > 0 {
		return false
	}
	for _, i := range running {
		if rolls && i >= partition && f.revs[i] != rev {
			return false
		}
		if f.starting[i] {
			if !f.c.healthy(i) {
				return false
			}
			delete(f.starting, i)
		}
	}
	return true
}

// follower is Follow's state shared by its loops and the servers' starts.
type follower struct {
	c               *Cluster
	kube            kubernetes.Interface
	namespace, name string
	ctx             context.Context

	mu sync.Mutex
	// sts is the StatefulSet last seen and rev its template's revision.
	sts *appsv1.StatefulSet
	rev string
	// revs is the template revision each server was started with.
	revs map[int]string
	// ops serialises what Follow does to one server (a pod's kubelet does
	// one thing at a time); busy counts the servers being restarted.
	ops  map[int]*sync.Mutex
	busy int
	// starting holds the servers started while following that have not
	// been healthy yet (a pod before its startup probe passed).
	starting map[int]bool
	errs     []error
}

// loop is the state of Follow's watch loop over the StatefulSet and its
// ConfigMap.
type loop struct {
	f        *follower
	mirrored int
	// text and exists are the nats.conf last seen in the ConfigMap.
	text   string
	exists bool
}

func (f *follower) fail(err error) {
	if err == nil || f.ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.errs {
		if e.Error() == err.Error() {
			return
		}
	}
	f.errs = append(f.errs, err)
}

// operate runs op on server i, alone among Follow's operations on it, and
// counted busy meanwhile.
func (f *follower) operate(i int, op func() error) error {
	f.mu.Lock()
	m, ok := f.ops[i]
	if !ok {
		m = &sync.Mutex{}
		f.ops[i] = m
	}
	f.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	f.mu.Lock()
	f.busy++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.busy--
		f.mu.Unlock()
	}()
	return op()
}

// replaceVolume restarts server i on an empty store.
func (f *follower) replaceVolume(i int) error {
	return f.operate(i, func() error {
		if f.c.Server(f.c.Name(i)) == nil {
			return nil
		}
		return f.c.replaceVolume(f.ctx, f.c.Name(i))
	})
}

func (l *loop) step(s await.Stores) {
	f, c := l.f, l.f.c
	var sts *appsv1.StatefulSet
	for _, o := range await.List[*appsv1.StatefulSet](s[0]) {
		sts = o
	}
	if sts == nil {
		// Not created yet, or deleted (orphaning its pods): the servers
		// run on as they are.
		return
	}
	first := f.observe(sts)
	if sts.Spec.Replicas != nil && int(*sts.Spec.Replicas) != l.mirrored {
		l.mirrored = int(*sts.Spec.Replicas)
		ctx, cancel := context.WithTimeout(f.ctx, scaleTimeout)
		f.fail(c.ScaleTo(ctx, l.mirrored))
		cancel()
	}
	text, exists := f.cachedConfig(s[1], sts)
	if first {
		l.text, l.exists = text, exists
		f.sync()
		return
	}
	f.roll(sts)
	if text != l.text || exists != l.exists {
		l.text, l.exists = text, exists
		if hasReloader(&sts.Spec.Template.Spec) {
			f.reloadAll(text, exists)
		}
	}
}

// observe records the StatefulSet; on its first sight the running servers
// are taken to run its template. It returns whether this is the first sight.
func (f *follower) observe(sts *appsv1.StatefulSet) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.sts == nil
	f.sts, f.rev = sts, templateRevision(&sts.Spec.Template)
	if first {
		for _, name := range f.c.ServerNames() {
			if i, err := f.c.ordinal("follow", name); err == nil {
				f.revs[i] = f.rev
			}
		}
	}
	return first
}

// configure gives the settings of a starting server: its pod's nats.conf,
// read from the API server now, as the kubelet mounts it into a new pod.
func (f *follower) configure(i int) (settings, error) {
	f.mu.Lock()
	sts, rev := f.sts, f.rev
	f.mu.Unlock()
	if sts == nil {
		return f.c.defaultSettings(i), nil
	}
	text, exists, err := f.fetchConfig(sts)
	if err != nil {
		return settings{}, err
	}
	st, err := f.settingsFrom(sts, text, exists, i)
	if err != nil {
		return settings{}, err
	}
	f.mu.Lock()
	f.revs[i] = rev
	f.starting[i] = true
	f.mu.Unlock()
	return st, nil
}

// sync brings the servers running at Follow's first sight of the
// StatefulSet to its nats.conf: a reload where nats-server takes it, a
// restart where it refuses.
func (f *follower) sync() {
	f.mu.Lock()
	sts := f.sts
	f.mu.Unlock()
	text, exists, err := f.fetchConfig(sts)
	if err != nil {
		f.fail(err)
		return
	}
	restarted := false
	for _, i := range f.running() {
		want, err := f.settingsFrom(sts, text, exists, i)
		if err != nil {
			f.fail(err)
			return
		}
		if f.c.appliedSettings(i).equal(want) {
			continue
		}
		refused, err := f.c.reload(i, want)
		if err != nil {
			f.fail(err)
			continue
		}
		if refused != nil {
			if err := f.restart(i); err != nil {
				f.fail(fmt.Errorf("natstest: restarting %s on its configuration: %w", f.c.Name(i), err))
				return
			}
			restarted = true
		}
	}
	if !restarted {
		return
	}
	// Pods that started with this nats.conf would have formed the cluster
	// once; the restarts here took the meta leader down on the way, and a
	// JetStream API request sent before the group elects again gets no
	// answer at all (the caller waits out its deadline: seen in CI, a
	// stream created right after Follow). So the first pass ends, as
	// Start does, when the group has a leader every server is current with.
	ctx, cancel := context.WithTimeout(f.ctx, rolloutTimeout)
	defer cancel()
	if err := f.c.WaitReady(ctx); err != nil {
		f.fail(fmt.Errorf("natstest: the cluster after restarting its servers on their configuration: %w", err))
	}
}

// roll restarts, highest ordinal first and one at a time, every running
// server that runs an older pod template than the StatefulSet's, as its
// rolling update does.
func (f *follower) roll(sts *appsv1.StatefulSet) {
	if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return
	}
	partition := 0
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for _, i := range f.running() {
		f.mu.Lock()
		outdated := f.revs[i] != f.rev
		f.mu.Unlock()
		if i < partition || !outdated || f.c.Server(f.c.Name(i)) == nil {
			continue
		}
		if err := f.restart(i); err != nil {
			// The rolling update stops here, as the StatefulSet's does
			// on a pod that does not become ready; the next change of
			// the StatefulSet tries again.
			f.fail(fmt.Errorf("natstest: rolling update of %s: %w", f.c.Name(i), err))
			return
		}
	}
}

// restart stops server i, starts it with its pod's nats.conf and waits
// until it is ready. Like a rolling update, it first waits until no other
// server is being restarted and every server started while following has
// been healthy once: the StatefulSet's controller takes down no pod while
// another is not ready, and a new pod is not ready before its startup probe
// (/healthz) passed; a server on a replaced volume, say, not before it has
// copied its streams back. A server that passed it counts as ready from
// then on (the chart's readiness probe, /healthz?js-server-only=true, asks
// little more than that it accepts connections).
func (f *follower) restart(i int) error {
	ctx, cancel := context.WithTimeout(f.ctx, rolloutTimeout)
	defer cancel()
	err := poll(ctx, "every server ready before restarting "+f.c.Name(i), func() bool {
		f.mu.Lock()
		busy, starting := f.busy, maps.Clone(f.starting)
		f.mu.Unlock()
		if busy > 0 {
			return false
		}
		for _, j := range f.running() {
			if !starting[j] {
				continue
			}
			if !f.c.healthy(j) {
				return false
			}
			f.mu.Lock()
			delete(f.starting, j)
			f.mu.Unlock()
		}
		return true
	})
	if err != nil {
		return err
	}
	return f.operate(i, func() error {
		name := f.c.Name(i)
		if err := f.c.Stop(name); err != nil {
			return err
		}
		if err := f.c.startOrdinal(i); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(f.ctx, rolloutTimeout)
		defer cancel()
		if err := f.c.waitHealthy(ctx, i); err != nil {
			return err
		}
		f.mu.Lock()
		delete(f.starting, i)
		f.mu.Unlock()
		f.c.mu.Lock()
		f.c.event(i, EventReady, "")
		f.c.mu.Unlock()
		return nil
	})
}

// reloadAll applies a changed nats.conf to every running server in place,
// as the config reloader does.
func (f *follower) reloadAll(text string, exists bool) {
	f.mu.Lock()
	sts := f.sts
	f.mu.Unlock()
	for _, i := range f.running() {
		want, err := f.settingsFrom(sts, text, exists, i)
		if err != nil {
			// nats-server refuses a config it cannot read and runs on;
			// a restart would fail, so it is an error of the test.
			f.c.mu.Lock()
			f.c.event(i, EventReloadRefused, err.Error())
			f.c.mu.Unlock()
			f.fail(err)
			continue
		}
		if f.c.appliedSettings(i).equal(want) {
			continue
		}
		refused, err := f.c.reload(i, want)
		f.fail(err)
		if refused != nil && f.c.opts.Logger != nil {
			f.c.opts.Logger.Warnf("natstest: %s refused to reload its configuration: %v", f.c.Name(i), refused)
		}
	}
}

// running returns the running ordinals, highest first.
func (f *follower) running() []int {
	var ords []int
	for _, name := range f.c.ServerNames() {
		if i, err := f.c.ordinal("follow", name); err == nil {
			ords = append(ords, i)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ords)))
	return ords
}

// settingsFrom reads the settings of server i from a nats.conf (the
// defaults when the ConfigMap or its key does not exist).
func (f *follower) settingsFrom(sts *appsv1.StatefulSet, text string, exists bool, i int) (settings, error) {
	c := f.c
	st := c.defaultSettings(i)
	if !exists {
		return st, nil
	}
	pod := c.Pod(i)
	vars := map[string]string{"POD_NAME": pod, "SERVER_NAME": c.Name(i)}
	if ctr := natsContainer(&sts.Spec.Template.Spec); ctr != nil {
		for k, v := range expandEnv(ctr.Env, pod, f.namespace) {
			vars[k] = v
		}
	}
	conf, err := ParseConf(text, vars)
	if err != nil {
		return st, fmt.Errorf("natstest: nats.conf of pod %s: %w", pod, err)
	}
	if conf.ServerName != "" && conf.ServerName != c.Name(i) {
		f.fail(fmt.Errorf("natstest: pod %s: nats.conf names its server %q but natstest names it %q (Options.ServerNamePrefix is %q)",
			pod, conf.ServerName, c.Name(i), c.opts.ServerNamePrefix))
	}
	st.cluster, st.jetstream = conf.Cluster, conf.JetStream
	if conf.MaxFileStore >= 0 {
		st.maxFile = conf.MaxFileStore
	}
	if conf.MaxMemoryStore >= 0 {
		st.maxMem = conf.MaxMemoryStore
	}
	if routes := c.routeOrdinals(conf.Routes); routes != nil || len(conf.Routes) == 0 {
		st.routes = routes
	}
	if !st.cluster {
		st.routes = nil
	}
	return st, nil
}

// routeOrdinals maps route URLs to the ordinals of the pods they name, in
// order; nil when none does.
func (c *Cluster) routeOrdinals(routes []string) []int {
	var ords []int
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			continue
		}
		host, _, _ := strings.Cut(u.Hostname(), ".")
		if i, ok := c.podOrdinal(host); ok && !slices.Contains(ords, i) {
			ords = append(ords, i)
		}
	}
	slices.Sort(ords)
	return ords
}

// cachedConfig returns the pod template's nats.conf from the watched
// ConfigMaps.
func (f *follower) cachedConfig(store interface{ List() []any }, sts *appsv1.StatefulSet) (string, bool) {
	name, key := configSource(sts)
	for _, obj := range store.List() {
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == name {
			text, ok := cm.Data[key]
			return text, ok
		}
	}
	return "", false
}

// fetchConfig reads the pod template's nats.conf from the API server. The
// read does not end with Follow: a server being restarted when stop is
// called still comes back.
func (f *follower) fetchConfig(sts *appsv1.StatefulSet) (string, bool, error) {
	name, key := configSource(sts)
	ctx, cancel := context.WithTimeout(context.Background(), getTimeout)
	defer cancel()
	cm, err := f.kube.CoreV1().ConfigMaps(f.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("natstest: reading ConfigMap %s: %w", name, err)
	}
	text, ok := cm.Data[key]
	return text, ok, nil
}

// configSource returns the ConfigMap and key the pod template mounts as the
// nats container's --config file; by default the official chart's
// "<name>-config" and nats.conf.
func configSource(sts *appsv1.StatefulSet) (configMap, key string) {
	configMap, key = sts.Name+"-config", "nats.conf"
	spec := &sts.Spec.Template.Spec
	ctr := natsContainer(spec)
	if ctr == nil {
		return configMap, key
	}
	file := "/etc/nats-config/nats.conf"
	for k, a := range ctr.Args {
		switch {
		case (a == "--config" || a == "-config" || a == "-c") && k+1 < len(ctr.Args):
			file = ctr.Args[k+1]
		case strings.HasPrefix(a, "--config="):
			file = strings.TrimPrefix(a, "--config=")
		}
	}
	file = path.Clean(file)
	var volume string
	key = path.Base(file)
	for _, m := range ctr.VolumeMounts {
		switch {
		case path.Clean(m.MountPath) == path.Dir(file) && m.SubPath == "":
			volume = m.Name
		case path.Clean(m.MountPath) == file && m.SubPath != "":
			volume, key = m.Name, m.SubPath
		}
	}
	for _, v := range spec.Volumes {
		if v.Name != volume || volume == "" || v.ConfigMap == nil {
			continue
		}
		configMap = v.ConfigMap.Name
		for _, it := range v.ConfigMap.Items {
			if it.Path == key {
				key = it.Key
			}
		}
	}
	return configMap, key
}

// natsContainer returns the pod's nats-server container: the one named
// "nats", else the first.
func natsContainer(spec *corev1.PodSpec) *corev1.Container {
	for k := range spec.Containers {
		if spec.Containers[k].Name == "nats" {
			return &spec.Containers[k]
		}
	}
	if len(spec.Containers) > 0 {
		return &spec.Containers[0]
	}
	return nil
}

// hasReloader says whether the pod runs the config reloader sidecar.
func hasReloader(spec *corev1.PodSpec) bool {
	for _, ctr := range slices.Concat(spec.Containers, spec.InitContainers) {
		if ctr.Name == "reloader" || strings.Contains(ctr.Image, "nats-server-config-reloader") {
			return true
		}
	}
	return false
}

// templateRevision identifies a pod template, as the StatefulSet's
// controller revisions do: any change makes a new one.
func templateRevision(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// claimOrdinal returns the ordinal of a claim named "<template>-<sts>-<i>".
func claimOrdinal(claim, sts string) (int, bool) {
	k := strings.LastIndex(claim, "-")
	if k < 0 || !strings.HasSuffix(claim[:k], "-"+sts) {
		return 0, false
	}
	i, err := strconv.Atoi(claim[k+1:])
	return i, err == nil
}

// replaceVolume restarts a server on an empty store.
func (c *Cluster) replaceVolume(ctx context.Context, name string) error {
	if err := c.Stop(name); err != nil {
		return err
	}
	if err := c.Wipe(name); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	defer cancel()
	return c.Restart(rctx, name)
}
