package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/verify"
)

// OpSwitchover is the Plan.Operation of PlanSwitchover's plans.
const OpSwitchover = "postgres.Switchover"

// The steps of a switchover plan.
const (
	// ActionPromote asks the operator for the new primary.
	ActionPromote = "promote"
	// ActionPause and ActionResume pause and resume a Pooler around the
	// promotion (Switchover.PausePooler).
	ActionPause  = "pause"
	ActionResume = "resume"
)

// resumeTimeout bounds the resumption of paused Poolers after the caller's
// ctx ended: a pooler left paused holds every client.
const resumeTimeout = 30 * time.Second

// switchoverSpec is the plan's Spec: the request, the primary it moves
// from and the instance it promotes.
type switchoverSpec struct {
	Request Switchover `json:"request"`
	From    string     `json:"from"`
	To      string     `json:"to"`
	// Pause are the Poolers paused around the promotion.
	Pause  []string     `json:"pause,omitempty"`
	Causes opkit.Causes `json:"causes,omitempty"`
}

func (r Switchover) validate() error {
	switch {
	case r.Namespace == "":
		return &scaling.InvalidInputError{Field: "Switchover.Namespace", Value: `""`, Reason: "is required"}
	case r.Cluster == "":
		return &scaling.InvalidInputError{Field: "Switchover.Cluster", Value: `""`, Reason: "is required"}
	case r.MaxLagBytes < 0:
		return &scaling.InvalidInputError{Field: "Switchover.MaxLagBytes", Value: r.MaxLagBytes, Reason: "must not be negative"}
	}
	return nil
}

func clusterRef(namespace, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "Cluster", Namespace: namespace, Name: name}
}

// PlanSwitchover reads the CloudNativePG Cluster, its instance pods, each
// instance's reported positions and the Poolers in front of it, and plans
// the move of its primary (what `kubectl cnpg promote` does). The plan
// picks the target when the request names none. Invalid input is a
// *scaling.InvalidInputError before anything is read and a missing Cluster
// a *scaling.NotFoundError; unsafe moves (a single instance, a switchover
// in flight, a fenced, hibernated or replica cluster, a target that is not
// a ready replica or lags) come back as blocking guards with typed causes.
//
// Apply is one optimistic-lock merge patch of the Cluster's status
// (targetPrimary and the switchover phase), as the plugin sends it; a
// primary that changed since planning is a stale plan. Verify watches until
// the operator has promoted the target: currentPrimary is the target,
// exactly one pod carries the primary role (both label keys) and it is the
// target, the -rw Service's endpoints point at it alone, and the phase is
// healthy. The operator's silent reset of a target it refuses is Failed,
// with its reason.
func (c *Client) PlanSwitchover(ctx context.Context, req Switchover) (*scaling.Plan, error) {
	return c.planSwitchover(ctx, req)
}

func (c *Client) planSwitchover(ctx context.Context, req Switchover) (*scaling.Plan, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	st, err := c.readSwitchover(ctx, req)
	if err != nil {
		return nil, err
	}
	d := decideSwitchover(req, st)
	cl := st.cluster
	ref := clusterRef(req.Namespace, req.Cluster)
	from := cl.Status.CurrentPrimary
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpSwitchover, Target: ref, Guards: d.guards, CreatedAt: time.Now().UTC(),
		Fingerprint: scaling.Fingerprint{
			scaling.FingerprintKey(ref, scaling.AspectGeneration): fmt.Sprint(cl.Generation),
			scaling.FingerprintKey(ref, scaling.AspectPrimary):    from,
		},
		Summary: fmt.Sprintf("Switch the primary of PostgreSQL cluster %s/%s from %s to %s.", req.Namespace, req.Cluster, from, orNone(d.target)),
	}
	if d.target != "" {
		for _, p := range d.pause {
			plan.Steps = append(plan.Steps, scaling.Step{Action: ActionPause, Object: poolerRef(req.Namespace, p), Field: "spec.pgbouncer.paused", Before: "false", After: "true",
				Note: "PgBouncer holds new queries and waits for running transactions, so clients stall instead of failing while the primary moves"})
		}
		note := "what kubectl cnpg promote sends: the operator demotes the primary, waits for the target to replay what it received, and promotes it"
		if len(d.pause) > 0 {
			note += "; Apply waits until the target serves as the primary before resuming the Poolers"
		}
		plan.Steps = append(plan.Steps, scaling.Step{Action: ActionPromote, Object: ref, Field: "status.targetPrimary", Before: from, After: d.target, Note: note})
		for _, p := range d.pause {
			plan.Steps = append(plan.Steps, scaling.Step{Action: ActionResume, Object: poolerRef(req.Namespace, p), Field: "spec.pgbouncer.paused", Before: "true", After: "false",
				Note: "resumed even when the promotion fails or the caller gives up"})
		}
	}
	causes, err := opkit.CausesOf(plan.Guards)
	if err != nil {
		return nil, err
	}
	if plan.Spec, err = planspec.Encode(switchoverSpec{Request: req, From: from, To: d.target, Pause: d.pause, Causes: causes}); err != nil {
		return nil, err
	}
	return plan, nil
}

func poolerRef(namespace, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "Pooler", Namespace: namespace, Name: name}
}

func orNone(s string) string {
	if s == "" {
		return "(no eligible replica)"
	}
	return s
}

// readSwitchover reads everything the decision needs, once.
func (c *Client) readSwitchover(ctx context.Context, req Switchover) (*switchoverState, error) {
	cl, err := c.getCluster(ctx, req.Namespace, req.Cluster)
	if err != nil {
		return nil, err
	}
	st := &switchoverState{cluster: cl, pods: map[string]*corev1.Pod{}, status: map[string]*InstanceStatus{}, unread: map[string]error{}, paused: map[string]bool{}}
	list, err := c.kube.CoreV1().Pods(req.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelCluster + "=" + req.Cluster + "," + LabelPodRole + "=instance"})
	if err != nil {
		return nil, fmt.Errorf("listing the instances of %s/%s: %w", req.Namespace, req.Cluster, err)
	}
	for i := range list.Items {
		pod := &list.Items[i]
		st.pods[pod.Name] = pod
		s, err := c.instances.Status(ctx, pod)
		if err != nil {
			st.unread[pod.Name] = err
			continue
		}
		s.Pod = pod.Name
		st.status[pod.Name] = s
	}
	poolers, err := c.dyn.Resource(poolersGVR).Namespace(req.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("listing the Poolers of %s: %w", req.Namespace, err)
	}
	if poolers != nil {
		for _, p := range poolers.Items {
			name, _, _ := unstructured.NestedString(p.Object, "spec", "cluster", "name")
			typ, _, _ := unstructured.NestedString(p.Object, "spec", "type")
			if name == req.Cluster && (typ == "" || typ == string(apiv1.PoolerTypeRW)) {
				st.poolers = append(st.poolers, p.GetName())
				st.paused[p.GetName()], _, _ = unstructured.NestedBool(p.Object, "spec", "pgbouncer", "paused")
			}
		}
		slices.Sort(st.poolers)
	}
	return st, nil
}

func (c *Client) getCluster(ctx context.Context, namespace, name string) (*apiv1.Cluster, error) {
	u, err := c.dyn.Resource(clustersGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &scaling.NotFoundError{Object: clusterRef(namespace, name), Detail: "no CloudNativePG Cluster of that name"}
	}
	if err != nil {
		return nil, fmt.Errorf("reading CNPG Cluster %s/%s: %w", namespace, name, err)
	}
	return toCluster(u)
}

func toCluster(u *unstructured.Unstructured) (*apiv1.Cluster, error) {
	var cl apiv1.Cluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cl); err != nil {
		return nil, fmt.Errorf("CNPG Cluster %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return &cl, nil
}

// deriveSwitchover plans a stored switchover again from its request, with
// the target it chose: a replica that overtook it since is not a reason to
// promote another instance than the one a person approved.
func (c *Client) deriveSwitchover(ctx context.Context, spec *switchoverSpec) (*scaling.Plan, *switchoverSpec, error) {
	req := spec.Request
	if req.Target == "" {
		req.Target = spec.To
	}
	plan, ds, err := opkit.Decoded[switchoverSpec](c.planSwitchover(ctx, req))
	if err != nil || req == spec.Request {
		return plan, ds, err
	}
	// The derived spec keeps the stored request (no target named), so the
	// two compare equal when nothing moved.
	ds.Request = spec.Request
	if plan.Spec, err = planspec.Encode(ds); err != nil {
		return nil, nil, err
	}
	return plan, ds, nil
}

// applySwitchover sends the plugin's one patch, under an optimistic lock:
// the Cluster read just now must still have the planned primary, and the
// patch carries its resourceVersion, so a concurrent change is a conflict,
// not an overwrite. With Poolers to pause it pauses them first, checks the
// guards again on what that left, waits after the patch until the target
// serves as the primary, and resumes them: on every path, a failed switch
// and an ended ctx included.
func (c *Client) applySwitchover(ctx context.Context, plan *scaling.Plan, spec *switchoverSpec) (res *scaling.Applied, err error) {
	paused := map[string]bool{}
	defer func() {
		// What the run did not resume, resumed here on a ctx of its own.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resumeTimeout)
		defer cancel()
		for _, p := range spec.Pause {
			if paused[p] {
				if rerr := c.setPaused(rctx, spec.Request.Namespace, p, false); rerr != nil {
					err = errors.Join(err, fmt.Errorf("resuming Pooler %s: %w", p, rerr))
					res = nil
				}
			}
		}
	}()
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress}
	return run.Apply(ctx, func(ctx context.Context, i int, s scaling.Step) (bool, error) {
		switch s.Action {
		case ActionPause:
			paused[s.Object.Name] = true
			return true, c.setPaused(ctx, s.Object.Namespace, s.Object.Name, true)
		case ActionResume:
			if err := c.setPaused(ctx, s.Object.Namespace, s.Object.Name, false); err != nil {
				return false, err
			}
			delete(paused, s.Object.Name)
			return true, nil
		}
		if i > 0 {
			// The pauses took time: the guards hold again before the
			// primary moves, or nothing moves.
			again, err := c.planSwitchover(ctx, Switchover{Namespace: spec.Request.Namespace, Cluster: spec.Request.Cluster, Target: spec.To, MaxLagBytes: spec.Request.MaxLagBytes})
			if err != nil {
				return false, err
			}
			if err := opkit.Blocked(again); err != nil {
				return false, err
			}
		}
		if err := c.promote(ctx, plan, spec); err != nil {
			return false, err
		}
		if len(spec.Pause) > 0 {
			return true, c.awaitPrimary(ctx, plan, spec)
		}
		return true, nil
	})
}

// promote is the plugin's optimistic-lock patch of the Cluster's status.
func (c *Client) promote(ctx context.Context, plan *scaling.Plan, spec *switchoverSpec) error {
	res := c.dyn.Resource(clustersGVR).Namespace(spec.Request.Namespace)
	u, err := res.Get(ctx, spec.Request.Cluster, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cl, err := toCluster(u)
	if err != nil {
		return err
	}
	if cl.Status.CurrentPrimary != spec.From || (cl.Status.TargetPrimary != "" && cl.Status.TargetPrimary != spec.From) {
		return &scaling.StalePlanError{Operation: plan.Operation, Drift: []scaling.Drift{{Key: scaling.FingerprintKey(plan.Target, scaling.AspectPrimary), Planned: spec.From, Live: cl.Status.CurrentPrimary + " -> " + cl.Status.TargetPrimary}}}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"status":{"targetPrimary":%q,"targetPrimaryTimestamp":%q,"phase":%q,"phaseReason":%q}}`,
		u.GetResourceVersion(), spec.To, now, apiv1.PhaseSwitchover, "Switching over to "+spec.To)
	if _, err := res.Patch(ctx, spec.Request.Cluster, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsConflict(err) {
			return &scaling.StalePlanError{Operation: plan.Operation, Drift: []scaling.Drift{{Key: scaling.FingerprintKey(plan.Target, scaling.AspectPrimary), Planned: spec.From, Live: "changed while promoting: " + err.Error()}}}
		}
		return fmt.Errorf("promoting %s: %w", spec.To, err)
	}
	return nil
}

// setPaused sets a Pooler's spec.pgbouncer.paused; resuming removes the
// field (the CRD defaults it to false), so the Pooler is again what its
// chart rendered.
func (c *Client) setPaused(ctx context.Context, namespace, name string, paused bool) error {
	patch := `{"spec":{"pgbouncer":{"paused":true}}}`
	if !paused {
		patch = `{"spec":{"pgbouncer":{"paused":null}}}`
	}
	_, err := c.dyn.Resource(poolersGVR).Namespace(namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("setting Pooler %s/%s paused=%t: %w", namespace, name, paused, err)
	}
	return nil
}

// awaitPrimary watches the Cluster until the operator reports the target
// as the primary, bounded by ctx or else the verify timeout; the operator's
// reset of the target is a *RevertedError.
func (c *Client) awaitPrimary(ctx context.Context, plan *scaling.Plan, spec *switchoverSpec) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.VerifyTimeout)
		defer cancel()
	}
	clusters := c.dyn.Resource(clustersGVR).Namespace(spec.Request.Namespace)
	src := await.Typed(c.dyn, "cluster", &unstructured.Unstructured{}, clusters.List, clusters.Watch, await.ByName(spec.Request.Cluster))
	return await.Until(ctx, []await.Source{src}, func(s await.Stores) (bool, error) {
		us := await.List[*unstructured.Unstructured](s[0])
		if len(us) == 0 {
			return false, &scaling.NotFoundError{Object: plan.Target, Detail: "deleted while switching over"}
		}
		cl, err := toCluster(us[0])
		if err != nil {
			return false, err
		}
		st := cl.Status
		if reverted(st, spec.From, plan.CreatedAt) {
			return false, &RevertedError{Cluster: spec.Request.Cluster, Target: spec.To, Primary: spec.From, Phase: st.Phase, PhaseReason: st.PhaseReason}
		}
		return st.CurrentPrimary == spec.To && st.Phase == apiv1.PhaseHealthy, nil
	})
}

// RevertedError: the operator reset the target primary to the primary
// (its "wrong target primary" rule: the target is not an active instance),
// so the switchover will not happen.
type RevertedError struct {
	Cluster, Target, Primary string
	Phase, PhaseReason       string
}

func (e *RevertedError) Error() string {
	return fmt.Sprintf("postgres: the operator reset cluster %s's target primary from %s back to %s (phase %q, %q): the target is not an active instance",
		e.Cluster, e.Target, e.Primary, e.Phase, e.PhaseReason)
}

// Is reports ErrTarget.
func (e *RevertedError) Is(target error) bool { return target == ErrTarget }

// verifySwitchover watches the Cluster, its instance pods and the -rw
// Service's EndpointSlices until the target serves as the one primary.
func (c *Client) verifySwitchover(ctx context.Context, plan *scaling.Plan, spec *switchoverSpec) (*scaling.Verification, error) {
	if spec.To == "" {
		return nil, &scaling.InvalidPlanError{Reason: "the plan names no target (it was blocked)"}
	}
	ns, name := spec.Request.Namespace, spec.Request.Cluster
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	clusters := c.dyn.Resource(clustersGVR).Namespace(ns)
	pods := c.kube.CoreV1().Pods(ns)
	eps := c.kube.DiscoveryV1().EndpointSlices(ns)
	sources := []await.Source{
		await.Typed(c.dyn, "cluster", &unstructured.Unstructured{}, clusters.List, clusters.Watch, await.ByName(name)),
		await.Typed(c.kube, "pods", &corev1.Pod{}, pods.List, pods.Watch, metav1.ListOptions{LabelSelector: LabelCluster + "=" + name + "," + LabelPodRole + "=instance"}),
		await.Typed(c.kube, "endpointslices", &discoveryv1.EndpointSlice{}, eps.List, eps.Watch, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name + apiv1.ServiceReadWriteSuffix}),
	}
	if len(spec.Pause) > 0 {
		poolers := c.dyn.Resource(poolersGVR).Namespace(ns)
		sources = append(sources, await.Typed(c.dyn, "poolers", &unstructured.Unstructured{}, poolers.List, poolers.Watch, metav1.ListOptions{}))
	}
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err := await.Until(ctx, sources, func(s await.Stores) (bool, error) {
		now := time.Now()
		us := await.List[*unstructured.Unstructured](s[0])
		if len(us) == 0 {
			return false, &scaling.NotFoundError{Object: plan.Target, Detail: "deleted while verifying"}
		}
		cl, err := toCluster(us[0])
		if err != nil {
			return false, err
		}
		st := cl.Status
		if reverted(st, spec.From, plan.CreatedAt) {
			return false, &RevertedError{Cluster: name, Target: spec.To, Primary: spec.From, Phase: st.Phase, PhaseReason: st.PhaseReason}
		}
		var primaries []string
		for _, p := range await.List[*corev1.Pod](s[1]) {
			switch role, legacy := p.Labels[LabelInstanceRole], p.Labels[LabelRole]; {
			case role == "primary" && legacy == "primary":
				primaries = append(primaries, p.Name)
			case role == "primary" || legacy == "primary":
				primaries = append(primaries, p.Name+" (one role label only)")
			}
		}
		slices.Sort(primaries)
		var endpoints []string
		for _, es := range await.List[*discoveryv1.EndpointSlice](s[2]) {
			for _, e := range es.Endpoints {
				if e.TargetRef != nil && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
					endpoints = append(endpoints, e.TargetRef.Name)
				}
			}
		}
		slices.Sort(endpoints)
		v.Checks = []scaling.Check{
			{Name: "current-primary", Expected: spec.To, Observed: st.CurrentPrimary, Passed: st.CurrentPrimary == spec.To, ObservedAt: now},
			{Name: "primary-pod", Expected: spec.To + " alone, both role labels", Observed: orEmpty(strings.Join(primaries, ", ")), Passed: len(primaries) == 1 && primaries[0] == spec.To, ObservedAt: now},
			{Name: "rw-endpoints", Expected: name + apiv1.ServiceReadWriteSuffix + " -> " + spec.To, Observed: orEmpty(strings.Join(endpoints, ", ")), Passed: len(endpoints) == 1 && endpoints[0] == spec.To, ObservedAt: now},
			{Name: "phase", Expected: apiv1.PhaseHealthy, Observed: st.Phase, Passed: st.Phase == apiv1.PhaseHealthy, ObservedAt: now},
		}
		if len(spec.Pause) > 0 {
			v.Checks = append(v.Checks, resumedCheck(await.List[*unstructured.Unstructured](s[3]), spec.Pause, now))
		}
		emitter.Emit(v.Checks)
		return verify.Passed(v.Checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before the target served as the one primary"), nil
}

// reverted tells the operator's reset of a refused target from a plan
// not applied yet: both leave the target on the old primary, but a reset
// follows an Apply, so the phase still says "Switchover in progress" (the
// reset does not touch it) or the target's timestamp is newer than the plan.
func reverted(st apiv1.ClusterStatus, from string, planned time.Time) bool {
	if st.TargetPrimary != from || st.CurrentPrimary != from {
		return false
	}
	if st.Phase == apiv1.PhaseSwitchover {
		return true
	}
	at, err := time.Parse(time.RFC3339Nano, st.TargetPrimaryTimestamp)
	return err == nil && at.After(planned)
}

// resumedCheck: every Pooler the plan paused is running again (a Pooler
// left paused holds every client of the database).
func resumedCheck(poolers []*unstructured.Unstructured, paused []string, now time.Time) scaling.Check {
	var still []string
	for _, p := range poolers {
		if on, _, _ := unstructured.NestedBool(p.Object, "spec", "pgbouncer", "paused"); on && slices.Contains(paused, p.GetName()) {
			still = append(still, p.GetName())
		}
	}
	slices.Sort(still)
	return scaling.Check{Name: "poolers-resumed", Expected: strings.Join(paused, ", ") + " not paused", Observed: "paused: " + orEmpty(strings.Join(still, ", ")), Passed: len(still) == 0, ObservedAt: now}
}

func orEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
