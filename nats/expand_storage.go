package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/internal/verify"
)

// OpExpandStorage is the Operation of ExpandStorage plans.
const OpExpandStorage = "nats.ExpandStorage"

// Step actions of an ExpandStorage plan, besides ActionSetReleaseValue
// (which here sets the volume size).
const (
	ActionResizeClaim       = "resize-claim"
	ActionOrphanStatefulSet = "orphan-statefulset"
	ActionReplaceVolume     = "replace-volume"
)

// Guard names of an ExpandStorage plan (and GuardHealth).
const (
	GuardShrink    = "storage-shrink"
	GuardExpansion = "volume-expansion"
	GuardResync    = "resync-replicas"
	GuardOrphaned  = "orphaned-pods"
)

// ExpandStorage grows the JetStream volumes of a NATS StatefulSet deployed
// by a Helm release (the runbook's "Increasing JetStream PVC size"). A
// StatefulSet's volumeClaimTemplates are immutable, so `helm upgrade` with a
// new size fails; this does what an operator does by hand instead.
//
// When the claims' StorageClass allows expansion, each claim is grown in
// place, one at a time; then the StatefulSet object is deleted with the
// orphan policy (its pods keep running) and the release is upgraded with the
// new size, which recreates it with the new template and adopts the pods.
//
// When it does not, the only way is the data-resync path: after the same
// orphan-and-upgrade, each server's claim and pod are deleted, one at a time
// from the highest ordinal, and the StatefulSet recreates both at the new
// size; the server starts empty and copies its streams back from its peers.
// It runs only with AcceptDataLoss and only when every stream has at least
// two replicas, so that a copy always survives elsewhere.
//
// A smaller size is refused: volumes never shrink.
type ExpandStorage struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Size is the new size of each server's volume, e.g. "20Gi".
	Size string `json:"size"`
	// ValuePrefix, Standalone and StatefulSet locate the chart's values
	// and the StatefulSet, as in ScaleCluster.
	ValuePrefix string `json:"valuePrefix,omitempty"`
	Standalone  bool   `json:"standalone,omitempty"`
	StatefulSet string `json:"statefulSet,omitempty"`
	// AcceptDataLoss allows the data-resync path: every server's volume is
	// deleted in turn. Streams keep their data only through their other
	// replicas.
	AcceptDataLoss bool `json:"acceptDataLoss,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r *ExpandStorage) validate() (resource.Quantity, error) {
	if err := validateRelease("ExpandStorage", r.Namespace, r.Release, r.ValuePrefix, r.Standalone); err != nil {
		return resource.Quantity{}, err
	}
	q, err := resource.ParseQuantity(r.Size)
	if err != nil || q.Sign() <= 0 {
		return resource.Quantity{}, &scaling.InvalidInputError{Field: "ExpandStorage.Size", Value: r.Size, Reason: `a positive Kubernetes quantity such as "20Gi" is required`}
	}
	return q, nil
}

// ShrinkError: the requested size is below the current one. Volumes do not
// shrink; a smaller store needs a new cluster and a migration.
type ShrinkError struct {
	Current   string   `json:"current"`
	Requested string   `json:"requested"`
	Claims    []string `json:"claims,omitempty"` // claims already larger than requested
}

func (e *ShrinkError) Error() string {
	s := fmt.Sprintf("nats: JetStream volumes are %s; %s would shrink them, which volumes cannot do", e.Current, e.Requested)
	if len(e.Claims) > 0 {
		s += " (larger claims: " + strings.Join(e.Claims, ", ") + ")"
	}
	return s
}

// Is reports ErrShrink.
func (e *ShrinkError) Is(target error) bool { return target == ErrShrink }

// NotExpandableError: the claims' StorageClass does not allow expansion and
// the plan has no AcceptDataLoss for the resync path.
type NotExpandableError struct {
	StorageClass string `json:"storageClass"`
}

func (e *NotExpandableError) Error() string {
	return fmt.Sprintf("nats: StorageClass %s does not allow volume expansion: the only way is to replace each server's volume and resync it from its peers", e.StorageClass)
}

// Is reports ErrNotExpandable.
func (e *NotExpandableError) Is(target error) bool { return target == ErrNotExpandable }

// UnreplicatedError: replacing a server's volume would lose these streams,
// which have no copy on another server (or the cluster has one server).
type UnreplicatedError struct {
	Servers int         `json:"servers"`
	Streams []StreamRef `json:"streams,omitempty"`
}

func (e *UnreplicatedError) Error() string {
	if e.Servers < 2 {
		return fmt.Sprintf("nats: a cluster of %d server has no peer to resync a replaced volume from", e.Servers)
	}
	return fmt.Sprintf("nats: %d stream(s) have a single replica and would lose their data with its volume: %s", len(e.Streams), streamList(e.Streams))
}

// Is reports ErrUnreplicated.
func (e *UnreplicatedError) Is(target error) bool { return target == ErrUnreplicated }

// Sentinels of ExpandStorage's guard errors.
var (
	ErrShrink        = errors.New("nats: volumes cannot shrink")
	ErrNotExpandable = errors.New("nats: the StorageClass does not allow expansion")
	ErrUnreplicated  = errors.New("nats: a replaced volume would lose data")
)

// expandSpec is an ExpandStorage plan's Spec.
type expandSpec struct {
	Request    ExpandStorage `json:"request"`
	Target     target        `json:"target"`
	Size       string        `json:"size"` // canonical form of Request.Size
	Claims     []string      `json:"claims"`
	Class      string        `json:"class"`
	Expandable bool          `json:"expandable"`
	Replicas   int           `json:"replicas"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// volumeState is what an ExpandStorage plan depends on.
type volumeState struct {
	*liveState
	template   string // the volumeClaimTemplate's name
	current    resource.Quantity
	claims     []*corev1.PersistentVolumeClaim
	class      string
	expandable bool
	// quotas and limits are the namespace's ResourceQuotas and LimitRanges;
	// maxSize the largest volume the backend provisions.
	quotas  []corev1.ResourceQuota
	limits  []corev1.LimitRange
	maxSize resource.Quantity
}

func (c *Client) readVolumes(ctx context.Context, t *target) (*volumeState, error) {
	st, err := c.readState(ctx, t, true)
	if err != nil {
		return nil, err
	}
	vs := &volumeState{liveState: st}
	tmpls := st.sts.Spec.VolumeClaimTemplates
	if len(tmpls) == 0 {
		return nil, &scaling.NotFoundError{Object: t.stsRef(), Detail: "it has no volumeClaimTemplates: JetStream has no persistent volume to expand"}
	}
	tmpl := tmpls[0]
	vs.template, vs.current = tmpl.Name, tmpl.Spec.Resources.Requests[corev1.ResourceStorage]
	class := ""
	if tmpl.Spec.StorageClassName != nil {
		class = *tmpl.Spec.StorageClassName
	}
	for i := range int(deref(st.sts.Spec.Replicas)) {
		name := claimName(vs.template, *t, i)
		pvc, err := c.kube.CoreV1().PersistentVolumeClaims(t.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, &scaling.NotFoundError{Object: claimRef(*t, name), Detail: "the claim of " + t.server(i)}
		}
		if err != nil {
			return nil, err
		}
		if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
			class = *pvc.Spec.StorageClassName // admission filled in the default
		}
		vs.claims = append(vs.claims, pvc)
	}
	if class == "" {
		if class, err = c.defaultClass(ctx); err != nil {
			return nil, err
		}
	}
	sc, err := c.kube.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "StorageClass", Name: class}, Detail: "the class of the JetStream claims"}
	}
	if err != nil {
		return nil, err
	}
	vs.class, vs.expandable = class, sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
	quotas, err := c.kube.CoreV1().ResourceQuotas(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the ResourceQuotas of %s: %w", t.Namespace, err)
	}
	limits, err := c.kube.CoreV1().LimitRanges(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the LimitRanges of %s: %w", t.Namespace, err)
	}
	vs.quotas, vs.limits, vs.maxSize = quotas.Items, limits.Items, c.opts.MaxVolumeSize
	return vs, nil
}

func (c *Client) defaultClass(ctx context.Context) (string, error) {
	list, err := c.kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, sc := range list.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return sc.Name, nil
		}
	}
	return "", &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "StorageClass", Name: "(default)"}, Detail: "the claims name no class and the cluster has no default"}
}

func claimName(template string, t target, ordinal int) string {
	return template + "-" + t.pod(ordinal)
}

func claimRef(t target, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: t.Namespace, Name: name}
}

func (vs *volumeState) fingerprint(t target) scaling.Fingerprint {
	fp := vs.liveState.fingerprint(t, nil, nil)
	for _, pvc := range vs.claims {
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		fp[scaling.FingerprintKey(claimRef(t, pvc.Name), scaling.AspectRequest)] = string(pvc.UID) + " " + q.String()
	}
	return fp
}

// PlanExpandStorage reads the release, the StatefulSet, its claims and
// their StorageClass, and JetStream (for the resync path's guards), and
// plans the growth. A plan is returned even when guards block it; Apply
// refuses such a plan. Invalid input is a *scaling.InvalidInputError before
// anything is read.
func (c *Client) PlanExpandStorage(ctx context.Context, req ExpandStorage) (*scaling.Plan, error) {
	size, err := req.validate()
	if err != nil {
		return nil, err
	}
	t := newTarget(req.Namespace, req.Release, req.ValuePrefix, req.Standalone, req.StatefulSet)
	if t.Chart, err = req.Chart.For("ExpandStorage.Chart", c.opts.Chart); err != nil {
		return nil, err
	}
	vs, err := c.readVolumes(ctx, &t)
	if err != nil {
		return nil, err
	}
	d := decideExpand(req, t, vs, size)
	var diff string
	if len(d.steps) > 0 && !blocks(d.guards) {
		res, err := helmplan.PlanFrom(ctx, c.releases, vs.release, t.Chart, []helmplan.Set{{Path: t.value(storageValue), Value: size.String()}}, c.red)
		if err != nil {
			return nil, err
		}
		// The StatefulSet's volumeClaimTemplates are immutable: this
		// operation replaces the StatefulSet object (orphaning its pods) on
		// purpose, and nothing else.
		blast, _ := helmplan.BlastRadius(res, func(dm helmplan.Damage) bool {
			return dm.Action == "replace" && dm.Object == t.stsRef()
		})
		d.guards = append(d.guards, blast)
		t.Chart, diff = res.Chart, res.Diff
	}
	causes, err := opkit.CausesOf(d.guards)
	if err != nil {
		return nil, err
	}
	req.Chart = t.Chart // pinned: Apply plans again from this request
	spec := expandSpec{Request: req, Target: t, Size: size.String(), Class: vs.class, Expandable: vs.expandable, Replicas: len(vs.claims), Causes: causes}
	for _, pvc := range vs.claims {
		spec.Claims = append(spec.Claims, pvc.Name)
	}
	raw, err := planspec.Encode(spec)
	if err != nil {
		return nil, err
	}
	plan := &scaling.Plan{
		Version:     scaling.PlanVersion,
		Operation:   OpExpandStorage,
		Target:      t.stsRef(),
		Summary:     fmt.Sprintf("JetStream volumes of %s: %s -> %s (StorageClass %s, expansion %s)", t.StatefulSet, vs.current.String(), size.String(), vs.class, map[bool]string{true: "allowed", false: "not allowed"}[vs.expandable]),
		Steps:       d.steps,
		Guards:      d.guards,
		NoOp:        len(d.steps) == 0,
		Fingerprint: vs.fingerprint(t),
		Spec:        raw,
		CreatedAt:   time.Now().UTC(),
	}
	plan.Diff = diff
	return plan, nil
}

// storageValue is the chart's JetStream volume size, under the prefix.
const storageValue = "config.jetstream.fileStore.pvc.size"

// deriveExpandStorage plans a stored ExpandStorage plan again from its
// request, with the chart it pinned.
func (c *Client) deriveExpandStorage(ctx context.Context, spec *expandSpec) (*scaling.Plan, *expandSpec, error) {
	req := spec.Request
	req.Chart = spec.Target.Chart
	return opkit.Decoded[expandSpec](c.PlanExpandStorage(ctx, req))
}

// applyExpandStorage runs a derived plan's steps in order, its guards
// evaluated again before each step after the first.
func (c *Client) applyExpandStorage(ctx context.Context, plan *scaling.Plan, spec *expandSpec) (*scaling.Applied, error) {
	t := spec.Target
	size, err := resource.ParseQuantity(spec.Size)
	if err != nil {
		return nil, &scaling.InvalidPlanError{Reason: "size " + spec.Size + ": " + err.Error()}
	}
	return c.applySteps(ctx, plan, func(ctx context.Context) (*scaling.Plan, error) {
		p, _, err := c.deriveExpandStorage(ctx, spec)
		return p, err
	}, func(ctx context.Context, step scaling.Step, changed <-chan struct{}) (bool, error) {
		switch step.Action {
		case ActionResizeClaim:
			return c.resizeClaim(ctx, t.Namespace, step.Object.Name, size)
		case ActionOrphanStatefulSet:
			return c.orphanStatefulSet(ctx, t)
		case ActionSetReleaseValue:
			// Upgrade even with unchanged values when the StatefulSet is
			// missing: the upgrade is what recreates it.
			_, err := c.kube.AppsV1().StatefulSets(t.Namespace).Get(ctx, t.StatefulSet, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
			return c.setRelease(ctx, t, []helmplan.Set{{Path: step.Field, Value: size.String()}}, spec.Replicas, apierrors.IsNotFound(err))
		case ActionReplaceVolume:
			return c.replaceVolume(ctx, t, step.Object.Name, size, changed)
		}
		return false, &scaling.InvalidPlanError{Reason: "unknown step action " + step.Action}
	})
}

func claimSource(c *Client, namespace, name string) await.Source {
	pvcs := c.kube.CoreV1().PersistentVolumeClaims(namespace)
	return await.Typed(c.kube, "claim", &corev1.PersistentVolumeClaim{}, pvcs.List, pvcs.Watch, await.ByName(name))
}

func capacity(pvc *corev1.PersistentVolumeClaim) resource.Quantity {
	return pvc.Status.Capacity[corev1.ResourceStorage]
}

// resizeClaim raises a claim's request and waits until its capacity shows
// the new size (the resizer and the kubelet have done their part).
func (c *Client) resizeClaim(ctx context.Context, namespace, name string, size resource.Quantity) (bool, error) {
	pvcs := c.kube.CoreV1().PersistentVolumeClaims(namespace)
	pvc, err := pvcs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	did := false
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(size) < 0 {
		patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size.String())
		if _, err := pvcs.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return false, err
		}
		did = true
	}
	return did, await.Until(ctx, []await.Source{claimSource(c, namespace, name)}, func(s await.Stores) (bool, error) {
		for _, p := range await.List[*corev1.PersistentVolumeClaim](s[0]) {
			if q := capacity(p); q.Cmp(size) >= 0 {
				return true, nil
			}
		}
		return false, nil
	})
}

// orphanStatefulSet deletes the StatefulSet object but not its pods, and
// waits until it is gone.
func (c *Client) orphanStatefulSet(ctx context.Context, t target) (bool, error) {
	stsClient := c.kube.AppsV1().StatefulSets(t.Namespace)
	orphan := metav1.DeletePropagationOrphan
	err := stsClient.Delete(ctx, t.StatefulSet, metav1.DeleteOptions{PropagationPolicy: &orphan})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	src := await.Typed(c.kube, "statefulset", &appsv1.StatefulSet{}, stsClient.List, stsClient.Watch, await.ByName(t.StatefulSet))
	return true, await.Until(ctx, []await.Source{src}, func(s await.Stores) (bool, error) {
		return len(s[0].List()) == 0, nil
	})
}

// replaceVolume deletes a server's claim and pod, waits for the
// StatefulSet to recreate both with a claim of the new size, and for the
// server to be current again with every stream replica caught up.
func (c *Client) replaceVolume(ctx context.Context, t target, claim string, size resource.Quantity, changed <-chan struct{}) (bool, error) {
	ordinal, err := strconv.Atoi(claim[strings.LastIndex(claim, "-")+1:])
	if err != nil {
		return false, &scaling.InvalidPlanError{Reason: "claim " + claim + " has no ordinal"}
	}
	server := t.server(ordinal)
	pvcs := c.kube.CoreV1().PersistentVolumeClaims(t.Namespace)
	old, err := pvcs.Get(ctx, claim, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	did := false
	var replaced types.UID // the deleted claim, which the new one must not be
	if err == nil && old.Spec.Resources.Requests.Storage().Cmp(size) < 0 {
		if err := pvcs.Delete(ctx, claim, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &old.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		// The claim stays Terminating while the pod uses it; deleting the
		// pod releases it, and the StatefulSet recreates both.
		if err := c.kube.CoreV1().Pods(t.Namespace).Delete(ctx, t.pod(ordinal), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		did, replaced = true, old.UID
	}
	err = await.Until(ctx, []await.Source{claimSource(c, t.Namespace, claim)}, func(s await.Stores) (bool, error) {
		for _, p := range await.List[*corev1.PersistentVolumeClaim](s[0]) {
			if p.UID != replaced && p.DeletionTimestamp == nil && p.Status.Phase == corev1.ClaimBound {
				q := capacity(p)
				return q.Cmp(size) >= 0, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return did, err
	}
	// Back: the server answers and the meta leader counts it current. Its
	// streams are then still copying: Raft calls a replica current before
	// the messages are in, so wait until it holds, for each of its streams,
	// what the leader held when it came back. Replacing the next volume any
	// earlier would lose whatever only the unfinished copies lacked.
	err = c.waitReport(ctx, changed, server+" back in the meta group", func(r *Report) bool {
		p, member := metaPeer(r, server)
		answered := slices.ContainsFunc(r.Servers, func(s ServerUsage) bool { return s.Name == server })
		return member && answered && p.Current && !p.Offline && metaSettled(r, r.Meta.Size)
	})
	if err != nil {
		return did, err
	}
	return did, c.waitCopied(ctx, changed, server+"'s streams", func(s StreamReport) []string {
		if slices.Contains(s.Peers, server) {
			return []string{server}
		}
		return nil
	})
}

// verifyExpandStorage watches the claims, the StatefulSet and JetStream
// until every claim has the size, the StatefulSet's template carries it and
// all its pods are ready, and the cluster is healthy.
func (c *Client) verifyExpandStorage(ctx context.Context, plan *scaling.Plan, spec *expandSpec) (*scaling.Verification, error) {
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	t := spec.Target
	size, err := resource.ParseQuantity(spec.Size)
	if err != nil {
		return nil, &scaling.InvalidPlanError{Reason: "size " + spec.Size + ": " + err.Error()}
	}
	pvcs := c.kube.CoreV1().PersistentVolumeClaims(t.Namespace)
	stores, changed, stop, err := c.watchCluster(ctx, t, await.Typed(c.kube, "claims", &corev1.PersistentVolumeClaim{}, pvcs.List, pvcs.Watch, metav1.ListOptions{}))
	if err != nil {
		return nil, err
	}
	defer stop()
	var value scaling.Check // the release's size, read until it holds
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err = await.Signalled(ctx, changed, func() (bool, error) {
		now := time.Now()
		var checks []scaling.Check
		claims := map[string]*corev1.PersistentVolumeClaim{}
		for _, p := range await.List[*corev1.PersistentVolumeClaim](stores[1]) {
			claims[p.Name] = p
		}
		for _, name := range spec.Claims {
			ch := scaling.Check{Name: "claim " + name, Expected: ">= " + size.String(), Observed: "missing", ObservedAt: now}
			if p := claims[name]; p != nil {
				q := capacity(p)
				ch.Observed, ch.Passed = q.String(), q.Cmp(size) >= 0 && p.Status.Phase == corev1.ClaimBound
			}
			checks = append(checks, ch)
		}
		tmpl := scaling.Check{Name: "statefulset-template", Expected: size.String(), Observed: "no StatefulSet", ObservedAt: now}
		stsReady, o := statefulSetState(stores[0])
		if o != nil && len(o.Spec.VolumeClaimTemplates) > 0 {
			q := o.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
			tmpl.Observed, tmpl.Passed = q.String(), q.Cmp(size) == 0
		}
		checks = append(checks, tmpl)
		if r, err := Inspect(ctx, c.sys, inspectWindow); err == nil {
			checks = append(checks, clusterChecks(r, spec.Replicas, true, stsReady)...)
			checks = append(checks, maxFileStoreCheck(r, spec.Replicas, size, now))
		} else {
			checks = append(checks, scaling.Check{Name: "reading", Expected: "servers answer", Observed: err.Error(), ObservedAt: now})
		}
		if !value.Passed {
			value = c.releaseSizeCheck(ctx, t, size)
		}
		checks = append(checks, value)
		v.Checks = checks
		emitter.Emit(v.Checks)
		return verify.Passed(checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "the volumes or the cluster did not settle before the deadline"), nil
}

// releaseSizeCheck compares the size the release's templates see with the
// planned one: without it the next upgrade would render the old template
// and fail on the immutable volumeClaimTemplates. A read error is a failed
// check with the error as the observation, so Verify keeps watching.
func (c *Client) releaseSizeCheck(ctx context.Context, t target, size resource.Quantity) scaling.Check {
	ch := scaling.Check{Name: "release-value", Expected: t.value(storageValue) + "=" + size.String(), ObservedAt: time.Now()}
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		ch.Observed = err.Error()
		return ch
	}
	vals, err := helmplan.Current(ctx, c.releases, rel, t.Chart)
	if err != nil {
		ch.Observed = err.Error()
		return ch
	}
	v, ok := values.Get(vals, t.value(storageValue))
	if !ok {
		ch.Observed = "unset"
		return ch
	}
	q, err := resource.ParseQuantity(fmt.Sprint(v))
	if err != nil {
		ch.Observed = fmt.Sprint(v)
		return ch
	}
	ch.Observed, ch.Passed = t.value(storageValue)+"="+q.String(), q.Cmp(size) == 0
	return ch
}

// rollsOnConfig reports whether the StatefulSet's pod template carries a
// checksum of nats.conf, so that any config change rolls every server.
func rollsOnConfig(sts *appsv1.StatefulSet) bool {
	if sts == nil {
		return false
	}
	_, ok := sts.Spec.Template.Annotations["checksum/config"]
	return ok
}

// reloads reports whether a config change reaches the servers by reload,
// not by a roll: the official chart's config reloader sidecar runs and no
// checksum/config annotation ties the pod template to nats.conf.
func reloads(sts *appsv1.StatefulSet) bool {
	if sts == nil {
		return false
	}
	if rollsOnConfig(sts) {
		return false
	}
	return slices.ContainsFunc(sts.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "reloader" })
}

// maxFileStoreCheck is what the servers themselves say: each one's
// JetStream max_file_store must have reached the new size, whether a roll
// restarted it or the reloader had it reload its config. The claims and the
// template growing prove nothing about the running servers.
func maxFileStoreCheck(r *Report, replicas int, size resource.Quantity, now time.Time) scaling.Check {
	want := uint64(size.Value())
	ch := scaling.Check{Name: "servers-max-file-store", Expected: fmt.Sprintf("%d servers with max_file_store >= %s", replicas, size.String()), ObservedAt: now}
	var parts []string
	ok := 0
	for _, s := range r.Servers {
		parts = append(parts, s.Name+" "+resource.NewQuantity(int64(s.StorageMax), resource.BinarySI).String())
		if s.StorageMax >= want {
			ok++
		}
	}
	slices.Sort(parts)
	ch.Observed = strings.Join(parts, ", ")
	ch.Passed = ok == replicas && len(r.Servers) == replicas
	return ch
}
