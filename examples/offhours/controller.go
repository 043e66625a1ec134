package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

const controllerName = "offhours"

// Scaler is what the controller needs of package scale: reading a
// release's scale, the three plans, and the operation's Apply and Verify.
// *scale.Client is one.
type Scaler interface {
	Recommend(ctx context.Context, r scale.Recommend) (*scale.Recommendation, error)
	PlanDown(ctx context.Context, d scale.Down) (*scaling.Plan, error)
	PlanReplicas(ctx context.Context, r scale.Replicas) (*scaling.Plan, error)
	PlanAutoscale(ctx context.Context, a scale.Autoscale) (*scaling.Plan, error)
	scaling.Operator
}

var _ Scaler = (*scale.Client)(nil)

// Reconciler acts at the edges of each scheduled release's off-hours
// window: at the start it records the release's scale and runs scale.Down
// (Plan -> Apply -> Verify); at the end it restores what it recorded. Each
// edge is acted on once, whatever the outcome, and every outcome is an
// Event on the object that holds the schedule and a record in the
// namespace's status ConfigMap. A blocked plan is reported with its
// guards' words and waits for a person: the controller never retries into
// a change a guard refused or a person reverted.
type Reconciler struct {
	// Cache reads Namespaces and schedule ConfigMaps (the manager's
	// cached client); API reads the status ConfigMap and Client writes it.
	Cache  client.Reader
	API    client.Reader
	Client client.Writer
	Scale  Scaler
	Events events.EventRecorder
	// Clock is the time the schedules are read against; its timers wake
	// the reconciler at the next edge. A fake clock in tests.
	Clock clock.WithDelayedExecution
	// Wake receives a namespace when one of its edges comes; the
	// controller watches it (source.Channel).
	Wake chan event.GenericEvent
	// DefaultRelease is the release of a namespace annotation without
	// AnnotationRelease; DefaultReplicas what runs off-hours by default.
	DefaultRelease  string
	DefaultReplicas int32

	mu     sync.Mutex
	timers map[string]clock.Timer
}

// Reconcile handles one namespace: every release scheduled in it. Errors
// are returned (and retried by controller-runtime) only when the status
// could not be read or written; since an edge is recorded before it is
// acted on, a retry never acts on it twice.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Cache.Get(ctx, client.ObjectKey{Name: req.Name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			r.arm(req.Name, time.Time{}, time.Time{})
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if ns.DeletionTimestamp != nil {
		r.arm(ns.Name, time.Time{}, time.Time{})
		return reconcile.Result{}, nil
	}
	targets, err := r.targets(ctx, ns)
	if err != nil || len(targets) == 0 {
		r.arm(ns.Name, time.Time{}, time.Time{})
		return reconcile.Result{}, err
	}
	store, err := loadStatus(ctx, r.API, r.Client, ns.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	now := r.Clock.Now()
	var next time.Time
	for _, t := range targets {
		if t.Err != nil {
			if err := r.invalid(ctx, store, t); err != nil {
				return reconcile.Result{}, err
			}
			continue
		}
		if err := r.reconcileRelease(ctx, store, t, now); err != nil {
			return reconcile.Result{}, err
		}
		if e := t.Schedule.NextEdge(now); !e.IsZero() && (next.IsZero() || e.Before(next)) {
			next = e
		}
	}
	r.arm(ns.Name, next, now)
	return reconcile.Result{}, nil
}

// reconcileRelease acts if an edge passed that was not acted on.
func (r *Reconciler) reconcileRelease(ctx context.Context, store *statusStore, t target, now time.Time) error {
	st, err := store.get(t.Release)
	if err != nil {
		return err
	}
	start, end, off := t.Schedule.Window(now)
	switch {
	case off && !st.Edge.Equal(start):
		return r.scaleDown(ctx, store, t, st, start, end)
	case !off && st.State != StateOn && !now.Before(st.OffUntil):
		return r.restore(ctx, store, t, st)
	}
	return nil
}

// scaleDown records the release's scale (unless it is still down from an
// earlier window, whose record stands) and the edge, then plans, applies
// and verifies scale.Down.
func (r *Reconciler) scaleDown(ctx context.Context, store *statusStore, t target, st releaseStatus, start, end time.Time) error {
	before := st.State
	if before == StateOn || st.Recorded == nil {
		rec, err := r.Scale.Recommend(ctx, scale.Recommend{Namespace: store.ns, Release: t.Release})
		if err != nil {
			st.Edge, st.Schedule = start, t.Spec
			st.Last = r.report(t, "scale-down", start, nil, fmt.Errorf("reading the release's scale: %w", err))
			return store.put(ctx, t.Release, st)
		}
		st.Recorded = &recorded{Workload: rec.Workload, Replicas: rec.Replicas, At: r.Clock.Now().UTC()}
		if rec.HPA != nil {
			st.Recorded.HPA = &hpaBounds{Name: rec.HPA.Name, MinReplicas: rec.HPA.MinReplicas, MaxReplicas: rec.HPA.MaxReplicas}
		}
	}
	st.State, st.Edge, st.OffUntil, st.Schedule = StateScalingDown, start, end, t.Spec
	if err := store.put(ctx, t.Release, st); err != nil {
		return err
	}
	n := t.Replicas
	plan, err := r.Scale.PlanDown(ctx, scale.Down{Namespace: store.ns, Release: t.Release, Replicas: &n})
	var o *outcome
	o, written := r.run(ctx, t, "scale-down", start, plan, err)
	st.Last = o
	st.State = StateOff
	if !written && before == StateOn {
		// Nothing was written: there is nothing to restore this morning.
		st.State, st.Recorded = StateOn, nil
	}
	return store.put(ctx, t.Release, st)
}

// restore gives the release back what was recorded: the HPA's bounds, or
// the replica count.
func (r *Reconciler) restore(ctx context.Context, store *statusStore, t target, st releaseStatus) error {
	edge := st.OffUntil
	rec := st.Recorded
	st.State, st.Edge = StateOn, edge
	if err := store.put(ctx, t.Release, st); err != nil {
		return err
	}
	if rec == nil {
		return nil
	}
	var plan *scaling.Plan
	var err error
	if rec.HPA != nil {
		plan, err = r.Scale.PlanAutoscale(ctx, scale.Autoscale{Namespace: store.ns, Release: t.Release, MinReplicas: rec.HPA.MinReplicas, MaxReplicas: rec.HPA.MaxReplicas})
	} else {
		plan, err = r.Scale.PlanReplicas(ctx, scale.Replicas{Namespace: store.ns, Release: t.Release, Replicas: rec.Replicas})
	}
	st.Last, _ = r.run(ctx, t, "restore", edge, plan, err)
	if st.Last.Phase == string(scaling.Succeeded) || st.Last.Phase == phaseNoOp {
		st.Recorded = nil
	}
	return store.put(ctx, t.Release, st)
}

// Outcome phases besides a Verification's.
const (
	phaseBlocked = "Blocked"
	phaseNoOp    = "NoOp"
	phaseError   = "Error"
)

// run applies and verifies a plan once and reports the outcome. written
// says whether anything may have been written (Apply ran a step).
func (r *Reconciler) run(ctx context.Context, t target, action string, edge time.Time, plan *scaling.Plan, err error) (*outcome, bool) {
	if err != nil {
		return r.report(t, action, edge, plan, err), false
	}
	if len(plan.Blocking()) > 0 || plan.NoOp {
		return r.report(t, action, edge, plan, nil), false
	}
	if _, err := r.Scale.Apply(ctx, plan); err != nil {
		var se *scaling.StepError
		return r.report(t, action, edge, plan, err), errors.As(err, &se) && (se.Index > 0 || len(se.Done) > 0)
	}
	v, err := r.Scale.Verify(ctx, plan)
	if err != nil {
		return r.report(t, action, edge, plan, err), true
	}
	o := r.report(t, action, edge, plan, nil)
	o.Phase, o.Reason = string(v.Phase), v.Reason
	if v.Phase != scaling.Succeeded {
		r.event(t, corev1.EventTypeWarning, "VerifyFailed", action, fmt.Sprintf("%s applied, verification %s: %s", plan.Summary, v.Phase, v.Reason))
	} else {
		reason := map[string]string{"scale-down": "ScaledDown", "restore": "Restored"}[action]
		r.event(t, corev1.EventTypeNormal, reason, action, fmt.Sprintf("%s Verified: %s", plan.Summary, checksText(v)))
	}
	return o, true
}

// report is the outcome of a plan that did not get to Verify (blocked,
// nothing to do, an error), with its Event; for one that did, the caller
// fills in the verification's phase.
func (r *Reconciler) report(t target, action string, edge time.Time, plan *scaling.Plan, err error) *outcome {
	o := &outcome{Action: action, Edge: edge.UTC(), At: r.Clock.Now().UTC()}
	if plan != nil {
		o.Summary = plan.Summary
	}
	var blocked *scaling.GuardBlockedError
	switch {
	case errors.As(err, &blocked):
		o.Phase, o.Reason = phaseBlocked, guardsText(blocked.Guards)
		r.event(t, corev1.EventTypeWarning, "Blocked", action, "Not applied, a guard refused it: "+o.Reason)
	case err != nil:
		o.Phase, o.Reason = phaseError, err.Error()
		r.event(t, corev1.EventTypeWarning, "Failed", action, "Not done: "+o.Reason)
	case plan != nil && len(plan.Blocking()) > 0:
		o.Phase, o.Reason = phaseBlocked, guardsText(plan.Blocking())
		r.event(t, corev1.EventTypeWarning, "Blocked", action, "Not applied, a guard refused it: "+o.Reason)
	case plan != nil && plan.NoOp:
		o.Phase, o.Reason = phaseNoOp, "nothing to change"
		r.event(t, corev1.EventTypeNormal, "NothingToDo", action, plan.Summary+" Already so; nothing changed.")
	}
	return o
}

// invalid reports a schedule that cannot be used, once per value: the
// status remembers what was reported.
func (r *Reconciler) invalid(ctx context.Context, store *statusStore, t target) error {
	key := t.Release
	if key == "" {
		key = "invalid." + t.Source.GetName()
	}
	st, err := store.get(key)
	if err != nil {
		return err
	}
	if st.Last != nil && st.Last.Phase == phaseError && st.Last.Reason == t.Err.Error() {
		return nil
	}
	st.Schedule = t.Spec
	st.Last = r.report(t, "read-schedule", time.Time{}, nil, t.Err)
	return store.put(ctx, key, st)
}

// event records an Event on the schedule's object. The note says what the
// guard said, in its words: Events are what a person reads.
func (r *Reconciler) event(t target, kind, reason, action, note string) {
	if r.Events == nil {
		return
	}
	if len(note) > 1000 { // events.k8s.io/v1 notes are at most 1 kB
		note = note[:997] + "..."
	}
	r.Events.Eventf(t.Source, nil, kind, reason, action, "%s", note)
}

func guardsText(guards []scaling.GuardResult) string {
	var parts []string
	for _, g := range guards {
		s := g.Name + ": " + g.Reason
		if g.Remedy != "" {
			s += " (" + g.Remedy + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func checksText(v *scaling.Verification) string {
	var parts []string
	for _, c := range v.Checks {
		parts = append(parts, c.Name+" "+c.Observed)
	}
	return strings.Join(parts, ", ")
}

// arm sets the namespace's timer to its next edge (none: the zero time).
// The timer sends the namespace to Wake from its own goroutine, so a full
// channel never holds up the clock.
func (r *Reconciler) arm(ns string, next, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.timers[ns]; t != nil {
		t.Stop()
		delete(r.timers, ns)
	}
	if next.IsZero() || r.Wake == nil {
		return
	}
	if r.timers == nil {
		r.timers = map[string]clock.Timer{}
	}
	wake := r.Wake
	r.timers[ns] = r.Clock.AfterFunc(next.Sub(now), func() {
		go func() { wake <- event.GenericEvent{Object: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}} }()
	})
}

// armed says whether the namespace has a wake-up armed (for the tests).
func (r *Reconciler) armed(ns string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.timers[ns] != nil
}
