package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// stubScaler answers as package scale would and records what was asked;
// the state machine's tests need its answers chosen (a blocked plan, a
// failed Apply). The e2e tests run the real one.
type stubScaler struct {
	mu       sync.Mutex
	calls    []string
	rec      scale.Recommendation
	down     func(scale.Down) *scaling.Plan
	applyErr error
	phase    scaling.Phase
	asked    []any
}

func (s *stubScaler) record(call string, req any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	s.asked = append(s.asked, req)
}

func (s *stubScaler) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func plan(op, summary string, guards ...scaling.GuardResult) *scaling.Plan {
	return &scaling.Plan{Operation: op, Summary: summary, Guards: guards, Steps: []scaling.Step{{Action: "helm upgrade"}}}
}

func (s *stubScaler) Recommend(_ context.Context, r scale.Recommend) (*scale.Recommendation, error) {
	s.record("Recommend", r)
	rec := s.rec
	return &rec, nil
}

func (s *stubScaler) PlanDown(_ context.Context, d scale.Down) (*scaling.Plan, error) {
	s.record("PlanDown", d)
	if s.down != nil {
		return s.down(d), nil
	}
	return plan(scale.OpDown, "Scale down."), nil
}

func (s *stubScaler) PlanReplicas(_ context.Context, r scale.Replicas) (*scaling.Plan, error) {
	s.record("PlanReplicas", r)
	return plan(scale.OpReplicas, "Scale up."), nil
}

func (s *stubScaler) PlanAutoscale(_ context.Context, a scale.Autoscale) (*scaling.Plan, error) {
	s.record("PlanAutoscale", a)
	return plan(scale.OpAutoscale, "Autoscale."), nil
}

func (s *stubScaler) Operations() []string {
	return []string{scale.OpDown, scale.OpReplicas, scale.OpAutoscale}
}

func (s *stubScaler) Apply(_ context.Context, p *scaling.Plan) (*scaling.Applied, error) {
	s.record("Apply", p.Operation)
	if s.applyErr != nil {
		return nil, s.applyErr
	}
	return &scaling.Applied{Operation: p.Operation, Changed: true}, nil
}

func (s *stubScaler) Verify(_ context.Context, p *scaling.Plan) (*scaling.Verification, error) {
	s.record("Verify", p.Operation)
	phase := s.phase
	if phase == "" {
		phase = scaling.Succeeded
	}
	return &scaling.Verification{Operation: p.Operation, Phase: phase, Reason: "because", Checks: []scaling.Check{{Name: "pods-ready", Passed: phase == scaling.Succeeded, Observed: "1 Ready of 1"}}}, nil
}

// recorder keeps Events as "Type Reason: note".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(_ runtime.Object, _ runtime.Object, kind, reason, _ string, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := note
	if len(args) > 0 {
		msg = args[0].(string)
	}
	r.events = append(r.events, kind+" "+reason+": "+msg)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

var _ events.EventRecorder = (*recorder)(nil)

// berlin is a time in Europe/Berlin.
func berlin(t *testing.T, layout string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at, err := time.ParseInLocation("2006-01-02 15:04", layout, loc)
	require.NoError(t, err)
	return at
}

type fixture struct {
	t     *testing.T
	r     *Reconciler
	c     client.Client
	clock *clocktesting.FakeClock
	sc    *stubScaler
	ev    *recorder
}

// newFixture is a namespace "prod" annotated with the schedule, its
// release at 3 replicas, at the time now (Berlin).
func newFixture(t *testing.T, now string, annotations map[string]string) *fixture {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Annotations: annotations}}
	c := crfake.NewClientBuilder().WithObjects(ns).Build()
	f := &fixture{t: t, c: c, clock: clocktesting.NewFakeClock(berlin(t, now)), ev: &recorder{},
		sc: &stubScaler{rec: scale.Recommendation{Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: "prod", Name: "ironflow"}, Replicas: 3}}}
	f.r = &Reconciler{Cache: c, API: c, Client: c, Scale: f.sc, Events: f.ev, Clock: f.clock,
		Wake: make(chan event.GenericEvent, 8), DefaultRelease: "ironflow", DefaultReplicas: 1}
	return f
}

var weeknights = map[string]string{AnnotationSchedule: "Mon-Fri 20:00-07:00 Europe/Berlin", AnnotationRelease: "ironflow"}

func (f *fixture) reconcile() {
	f.t.Helper()
	_, err := f.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Name: "prod"}})
	require.NoError(f.t, err)
}

// stepTo moves the clock to at and requires the timer to wake the
// namespace: the edge is what triggers the reconcile.
func (f *fixture) stepTo(at string) {
	f.t.Helper()
	f.clock.SetTime(berlin(f.t, at))
	select {
	case e := <-f.r.Wake:
		require.Equal(f.t, "prod", e.Object.GetName())
	case <-time.After(5 * time.Second):
		f.t.Fatalf("no wake-up at %s", at)
	}
}

func (f *fixture) status(release string) releaseStatus {
	f.t.Helper()
	var cm corev1.ConfigMap
	require.NoError(f.t, f.c.Get(context.Background(), client.ObjectKey{Namespace: "prod", Name: StatusConfigMap}, &cm))
	var st releaseStatus
	require.NoError(f.t, json.Unmarshal([]byte(cm.Data[release]), &st))
	return st
}

func TestEdgesScaleDownAndRestoreOnceEach(t *testing.T) {
	f := newFixture(t, "2026-12-07 19:00", weeknights) // a Monday
	f.reconcile()
	assert.Empty(t, f.sc.Calls(), "nothing happens before the edge")
	assert.True(t, f.r.armed("prod"), "the next edge is armed")

	f.stepTo("2026-12-07 20:00")
	f.reconcile()
	assert.Equal(t, []string{"Recommend", "PlanDown", "Apply", "Verify"}, f.sc.Calls())
	d := f.sc.asked[1].(scale.Down)
	assert.EqualValues(t, 1, *d.Replicas)
	st := f.status("ironflow")
	assert.Equal(t, StateOff, st.State)
	assert.EqualValues(t, 3, st.Recorded.Replicas, "the morning's count is recorded")
	assert.Equal(t, berlin(t, "2026-12-08 07:00").UTC(), st.OffUntil.UTC())
	assert.Equal(t, "Succeeded", st.Last.Phase)
	require.Len(t, f.ev.list(), 1)
	assert.True(t, strings.HasPrefix(f.ev.list()[0], "Normal ScaledDown: "), f.ev.list())

	// Reconciles within the window (a namespace edit, a restart) act on
	// nothing: a person who scaled back up at 22:00 is not overruled.
	f.clock.SetTime(berlin(t, "2026-12-07 22:00"))
	f.reconcile()
	assert.Len(t, f.sc.Calls(), 4)

	f.stepTo("2026-12-08 07:00")
	f.reconcile()
	assert.Equal(t, []string{"Recommend", "PlanDown", "Apply", "Verify", "PlanReplicas", "Apply", "Verify"}, f.sc.Calls())
	assert.EqualValues(t, 3, f.sc.asked[4].(scale.Replicas).Replicas, "back to the recorded count")
	st = f.status("ironflow")
	assert.Equal(t, StateOn, st.State)
	assert.Nil(t, st.Recorded)
	assert.Equal(t, "restore", st.Last.Action)
	assert.True(t, strings.HasPrefix(f.ev.list()[1], "Normal Restored: "), f.ev.list())

	f.reconcile()
	assert.Len(t, f.sc.Calls(), 7, "the restore edge is acted on once")
}

func TestAutoscaledReleaseGetsItsHPAMinimumBack(t *testing.T) {
	f := newFixture(t, "2026-12-07 20:30", weeknights)
	f.sc.rec.HPA = &scale.HPAReading{Name: "ironflow", MinReplicas: 3, MaxReplicas: 10}
	f.reconcile() // started inside the window: it is off-hours now
	assert.Equal(t, []string{"Recommend", "PlanDown", "Apply", "Verify"}, f.sc.Calls())
	f.stepTo("2026-12-08 07:00")
	f.reconcile()
	require.Len(t, f.sc.asked, 7)
	a := f.sc.asked[4].(scale.Autoscale)
	assert.EqualValues(t, 3, a.MinReplicas)
	assert.EqualValues(t, 10, a.MaxReplicas)
}

func TestBlockedScaleDownIsAWarningNotARetry(t *testing.T) {
	f := newFixture(t, "2026-12-07 19:59", weeknights)
	f.sc.down = func(scale.Down) *scaling.Plan {
		return plan(scale.OpDown, "Scale down.", scaling.GuardResult{Name: "hpa", Outcome: scaling.Block,
			Reason: "HPA ironflow cannot have minReplicas 0", Remedy: "scale to 1, or disable autoscaling first"})
	}
	f.reconcile()
	f.stepTo("2026-12-07 20:00")
	f.reconcile()
	assert.Equal(t, []string{"Recommend", "PlanDown"}, f.sc.Calls(), "a blocked plan is not applied")
	require.Len(t, f.ev.list(), 1)
	assert.Equal(t, "Warning Blocked: Not applied, a guard refused it: hpa: HPA ironflow cannot have minReplicas 0 (scale to 1, or disable autoscaling first)", f.ev.list()[0])
	st := f.status("ironflow")
	assert.Equal(t, StateOn, st.State, "nothing was written, so nothing to restore")
	assert.Equal(t, phaseBlocked, st.Last.Phase)

	f.clock.SetTime(berlin(t, "2026-12-07 20:10"))
	f.reconcile()
	f.clock.SetTime(berlin(t, "2026-12-08 07:30"))
	f.reconcile()
	assert.Len(t, f.sc.Calls(), 2, "no retry in the window, no restore in the morning")
	assert.Len(t, f.ev.list(), 1)

	// The next evening is a new edge.
	f.clock.SetTime(berlin(t, "2026-12-08 20:00"))
	f.reconcile()
	assert.Equal(t, []string{"Recommend", "PlanDown", "Recommend", "PlanDown"}, f.sc.Calls())
}

func TestFailedApplyIsReportedAndNotRetried(t *testing.T) {
	f := newFixture(t, "2026-12-07 20:00", weeknights)
	f.sc.applyErr = &scaling.StalePlanError{Operation: scale.OpDown}
	f.reconcile()
	f.reconcile()
	assert.Equal(t, []string{"Recommend", "PlanDown", "Apply"}, f.sc.Calls())
	require.Len(t, f.ev.list(), 1)
	assert.True(t, strings.HasPrefix(f.ev.list()[0], "Warning Failed: Not done: "), f.ev.list())
	assert.Equal(t, StateOn, f.status("ironflow").State, "a refused Apply wrote nothing")
}

func TestVerificationThatFailsLeavesTheReleaseToRestore(t *testing.T) {
	f := newFixture(t, "2026-12-07 20:00", weeknights)
	f.sc.phase = scaling.TimedOut
	f.reconcile()
	st := f.status("ironflow")
	assert.Equal(t, StateOff, st.State, "applied: the morning restores it")
	assert.Equal(t, "TimedOut", st.Last.Phase)
	assert.True(t, strings.HasPrefix(f.ev.list()[0], "Warning VerifyFailed: "), f.ev.list())
}

// A controller that restarts after recording the edge (say it died in
// Apply) does not act on the edge again, and restores in the morning.
func TestRestartAfterRecordingActsNoMore(t *testing.T) {
	f := newFixture(t, "2026-12-07 20:00", weeknights)
	rec := releaseStatus{State: StateScalingDown, Edge: berlin(t, "2026-12-07 20:00"), OffUntil: berlin(t, "2026-12-08 07:00"),
		Recorded: &recorded{Replicas: 4}}
	data, err := json.Marshal(rec)
	require.NoError(t, err)
	require.NoError(t, f.c.Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: StatusConfigMap}, Data: map[string]string{"ironflow": string(data)}}))
	f.clock.SetTime(berlin(t, "2026-12-07 21:00"))
	f.reconcile()
	assert.Empty(t, f.sc.Calls())
	f.clock.SetTime(berlin(t, "2026-12-08 07:00"))
	f.reconcile()
	assert.Equal(t, []string{"PlanReplicas", "Apply", "Verify"}, f.sc.Calls())
	assert.EqualValues(t, 4, f.sc.asked[0].(scale.Replicas).Replicas)
}

func TestInvalidScheduleIsReportedOnceAndNeverActed(t *testing.T) {
	f := newFixture(t, "2026-12-07 20:00", map[string]string{AnnotationSchedule: "Mon-Fri 25:00-07:00"})
	f.reconcile()
	f.reconcile()
	assert.Empty(t, f.sc.Calls())
	require.Len(t, f.ev.list(), 1)
	assert.Contains(t, f.ev.list()[0], "Warning Failed: ")
	assert.Contains(t, f.ev.list()[0], "25:00")
	assert.False(t, f.r.armed("prod"))
	st := f.status("ironflow")
	assert.Equal(t, phaseError, st.Last.Phase, "the status says why nothing happens")
	assert.Contains(t, st.Last.Reason, "Namespace/prod: schedule")
}

func TestConfigMapSchedulesAndDuplicates(t *testing.T) {
	f := newFixture(t, "2026-12-07 20:00", weeknights)
	ctx := context.Background()
	cm := func(name, release string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: name, Labels: map[string]string{LabelSchedule: "true"}},
			Data: map[string]string{"release": release, "schedule": "Sat,Sun 00:00-24:00 UTC", "replicas": "2"}}
	}
	require.NoError(t, f.c.Create(ctx, cm("worker", "worker")))
	require.NoError(t, f.c.Create(ctx, cm("dup", "ironflow")))
	tg, err := f.r.targets(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Annotations: weeknights}})
	require.NoError(t, err)
	require.Len(t, tg, 3)
	byRelease := map[string][]target{}
	for _, x := range tg {
		byRelease[x.Release] = append(byRelease[x.Release], x)
	}
	require.Len(t, byRelease["worker"], 1)
	assert.NoError(t, byRelease["worker"][0].Err)
	assert.EqualValues(t, 2, byRelease["worker"][0].Replicas)
	for _, x := range byRelease["ironflow"] {
		var ce *ConfigError
		require.ErrorAs(t, x.Err, &ce, "a release scheduled twice is an error on both")
		assert.Equal(t, "release", ce.Field)
	}
}

func TestFlagsAreValidated(t *testing.T) {
	var out strings.Builder
	for _, args := range [][]string{{"--default-replicas", "-1"}, {"--verify-timeout", "-1s"}, {"extra"}, {"--no-such-flag"}} {
		_, err := parseFlags(args, &out)
		assert.Error(t, err, "%v", args)
	}
	c, err := parseFlags(nil, &out)
	require.NoError(t, err)
	assert.True(t, c.leaderElect, "leader election is on by default")
	assert.Equal(t, 1, c.defaultReplicas)
}
