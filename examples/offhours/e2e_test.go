package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{CNPG: true}))
}

const release = "ironflow"

// lockedBuffer is the controller's log, written by its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// realEnv is a release of the reference chart installed by real Helm, and
// the controller running against the real API server (leader election
// included) on a fake clock.
type realEnv struct {
	t        *testing.T
	env      *testenv.Env
	ns       string
	clock    *clocktesting.FakeClock
	releases *helmrelease.Client
	log      *lockedBuffer
}

func startController(t *testing.T, vals map[string]any, start time.Time) *realEnv {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	e := &realEnv{t: t, env: env, ns: env.Namespace(t), clock: clocktesting.NewFakeClock(start), log: &lockedBuffer{}}
	e.releases = helmrelease.New(env.RESTConfig(), env.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := e.releases.Install(ctx, e.ns, release, testenv.ChartPath("ironflow"), vals, time.Minute)
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"--kubeconfig", env.Kubeconfig, "--chart", testenv.ChartPath("ironflow"),
			"--leader-election-namespace", e.ns, "--leader-election-id", "offhours-" + e.ns,
			"--health-probe-bind-address", "0", "--verify-timeout", "1m"}, e.log, e.clock)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err, "the controller stops cleanly\n%s", e.log)
		case <-time.After(30 * time.Second):
			t.Errorf("the controller did not stop\n%s", e.log)
		}
	})
	return e
}

func (e *realEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never happened; controller log:\n%s", what, e.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *realEnv) readyPods() int {
	e.t.Helper()
	n, err := e.env.ReadyPods(context.Background(), e.ns, "app.kubernetes.io/name=ironflow")
	require.NoError(e.t, err)
	return n
}

func (e *realEnv) hpaMin() int32 {
	h, err := e.env.Client.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(context.Background(), release, metav1.GetOptions{})
	require.NoError(e.t, err)
	return *h.Spec.MinReplicas
}

func (e *realEnv) annotate(annotations map[string]string) {
	e.t.Helper()
	ctx := context.Background()
	ns, err := e.env.Client.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{})
	require.NoError(e.t, err)
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	for k, v := range annotations {
		ns.Annotations[k] = v
	}
	_, err = e.env.Client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
	require.NoError(e.t, err)
}

// status is the release's record in the status ConfigMap (zero when none).
func (e *realEnv) status() releaseStatus {
	cm, err := e.env.Client.CoreV1().ConfigMaps(e.ns).Get(context.Background(), StatusConfigMap, metav1.GetOptions{})
	if err != nil {
		return releaseStatus{}
	}
	s := &statusStore{cm: cm}
	st, err := s.get(release)
	require.NoError(e.t, err)
	return st
}

// events are the controller's Events about the namespace or a schedule
// ConfigMap in it, as "Type Reason: note". A Namespace is cluster-scoped,
// so its Events are in "default".
func (e *realEnv) events() []string {
	list, err := e.env.Client.EventsV1().Events(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
	require.NoError(e.t, err)
	var out []string
	for _, ev := range list.Items {
		about := ev.Regarding.Kind == "Namespace" && ev.Regarding.Name == e.ns || ev.Regarding.Kind == "ConfigMap" && ev.Regarding.Namespace == e.ns
		if ev.ReportingController == controllerName && about {
			out = append(out, ev.Type+" "+ev.Reason+": "+ev.Note)
		}
	}
	return out
}

func (e *realEnv) hasEvent(prefix string) bool {
	for _, ev := range e.events() {
		if strings.HasPrefix(ev, prefix) {
			return true
		}
	}
	return false
}

// stepTo moves the fake clock to at, once the controller waits on it:
// the timer of the next edge is the only thing that can wake it.
func (e *realEnv) stepTo(at time.Time) {
	e.t.Helper()
	e.eventually("the controller arming its next edge", e.clock.HasWaiters)
	e.clock.SetTime(at)
}

func autoscaled(min, max int) map[string]any {
	return map[string]any{"replicaCount": 1, "cluster": map[string]any{"enabled": true},
		"autoscaling": map[string]any{"enabled": true, "minReplicas": min, "maxReplicas": max},
		"nats":        map[string]any{"enabled": false}, "postgresql": map[string]any{"enabled": false}}
}

// The runbook's off-hours procedure done by the controller on the real
// control plane (the HPA controller included), the clock moved across both
// edges: at 20:00 the release goes to 1 pod with the HPA's minimum at 1;
// at 07:00 the HPA gets its minimum of 3 back and the pods follow. Each
// edge is an Event, and the status ConfigMap says what was recorded.
func TestE2EWeeknightScaleDownAndMorningRestore(t *testing.T) {
	e := startController(t, autoscaled(3, 6), berlin(t, "2026-12-07 19:59"))
	e.eventually("the HPA's 3 pods", func() bool { return e.readyPods() == 3 })
	e.annotate(map[string]string{AnnotationSchedule: "Mon-Fri 20:00-07:00 Europe/Berlin", AnnotationRelease: release, AnnotationReplicas: "1"})

	e.stepTo(berlin(t, "2026-12-07 20:00"))
	e.eventually("the scale-down verified", func() bool { return e.status().State == StateOff && e.status().Last != nil })
	st := e.status()
	require.Equal(t, "Succeeded", st.Last.Phase, "%+v\n%s", st.Last, e.log)
	assert.Equal(t, 1, e.readyPods())
	assert.EqualValues(t, 1, e.hpaMin(), "the HPA's minimum goes down with the count")
	require.NotNil(t, st.Recorded.HPA)
	assert.EqualValues(t, 3, st.Recorded.HPA.MinReplicas)
	assert.EqualValues(t, 6, st.Recorded.HPA.MaxReplicas)
	e.eventually("the ScaledDown event", func() bool { return e.hasEvent("Normal ScaledDown: ") })

	e.stepTo(berlin(t, "2026-12-08 07:00"))
	e.eventually("the restore verified", func() bool { return e.status().State == StateOn && e.status().Last.Action == "restore" })
	st = e.status()
	require.Equal(t, "Succeeded", st.Last.Phase, "%+v\n%s", st.Last, e.log)
	assert.EqualValues(t, 3, e.hpaMin(), "the HPA has its minimum back")
	e.eventually("3 pods again", func() bool { return e.readyPods() == 3 })
	e.eventually("the Restored event", func() bool { return e.hasEvent("Normal Restored: ") })
	t.Logf("events:\n%s", strings.Join(e.events(), "\n"))

	lease, err := e.env.Client.CoordinationV1().Leases(e.ns).Get(context.Background(), "offhours-"+e.ns, metav1.GetOptions{})
	require.NoError(t, err, "the controller acts as the elected leader")
	assert.NotEmpty(t, *lease.Spec.HolderIdentity)
}

// A scale-down a guard refuses (0 replicas under an HPA) is a Warning Event
// with the guard's reason and advice, writes nothing, and is not retried;
// the morning has nothing to restore.
func TestE2EBlockedScaleDownIsAWarningEvent(t *testing.T) {
	e := startController(t, autoscaled(2, 4), berlin(t, "2026-12-07 19:59"))
	e.eventually("the HPA's 2 pods", func() bool { return e.readyPods() == 2 })
	e.annotate(map[string]string{AnnotationSchedule: "Mon-Fri 20:00-07:00 Europe/Berlin", AnnotationRelease: release, AnnotationReplicas: "0"})

	e.stepTo(berlin(t, "2026-12-07 20:00"))
	e.eventually("the Blocked event", func() bool { return e.hasEvent("Warning Blocked: ") })
	var blocked string
	for _, ev := range e.events() {
		if strings.HasPrefix(ev, "Warning Blocked: ") {
			blocked = ev
		}
	}
	assert.Contains(t, blocked, "cannot have minReplicas 0")
	assert.Contains(t, blocked, "scale to 1, or disable autoscaling first", "the guard's advice is in the Event")
	rel, err := e.releases.Last(context.Background(), e.ns, release)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Revision, "nothing was written")
	assert.Equal(t, StateOn, e.status().State)

	e.stepTo(berlin(t, "2026-12-08 07:00"))
	// The next wake-up is armed once the 07:00 reconcile ran.
	e.eventually("the 07:00 reconcile", e.clock.HasWaiters)
	assert.Equal(t, phaseBlocked, e.status().Last.Phase, "no restore of a scale-down that never happened")
	assert.Len(t, e.events(), 1, "one Event, no retries")
	assert.Equal(t, 2, e.readyPods())
}

// A weekend schedule in a labelled ConfigMap, on a release without an HPA:
// Saturday 00:00 scales it to 1, Monday 00:00 back to the recorded 3 (the
// Saturday and Sunday windows touch, so Sunday is no edge).
func TestE2EConfigMapWeekendScheduleRestoresTheCount(t *testing.T) {
	vals := map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true},
		"nats": map[string]any{"enabled": false}, "postgresql": map[string]any{"enabled": false}}
	utc := func(s string) time.Time {
		at, err := time.Parse("2006-01-02 15:04", s)
		require.NoError(t, err)
		return at
	}
	e := startController(t, vals, utc("2026-12-11 23:59")) // a Friday
	e.eventually("3 pods", func() bool { return e.readyPods() == 3 })
	_, err := e.env.Client.CoreV1().ConfigMaps(e.ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ironflow-weekend", Labels: map[string]string{LabelSchedule: "true"}},
		Data:       map[string]string{"release": release, "schedule": "Sat,Sun 00:00-24:00 UTC", "replicas": "1"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	e.stepTo(utc("2026-12-12 00:00"))
	e.eventually("the scale-down", func() bool { return e.status().State == StateOff && e.status().Last != nil })
	require.Equal(t, "Succeeded", e.status().Last.Phase, "%+v", e.status().Last)
	assert.Equal(t, 1, e.readyPods())
	assert.EqualValues(t, 3, e.status().Recorded.Replicas)

	e.stepTo(utc("2026-12-14 00:00"))
	e.eventually("the restore", func() bool { return e.status().State == StateOn && e.status().Last.Action == "restore" })
	require.Equal(t, "Succeeded", e.status().Last.Phase, "%+v", e.status().Last)
	assert.Equal(t, 3, e.readyPods())
	e.eventually("the ConfigMap's Events", func() bool { return e.hasEvent("Normal ScaledDown: ") && e.hasEvent("Normal Restored: ") })
}
