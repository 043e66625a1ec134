package scale_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

const appSelector = "app.kubernetes.io/name=ironflow"

// BenchmarkVerifyLatency measures how long after the last pod of the new
// state turns Ready a 3 -> 5 Verify returns. Each iteration scales a fresh
// release, so every sample starts from the same state (3 Ready pods, one
// revision) instead of carrying an ever longer release history.
// Reported: median-ms and max-ms of that latency.
func BenchmarkVerifyLatency(b *testing.B) {
	var (
		samples, reacting []time.Duration
		details           []string
		late              int
	)
	for b.Loop() {
		b.StopTimer()
		e := newRealEnv(b, appOnly(3))
		w := watchReady(b, e.ns)
		w.waitReady(b, 3, time.Minute)
		// Verify's first check event comes from its first evaluation after
		// its watches synced: from then on it is reacting to events, before
		// that a Ready pod costs it its start-up (release read, lists).
		var watching time.Time
		client, err := scale.New(e.cluster, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}, Progress: func(ev scaling.Event) {
			if ev.Kind == scaling.CheckObserved && watching.IsZero() {
				watching = time.Now()
			}
		}})
		require.NoError(b, err)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		b.StartTimer()

		plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: e.ns, Release: release, Replicas: 5})
		require.NoError(b, err)
		require.Empty(b, plan.Blocking(), plan.String())
		_, err = client.Apply(ctx, plan)
		applied := time.Now()
		require.NoError(b, err)
		type result struct {
			v    *scaling.Verification
			err  error
			done time.Time
		}
		res := make(chan result, 1)
		go func() {
			v, err := client.Verify(ctx, plan)
			res <- result{v, err, time.Now()}
		}()
		r := <-res

		b.StopTimer()
		require.NoError(b, r.err)
		require.Equal(b, scaling.Succeeded, r.v.Phase, r.v.String())
		// Verify may return before this watch has delivered the last Ready
		// event: wait for it rather than reading a stale 4.
		lastReady := slices.MaxFunc(w.waitReady(b, 5, 30*time.Second), time.Time.Compare)
		lat := r.done.Sub(lastReady)
		if lat < 0 {
			late++
			lat = 0
		}
		samples = append(samples, lat)
		if lastReady.After(watching) {
			reacting = append(reacting, lat)
		}
		details = append(details, fmt.Sprintf("sample %d: latency %v (raw %v); last Ready %v after Apply returned, %v after Verify started, %v after Verify was watching; Verify took %v",
			len(samples), lat, r.done.Sub(lastReady), lastReady.Sub(applied), lastReady.Sub(r.v.Started), lastReady.Sub(watching), r.v.Duration))
		cancel()
		w.stop()
		deleteNamespace(b, e.ns)
		b.StartTimer()
	}
	// The framework keeps 10 lines of a benchmark's log without -v: the
	// summary goes first.
	b.Logf("latency ms per sample: %s", msList(samples))
	b.Logf("%d of %d samples clamped to 0 (Verify returned before the independent watch saw the last Ready)", late, len(samples))
	reactMax := time.Duration(0)
	if len(reacting) > 0 {
		reactMax = slices.Max(reacting)
	}
	b.Logf("%d of %d samples had the last pod turn Ready after Verify was watching: median %.1f ms, max %.1f ms; the others include Verify's start-up",
		len(reacting), len(samples), ms(median(reacting)), ms(reactMax))
	for _, d := range details {
		b.Log(d)
	}
	b.ReportMetric(ms(median(samples)), "median-ms")
	b.ReportMetric(ms(slices.Max(samples)), "max-ms")
}

// BenchmarkReplicasVsHelmCLI compares the SDK's Plan+Apply+Verify of a
// 3 -> 5 scale with what the runbook does by hand: `helm upgrade
// --reuse-values --set replicaCount=5 --wait` with the real helm CLI, each
// on its own fresh release. Reported: sdk-ms and helm-ms (medians, wall
// time) and ratio = sdk-ms / helm-ms.
func BenchmarkReplicasVsHelmCLI(b *testing.B) {
	helm := buildHelm(b)
	env := testenv.Shared()
	require.NotNil(b, env)
	helmEnv := append(os.Environ(),
		"HELM_CACHE_HOME="+b.TempDir(), "HELM_CONFIG_HOME="+b.TempDir(), "HELM_DATA_HOME="+b.TempDir())
	var (
		sdk, cli []time.Duration
		early    []int
	)
	for b.Loop() {
		b.StopTimer()
		se := newRealEnv(b, appOnly(3))
		he := newRealEnv(b, appOnly(3))
		sw, hw := watchReady(b, se.ns), watchReady(b, he.ns)
		sw.waitReady(b, 3, time.Minute)
		hw.waitReady(b, 3, time.Minute)
		b.StartTimer()

		runSDK := func() time.Duration {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			t0 := time.Now()
			plan, err := se.client.PlanReplicas(ctx, scale.Replicas{Namespace: se.ns, Release: release, Replicas: 5})
			require.NoError(b, err)
			_, err = se.client.Apply(ctx, plan)
			require.NoError(b, err)
			v, err := se.client.Verify(ctx, plan)
			d := time.Since(t0)
			require.NoError(b, err)
			require.Equal(b, scaling.Succeeded, v.Phase, v.String())
			return d
		}
		runHelm := func() time.Duration {
			cmd := exec.Command(helm, "upgrade", release, testenv.ChartPath("ironflow"),
				"--namespace", he.ns, "--reuse-values", "--set", "replicaCount=5",
				"--wait", "--timeout", "2m", "--kubeconfig", env.Kubeconfig)
			cmd.Env = helmEnv
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(t0)
			require.NoError(b, err, "%s", out)
			return d
		}
		// Alternating the order keeps whatever the first run leaves behind
		// (controller queues, API server caches) from favouring one side.
		var sd, hd time.Duration
		if len(sdk)%2 == 0 {
			sd, hd = runSDK(), runHelm()
		} else {
			hd, sd = runHelm(), runSDK()
		}

		b.StopTimer()
		// helm's --wait accepts a Deployment with spec.replicas minus
		// maxUnavailable Ready pods, so it can finish before all 5 are:
		// count how often, or its time flatters it.
		if n := hw.count(); n < 5 {
			early = append(early, n)
		}
		sdk, cli = append(sdk, sd), append(cli, hd)
		hw.waitReady(b, 5, time.Minute)
		sw.stop()
		hw.stop()
		deleteNamespace(b, se.ns)
		deleteNamespace(b, he.ns)
		b.StartTimer()
	}
	b.Logf("sdk ms per sample:  %s", msList(sdk))
	b.Logf("helm ms per sample: %s", msList(cli))
	b.Logf("helm returned before all 5 pods were Ready in %d of %d samples %v", len(early), len(cli), early)
	s, h := median(sdk), median(cli)
	b.ReportMetric(ms(s), "sdk-ms")
	b.ReportMetric(ms(h), "helm-ms")
	b.ReportMetric(float64(s)/float64(h), "ratio")
}

// buildHelm is the helm CLI of the version this module requires.
func buildHelm(b *testing.B) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := testenv.HelmBinary(ctx)
	require.NoError(b, err)
	return bin
}

// readyWatch records when it sees each app pod of a namespace turn Ready.
// It is a raw watch of its own, apart from the SDK's informers, so its
// clock is not the one being measured; condition timestamps would do, but
// they have one-second resolution.
type readyWatch struct {
	mu      sync.Mutex
	readyAt map[string]time.Time
	changed chan struct{}
	closed  bool
	cancel  context.CancelFunc
}

func watchReady(b *testing.B, ns string) *readyWatch {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pods := testenv.Shared().Client.CoreV1().Pods(ns)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: appSelector})
	if err != nil {
		cancel()
		b.Fatalf("listing pods: %v", err)
	}
	w := &readyWatch{readyAt: map[string]time.Time{}, changed: make(chan struct{}, 1), cancel: cancel}
	now := time.Now()
	for i := range list.Items {
		if podReady(&list.Items[i]) {
			w.readyAt[list.Items[i].Name] = now
		}
	}
	wi, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: appSelector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		cancel()
		b.Fatalf("watching pods: %v", err)
	}
	go func() {
		defer wi.Stop()
		for ev := range wi.ResultChan() {
			// Stamp before anything else: this is the moment being measured.
			at := time.Now()
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			_, was := w.readyAt[p.Name]
			switch {
			case ev.Type != watch.Deleted && podReady(p):
				if !was {
					w.readyAt[p.Name] = at
				}
			default:
				delete(w.readyAt, p.Name)
			}
			w.mu.Unlock()
			w.notify()
		}
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.notify()
	}()
	b.Cleanup(w.stop)
	return w
}

func (w *readyWatch) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *readyWatch) stop() { w.cancel() }

func (w *readyWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.readyAt)
}

// waitReady waits until the watch has seen n pods Ready and returns when
// it saw each.
func (w *readyWatch) waitReady(b *testing.B, n int, timeout time.Duration) []time.Time {
	b.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		got, closed := len(w.readyAt), w.closed
		var at []time.Time
		if got >= n {
			for _, t := range w.readyAt {
				at = append(at, t)
			}
		}
		w.mu.Unlock()
		if at != nil {
			return at
		}
		if closed {
			b.Fatalf("the pod watch ended with %d of %d pods Ready", got, n)
		}
		select {
		case <-w.changed:
		case <-deadline:
			b.Fatalf("%d of %d pods Ready after %v", got, n, timeout)
		}
	}
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deleteNamespace frees an iteration's pods at once: newRealEnv's cleanup
// would keep every iteration's pods on the three nodes until the
// benchmark ends.
func deleteNamespace(b *testing.B, ns string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := testenv.Shared().Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if err != nil {
		b.Fatalf("deleting namespace %s: %v", ns, err)
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func msList(d []time.Duration) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = fmt.Sprintf("%.1f", ms(x))
	}
	return strings.Join(parts, " ")
}
