package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/internal/verify"
)

// OpScaleInstances is the Plan.Operation of PlanScaleInstances' plans.
const OpScaleInstances = "postgres.ScaleInstances"

// The steps that show the operator's part of a ScaleInstances plan (not
// run: the upgrade makes the operator do them).
const (
	ActionAddInstance    = "add-instance"
	ActionRemoveInstance = "remove-instance"
)

// instancesValue is the chart's instance count, under the prefix.
const instancesValue = "instances"

// ScaleInstances sets how many PostgreSQL instances (one primary and its
// streaming replicas, Fluxbase's read replicas) a CloudNativePG cluster
// deployed by a Helm release runs: postgresql.instances, the Cluster's
// spec.instances.
type ScaleInstances struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Instances is the new count (>= 1).
	Instances int32 `json:"instances"`
	// ValuePrefix and Standalone locate the values, as in ExpandStorage.
	ValuePrefix string `json:"valuePrefix,omitempty"`
	Standalone  bool   `json:"standalone,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

func (r ScaleInstances) target() releaseTarget {
	return newReleaseTarget(r.Namespace, r.Release, r.ValuePrefix, r.Standalone)
}

func (r ScaleInstances) validate() error {
	if err := validateRelease("ScaleInstances", r.Namespace, r.Release, r.ValuePrefix, r.Standalone); err != nil {
		return err
	}
	if r.Instances < 1 {
		return &scaling.InvalidInputError{Field: "ScaleInstances.Instances", Value: r.Instances, Reason: "must be at least 1 (the primary)"}
	}
	return nil
}

// instancesSpec is a ScaleInstances plan's Spec.
type instancesSpec struct {
	Request  ScaleInstances `json:"request"`
	Cluster  string         `json:"cluster"`
	From     int32          `json:"from"`
	Primary  string         `json:"primary"`
	Removed  []string       `json:"removed,omitempty"`
	Added    []string       `json:"added,omitempty"`
	Revision int            `json:"revision"`
	Values   map[string]any `json:"values"`
	Causes   opkit.Causes   `json:"causes,omitempty"`
}

func (s instancesSpec) shown(c *Client) instancesSpec {
	s.Values = c.red.Values(s.Values)
	return s
}

// PlanScaleInstances reads the release, the CloudNativePG Cluster it
// renders, its instance pods and, for a scale-up, the namespace's storage
// quotas and LimitRanges, and plans the new count: one upgrade of the
// release, after which the operator adds replicas (a claim each, a base
// backup, streaming) or removes the highest-numbered ones. Invalid input
// (fewer than 1 instance) is a *scaling.InvalidInputError before anything
// is read. Guards: a scale-down that would remove the current primary
// (*PrimaryRemovalError: switch over first), a switchover or failover in
// flight (*InFlightError), the new instances' volumes against the storage
// quotas, LimitRanges and the largest volume (*scaling.StorageError);
// warnings for a single instance and an unhealthy cluster.
//
// Verify watches the Cluster and its instance pods until spec.instances
// and status.readyInstances are the count, exactly that many instance
// pods run Ready, the primary is one of them, and every replica streams
// from it (each non-primary instance's isWalReceiverActive, read through
// Options.Instances; re-read every half second while the Kubernetes side
// holds, since a replica catching up changes no object).
func (c *Client) PlanScaleInstances(ctx context.Context, req ScaleInstances) (*scaling.Plan, error) {
	plan, _, err := c.planScaleInstances(ctx, req)
	return plan, err
}

func (c *Client) planScaleInstances(ctx context.Context, req ScaleInstances) (*scaling.Plan, *instancesSpec, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	if err := c.needReleases("ScaleInstances"); err != nil {
		return nil, nil, err
	}
	t := req.target()
	src, err := req.Chart.For("ScaleInstances.Chart", c.opts.Chart)
	if err != nil {
		return nil, nil, err
	}
	rp, err := c.planRelease(ctx, t, src, []helmplan.Set{{Path: t.value(instancesValue), Value: int64(req.Instances)}})
	if err != nil {
		return nil, nil, err
	}
	hp := rp.hp
	st, err := c.readInstances(ctx, t, rp, req.Instances)
	if err != nil {
		return nil, nil, err
	}
	d := decideInstances(t, req.Instances, st)
	cl := st.cluster
	ref := clusterRef(t.Namespace, rp.name)
	fp := releaseFingerprint(t, hp, cl)
	fp[scaling.FingerprintKey(ref, scaling.AspectPrimary)] = cl.Status.CurrentPrimary
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpScaleInstances, Target: ref, CreatedAt: time.Now().UTC(), Guards: d.guards, Fingerprint: fp,
		Summary: fmt.Sprintf("Scale PostgreSQL cluster %s/%s from %d to %d instances through release %s (%s=%d).",
			t.Namespace, rp.name, cl.Spec.Instances, req.Instances, t.Release, t.value(instancesValue), req.Instances),
	}
	if d.holds {
		plan.NoOp = true
	} else {
		plan.Diff = hp.Diff
		plan.Steps = append(c.valueSteps(t.ref(), hp, []string{t.value(instancesValue)}, "sets the Cluster's spec.instances"), d.steps...)
		plan.Guards = append(plan.Guards, blastGuard(hp, nil))
	}
	req.Chart = hp.Chart
	spec := &instancesSpec{Request: req, Cluster: rp.name, From: int32(cl.Spec.Instances), Primary: cl.Status.CurrentPrimary, Removed: d.removed, Added: d.added,
		Revision: hp.Release.Revision, Values: hp.Values}
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec.shown(c)); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// readInstances reads the live Cluster, its instance pods and, for a
// scale-up, what bounds the new volumes.
func (c *Client) readInstances(ctx context.Context, t releaseTarget, rp *releasePlan, n int32) (*instancesState, error) {
	cl, err := c.getCluster(ctx, t.Namespace, rp.name)
	if err != nil {
		return nil, err
	}
	st := &instancesState{cluster: cl, maxSize: c.opts.MaxVolumeSize, valueChanges: true}
	if cur, ok := values.Int(rp.hp.Current, t.value(instancesValue)); ok && cur == int64(n) {
		st.valueChanges = false
	}
	list, err := c.kube.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: instanceSelector(rp.name)})
	if err != nil {
		return nil, fmt.Errorf("listing the instances of %s/%s: %w", t.Namespace, rp.name, err)
	}
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil {
			st.pods = append(st.pods, p)
		}
	}
	slices.SortFunc(st.pods, func(a, b *corev1.Pod) int { return instanceOrder(a.Name, b.Name) })
	if n <= int32(cl.Spec.Instances) {
		return st, nil
	}
	planned, err := renderedCluster(rp.after)
	if err != nil {
		return nil, err
	}
	if st.size, err = resource.ParseQuantity(planned.Spec.StorageConfiguration.Size); err != nil {
		return nil, fmt.Errorf("the rendered CNPG Cluster %s: spec.storage.size %q: %w", rp.name, planned.Spec.StorageConfiguration.Size, err)
	}
	if planned.Spec.StorageConfiguration.StorageClass != nil {
		st.class = *planned.Spec.StorageConfiguration.StorageClass
	}
	if st.class == "" {
		claims, err := c.dataClaims(ctx, t.Namespace, rp.name)
		if err != nil {
			return nil, err
		}
		for _, p := range claims {
			if p.Spec.StorageClassName != nil && *p.Spec.StorageClassName != "" {
				st.class = *p.Spec.StorageClassName
				break
			}
		}
	}
	if st.class == "" {
		// The quota of the default class counts the new claims too; a
		// cluster without a default leaves requests.storage to judge.
		st.class, _ = c.defaultClass(ctx)
	}
	if st.quotas, st.limits, err = c.storageLimits(ctx, t.Namespace); err != nil {
		return nil, err
	}
	return st, nil
}

func instanceSelector(cluster string) string {
	return LabelCluster + "=" + cluster + "," + LabelPodRole + "=instance"
}

func (c *Client) deriveScaleInstances(ctx context.Context, spec *instancesSpec) (*scaling.Plan, *instancesSpec, error) {
	return c.planScaleInstances(ctx, spec.Request)
}

func (c *Client) applyScaleInstances(ctx context.Context, plan *scaling.Plan, spec *instancesSpec) (*scaling.Applied, error) {
	r := spec.Request
	return c.upgradeRelease(ctx, plan, r.target(), spec.Revision, r.Chart, spec.Values)
}

// streamingBackstop is how often Verify reads the replicas' streaming
// state again once the Kubernetes side holds: a replica catching up
// changes no object a watch would see.
const streamingBackstop = 500 * time.Millisecond

// verifyScaleInstances watches the Cluster and its instance pods, and asks
// each replica whether it streams.
func (c *Client) verifyScaleInstances(ctx context.Context, plan *scaling.Plan, spec *instancesSpec) (*scaling.Verification, error) {
	r := spec.Request
	t := r.target()
	n := r.Instances
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	rel, vals, err := c.releaseValues(ctx, t, r.Chart)
	if err != nil {
		return nil, err
	}
	value := releaseCheck(rel, vals, t.value(instancesValue), n)
	if !value.Passed {
		return notApplied(v, t, []scaling.Check{value}), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clusters := c.dyn.Resource(clustersGVR).Namespace(t.Namespace)
	pods := c.kube.CoreV1().Pods(t.Namespace)
	stores, changed, err := await.Watch(ctx, []await.Source{
		await.Typed(c.dyn, "cluster", &unstructured.Unstructured{}, clusters.List, clusters.Watch, await.ByName(spec.Cluster)),
		await.Typed(c.kube, "pods", &corev1.Pod{}, pods.List, pods.Watch, metav1.ListOptions{LabelSelector: instanceSelector(spec.Cluster)}),
	})
	if err != nil {
		return nil, err
	}
	streaming := &streamCache{ok: map[string]bool{}}
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err = await.Signalled(ctx, await.Merge(ctx, changed, backstop(ctx, streamingBackstop)), func() (bool, error) {
		now := time.Now()
		u := named(await.List[*unstructured.Unstructured](stores[0]), spec.Cluster)
		if u == nil {
			return false, &scaling.NotFoundError{Object: plan.Target, Detail: "deleted while verifying"}
		}
		cl, err := toCluster(u)
		if err != nil {
			return false, err
		}
		want := strconv.Itoa(int(n))
		var live, ready []*corev1.Pod
		for _, p := range await.List[*corev1.Pod](stores[1]) {
			if p.DeletionTimestamp != nil {
				continue
			}
			live = append(live, p)
			if podReady(p) {
				ready = append(ready, p)
			}
		}
		slices.SortFunc(live, func(a, b *corev1.Pod) int { return instanceOrder(a.Name, b.Name) })
		primary := cl.Status.CurrentPrimary
		checks := []scaling.Check{
			value,
			{Name: "spec-instances", Expected: want, Observed: strconv.Itoa(cl.Spec.Instances), Passed: cl.Spec.Instances == int(n), ObservedAt: now},
			{Name: "ready-instances", Expected: want, Observed: strconv.Itoa(cl.Status.ReadyInstances), Passed: cl.Status.ReadyInstances == int(n), ObservedAt: now},
			{Name: "instance-pods", Expected: want + " Ready instance pods", Observed: fmt.Sprintf("%d Ready of %d (%s)", len(ready), len(live), orEmpty(podNames(live))),
				Passed: len(live) == int(n) && len(ready) == int(n), ObservedAt: now},
			{Name: "primary", Expected: "a running instance, not moving", Observed: orEmpty(primary) + " -> " + orEmpty(cl.Status.TargetPrimary),
				Passed: primary != "" && primary == cl.Status.TargetPrimary && slices.ContainsFunc(ready, func(p *corev1.Pod) bool { return p.Name == primary }), ObservedAt: now},
		}
		stream := scaling.Check{Name: "replicas-streaming", Expected: fmt.Sprintf("%d replicas streaming from %s", n-1, orEmpty(primary)), ObservedAt: now}
		if verify.Passed(checks) {
			var on, off []string
			for _, p := range ready {
				if p.Name == primary {
					continue
				}
				if ok, why := streaming.check(ctx, c.instances, p); ok {
					on = append(on, p.Name)
				} else {
					off = append(off, p.Name+" ("+why+")")
				}
			}
			stream.Observed = fmt.Sprintf("%d streaming: %s", len(on), orEmpty(strings.Join(on, ", ")))
			if len(off) > 0 {
				stream.Detail = "not streaming: " + strings.Join(off, "; ")
			}
			stream.Passed = len(off) == 0 && len(on) == int(n)-1
		} else {
			stream.Observed = "not read until the instances are up"
		}
		checks = append(checks, stream)
		v.Checks = checks
		emitter.Emit(v.Checks)
		return verify.Passed(checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before every instance ran and streamed"), nil
}

// streamCache remembers the replicas seen streaming: a replica
// that streamed once is not asked again on every event (keyed by UID and
// name: a pod recreated under its name is asked again).
type streamCache struct {
	mu sync.Mutex
	ok map[string]bool
}

func (s *streamCache) check(ctx context.Context, in Instances, p *corev1.Pod) (bool, string) {
	s.mu.Lock()
	key := string(p.UID) + "/" + p.Name
	seen := s.ok[key]
	s.mu.Unlock()
	if seen {
		return true, ""
	}
	st, err := in.Status(ctx, p)
	switch {
	case err != nil:
		return false, err.Error()
	case st.IsPrimary:
		return false, "reports itself primary"
	case !st.WALReceiverActive:
		return false, "WAL receiver inactive"
	}
	s.mu.Lock()
	s.ok[key] = true
	s.mu.Unlock()
	return true, ""
}

func podNames(ps []*corev1.Pod) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
