package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/pods"
	"github.com/ironflow/scaling/internal/verify"
	"github.com/ironflow/scaling/postgres"
)

// OpDrain is the Plan.Operation of PlanDrain's plans.
const OpDrain = "nodes.Drain"

// The steps of a drain plan, in order.
const (
	ActionSwitchover = "switchover"
	ActionCordon     = "cordon"
	ActionEvict      = "evict"
)

// Fingerprint aspects of a node.
const (
	AspectUnschedulable = "unschedulable"
	AspectPods          = "pods"
)

type drainSpec struct {
	Request     Drain              `json:"request"`
	Switchovers []switchoverTarget `json:"switchovers,omitempty"`
	Cordon      bool               `json:"cordon,omitempty"`
	Evict       []evictPod         `json:"evict,omitempty"`
	// Clusters are the CNPG clusters with an instance on the node.
	Clusters []string     `json:"clusters,omitempty"`
	Causes   opkit.Causes `json:"causes,omitempty"`
}

func nodeRef(name string) scaling.ObjectRef { return scaling.ObjectRef{Kind: "Node", Name: name} }

// PlanDrain reads the node, its pods, the PodDisruptionBudgets of their
// namespaces and the CloudNativePG Clusters of its instance pods, and plans
// its drain: a switchover of each CNPG primary on it (postgres.Switchover,
// whose guards this plan carries), the cordon, and one eviction per pod
// kubectl drain --ignore-daemonsets evicts (DaemonSet and mirror pods
// stay). Invalid input is a *scaling.InvalidInputError before any read; a
// missing node a *scaling.NotFoundError.
//
// Apply runs each switchover (the postgres client's Apply, then its Verify,
// which must succeed), cordons the node (a merge patch of
// spec.unschedulable) and evicts each pod through the Eviction API,
// retrying a budget's refusal (429) until the step's deadline. Verify
// watches until the node is unschedulable, no pod to evict is left on it,
// each evicted pod's controller has its pods Ready on other nodes, and no
// CNPG primary runs on it.
func (c *Client) PlanDrain(ctx context.Context, req Drain) (*scaling.Plan, error) {
	return c.planDrain(ctx, req, nil)
}

func (c *Client) planDrain(ctx context.Context, req Drain, pinned map[string]string) (*scaling.Plan, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	st, err := c.readDrain(ctx, req, pinned)
	if err != nil {
		return nil, err
	}
	d := decideDrain(req, st)
	ref := nodeRef(req.Node)
	var podNames []string
	for _, e := range d.evict {
		podNames = append(podNames, key(e.Namespace, e.Name))
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpDrain, Target: ref, Guards: d.guards, CreatedAt: time.Now().UTC(),
		Fingerprint: scaling.Fingerprint{
			scaling.FingerprintKey(ref, AspectUnschedulable): strconv.FormatBool(st.node.Spec.Unschedulable),
			scaling.FingerprintKey(ref, AspectPods):          strings.Join(podNames, ","),
		},
	}
	for _, k := range sortedKeys(st.switchovers) {
		for fk, fv := range st.switchovers[k].Fingerprint {
			plan.Fingerprint[fk] = fv
		}
	}
	for _, t := range d.switchovers {
		plan.Steps = append(plan.Steps, scaling.Step{Action: ActionSwitchover, Object: scaling.ObjectRef{Kind: "Cluster", Namespace: t.Namespace, Name: t.Cluster},
			Field: "status.currentPrimary", Before: t.From, After: t.To,
			Note: "postgres.Switchover, applied and verified before anything else: the primary leaves the node while it still runs, instead of failing over when evicted"})
	}
	if d.cordon {
		plan.Steps = append(plan.Steps, scaling.Step{Action: ActionCordon, Object: ref, Field: "spec.unschedulable", Before: "false", After: "true",
			Note: "kubectl cordon: nothing new is scheduled onto the node, so evicted pods come back elsewhere"})
	}
	for _, e := range d.evict {
		plan.Steps = append(plan.Steps, scaling.Step{Action: ActionEvict, Object: scaling.ObjectRef{Kind: "Pod", Namespace: e.Namespace, Name: e.Name},
			Field: "spec.nodeName", Before: req.Node, After: "(evicted)",
			Note: "policy/v1 Eviction, never a delete, so PodDisruptionBudgets are honoured; " + d.notes[key(e.Namespace, e.Name)]})
	}
	plan.NoOp = len(plan.Steps) == 0
	switch {
	case plan.NoOp:
		plan.Summary = fmt.Sprintf("Node %s is cordoned and has no pod to evict: nothing to do.", req.Node)
	default:
		plan.Summary = fmt.Sprintf("Drain node %s: %d switchover(s), cordon %t, %d eviction(s)%s.", req.Node, len(d.switchovers), d.cordon, len(d.evict), skippedNote(d.skipped))
	}
	causes, err := opkit.CausesOf(plan.Guards)
	if err != nil {
		return nil, err
	}
	spec := drainSpec{Request: req, Switchovers: d.switchovers, Cordon: d.cordon, Evict: d.evict, Clusters: sortedKeys(st.clusters), Causes: causes}
	if plan.Spec, err = planspec.Encode(spec); err != nil {
		return nil, err
	}
	return plan, nil
}

func skippedNote(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return "; left in place (DaemonSet, mirror or terminating): " + strings.Join(s, ", ")
}

// readDrain reads everything the decision needs, once.
func (c *Client) readDrain(ctx context.Context, req Drain, pinned map[string]string) (*drainState, error) {
	node, err := c.kube.CoreV1().Nodes().Get(ctx, req.Node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &scaling.NotFoundError{Object: nodeRef(req.Node), Detail: "no node of that name"}
	}
	if err != nil {
		return nil, fmt.Errorf("reading node %s: %w", req.Node, err)
	}
	list, err := c.kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", req.Node).String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of node %s: %w", req.Node, err)
	}
	st := &drainState{node: node, clusters: map[string]*cnpgCluster{}, switchovers: map[string]*scaling.Plan{}, want: map[string]int{}}
	for _, p := range list.Items {
		if p.Spec.NodeName == req.Node { // a fake ignores field selectors
			st.pods = append(st.pods, p)
		}
	}
	namespaces, cnpgNS := map[string]bool{}, map[string]bool{}
	for i := range st.pods {
		p := &st.pods[i]
		namespaces[p.Namespace] = true
		if p.Labels[postgres.LabelPodRole] == "instance" {
			cnpgNS[p.Namespace] = true
		}
	}
	for _, ns := range sortedKeys(namespaces) {
		pdbs, err := c.kube.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing the PodDisruptionBudgets of %s: %w", ns, err)
		}
		st.pdbs = append(st.pdbs, pdbs.Items...)
	}
	for _, ns := range sortedKeys(cnpgNS) {
		cls, err := c.dyn.Resource(clustersGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing the CNPG Clusters of %s: %w", ns, err)
		}
		for _, u := range cls.Items {
			cl := toCNPG(&u)
			if c.hasInstanceOn(st.pods, cl) {
				st.clusters[key(ns, cl.Name)] = cl
				st.want[string(u.GetUID())] = cl.Instances
			}
		}
	}
	for _, k := range sortedKeys(st.clusters) {
		cl := st.clusters[k]
		if cl.Instances < 2 || !slices.ContainsFunc(st.pods, func(p corev1.Pod) bool { return p.Namespace == cl.Namespace && p.Name == cl.CurrentPrimary }) {
			continue
		}
		pp, err := c.pg.PlanSwitchover(ctx, postgres.Switchover{Namespace: cl.Namespace, Cluster: cl.Name, Target: pinned[k], MaxLagBytes: req.MaxLagBytes})
		if err != nil {
			return nil, fmt.Errorf("planning the switchover of %s: %w", k, err)
		}
		st.switchovers[k] = pp
	}
	// The controllers' desired counts, for Verify.
	for i := range st.pods {
		ref := controllerOf(&st.pods[i])
		if ref == nil || st.want[string(ref.UID)] != 0 {
			continue
		}
		ns := st.pods[i].Namespace
		switch ref.Kind {
		case "ReplicaSet":
			rs, err := c.kube.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil && rs.Spec.Replicas != nil {
				st.want[string(ref.UID)] = int(*rs.Spec.Replicas)
			} else if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading ReplicaSet %s/%s: %w", ns, ref.Name, err)
			}
		case "StatefulSet":
			ss, err := c.kube.AppsV1().StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil && ss.Spec.Replicas != nil {
				st.want[string(ref.UID)] = int(*ss.Spec.Replicas)
			} else if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading StatefulSet %s/%s: %w", ns, ref.Name, err)
			}
		}
	}
	return st, nil
}

func (c *Client) hasInstanceOn(ps []corev1.Pod, cl *cnpgCluster) bool {
	return slices.ContainsFunc(ps, func(p corev1.Pod) bool {
		return p.Namespace == cl.Namespace && p.Labels[postgres.LabelPodRole] == "instance" && p.Labels[postgres.LabelCluster] == cl.Name
	})
}

func toCNPG(u *unstructured.Unstructured) *cnpgCluster {
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "instances")
	p, _, _ := unstructured.NestedString(u.Object, "status", "currentPrimary")
	return &cnpgCluster{Namespace: u.GetNamespace(), Name: u.GetName(), Instances: int(n), CurrentPrimary: p}
}

// causesJSON encodes the postgres blocking guards' causes.
func causesJSON(gs []scaling.GuardResult) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, g := range gs {
		if g.Cause == nil {
			continue
		}
		if raw, err := json.Marshal(g.Cause); err == nil {
			out[g.Name] = raw
		}
	}
	return out
}

// deriveDrain plans a stored drain again, promoting the targets it chose.
func (c *Client) deriveDrain(ctx context.Context, spec *drainSpec) (*scaling.Plan, *drainSpec, error) {
	pinned := map[string]string{}
	for _, t := range spec.Switchovers {
		pinned[key(t.Namespace, t.Cluster)] = t.To
	}
	return opkit.Decoded[drainSpec](c.planDrain(ctx, spec.Request, pinned))
}

// applyDrain runs the steps: switchovers (applied and verified), cordon,
// evictions.
func (c *Client) applyDrain(ctx context.Context, plan *scaling.Plan, spec *drainSpec) (*scaling.Applied, error) {
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress, StepTimeout: c.opts.StepTimeout}
	return run.Apply(ctx, func(ctx context.Context, i int, s scaling.Step) (bool, error) {
		switch s.Action {
		case ActionSwitchover:
			return true, c.switchover(ctx, spec, s)
		case ActionCordon:
			_, err := c.kube.CoreV1().Nodes().Patch(ctx, s.Object.Name, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
			if err != nil {
				return false, fmt.Errorf("cordoning node %s: %w", s.Object.Name, err)
			}
			return true, nil
		case ActionEvict:
			var uid types.UID
			for _, e := range spec.Evict {
				if e.Namespace == s.Object.Namespace && e.Name == s.Object.Name {
					uid = types.UID(e.UID)
				}
			}
			return c.evict(ctx, s.Object.Namespace, s.Object.Name, uid)
		}
		return false, &scaling.InvalidPlanError{Reason: "unknown step " + s.Action}
	})
}

func (c *Client) switchover(ctx context.Context, spec *drainSpec, s scaling.Step) error {
	ns, name := s.Object.Namespace, s.Object.Name
	pp, err := c.pg.PlanSwitchover(ctx, postgres.Switchover{Namespace: ns, Cluster: name, Target: s.After, MaxLagBytes: spec.Request.MaxLagBytes})
	if err != nil {
		return err
	}
	if err := opkit.Blocked(pp); err != nil {
		return err
	}
	if _, err := c.pg.Apply(ctx, pp); err != nil {
		return err
	}
	v, err := c.pg.Verify(ctx, pp)
	if err != nil {
		return err
	}
	if v.Phase != scaling.Succeeded {
		return &SwitchoverFailedError{Namespace: ns, Cluster: name, Phase: string(v.Phase), Reason: v.Reason}
	}
	return nil
}

// evict posts a policy/v1 Eviction (with the planned UID as precondition,
// so a pod re-created under the same name is not evicted), retrying while
// a budget refuses it (429) until ctx ends, as kubectl drain does.
func (c *Client) evict(ctx context.Context, ns, name string, uid types.UID) (bool, error) {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if uid != "" {
		ev.DeleteOptions = &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	}
	for {
		err := c.kube.PolicyV1().Evictions(ns).Evict(ctx, ev)
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err), apierrors.IsConflict(err) && uid != "":
			// Gone already, or another pod of that name: nothing to evict.
			return false, nil
		case apierrors.IsTooManyRequests(err):
			t := time.NewTimer(c.opts.EvictionRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, fmt.Errorf("evicting pod %s/%s: a PodDisruptionBudget refused it until the step's deadline: %w", ns, name, err)
			case <-t.C:
			}
		default:
			return false, fmt.Errorf("evicting pod %s/%s: %w", ns, name, err)
		}
	}
}

// verifyDrain watches the node, its pods, the namespaces' pods and the
// CNPG Clusters until the drain holds.
func (c *Client) verifyDrain(ctx context.Context, plan *scaling.Plan, spec *drainSpec) (*scaling.Verification, error) {
	node := spec.Request.Node
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	nodes := c.kube.CoreV1().Nodes()
	onNode := c.kube.CoreV1().Pods(metav1.NamespaceAll)
	sources := []await.Source{
		await.Typed(c.kube, "node", &corev1.Node{}, nodes.List, nodes.Watch, await.ByName(node)),
		await.Typed(c.kube, "node-pods", &corev1.Pod{}, onNode.List, onNode.Watch, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()}),
	}
	nsSet := map[string]bool{}
	for _, e := range spec.Evict {
		nsSet[e.Namespace] = true
	}
	clusterNS := map[string]bool{}
	for _, k := range spec.Clusters {
		ns, _, _ := strings.Cut(k, "/")
		nsSet[ns], clusterNS[ns] = true, true
	}
	podIdx, clIdx := map[string]int{}, map[string]int{}
	for _, ns := range sortedKeys(nsSet) {
		p := c.kube.CoreV1().Pods(ns)
		podIdx[ns] = len(sources)
		sources = append(sources, await.Typed(c.kube, "pods "+ns, &corev1.Pod{}, p.List, p.Watch, metav1.ListOptions{}))
	}
	for _, ns := range sortedKeys(clusterNS) {
		r := c.dyn.Resource(clustersGVR).Namespace(ns)
		clIdx[ns] = len(sources)
		sources = append(sources, await.Typed(c.dyn, "clusters "+ns, &unstructured.Unstructured{}, r.List, r.Watch, metav1.ListOptions{}))
	}
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err := await.Until(ctx, sources, func(s await.Stores) (bool, error) {
		now := time.Now()
		ns := await.List[*corev1.Node](s[0])
		if len(ns) == 0 {
			return false, &scaling.NotFoundError{Object: plan.Target, Detail: "deleted while verifying"}
		}
		var left []string
		for _, p := range await.List[*corev1.Pod](s[1]) {
			if p.Spec.NodeName != node {
				continue
			}
			if ref := controllerOf(p); classify(p) != kindMirror && (ref == nil || ref.Kind != "DaemonSet") {
				left = append(left, key(p.Namespace, p.Name))
			}
		}
		slices.Sort(left)
		v.Checks = []scaling.Check{
			{Name: "node-unschedulable", Expected: "true", Observed: strconv.FormatBool(ns[0].Spec.Unschedulable), Passed: ns[0].Spec.Unschedulable, ObservedAt: now},
			{Name: "node-drained", Expected: "no pod to evict on " + node, Observed: orNone(strings.Join(left, ", ")), Passed: len(left) == 0, ObservedAt: now},
		}
		v.Checks = append(v.Checks, replicasCheck(s, podIdx, spec, node, now))
		v.Checks = append(v.Checks, primariesCheck(s, podIdx, clIdx, spec, node, now))
		emitter.Emit(v.Checks)
		return verify.Passed(v.Checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before the node was drained"), nil
}

// replicasCheck: each evicted pod's controller has its desired pods Ready,
// none on the node.
func replicasCheck(s await.Stores, podIdx map[string]int, spec *drainSpec, node string, now time.Time) scaling.Check {
	type own struct {
		ns   string
		ref  *ownerRef
		pods int
	}
	owners := map[string]*own{}
	for _, e := range spec.Evict {
		if e.Owner == nil {
			continue
		}
		if owners[e.Owner.UID] == nil {
			owners[e.Owner.UID] = &own{ns: e.Namespace, ref: e.Owner}
		}
		owners[e.Owner.UID].pods++
	}
	var expected, observed []string
	passed := true
	for _, uid := range sortedKeys(owners) {
		o := owners[uid]
		want := o.ref.Want
		ready := 0
		for _, p := range await.List[*corev1.Pod](s[podIdx[o.ns]]) {
			ref := controllerOf(p)
			if ref == nil || string(ref.UID) != uid || p.Spec.NodeName == "" || p.Spec.NodeName == node || p.DeletionTimestamp != nil || !pods.Ready(p) {
				continue
			}
			ready++
		}
		expected = append(expected, fmt.Sprintf("%s %s/%s: %d Ready off %s", o.ref.Kind, o.ns, o.ref.Name, want, node))
		observed = append(observed, fmt.Sprintf("%s %s/%s: %d", o.ref.Kind, o.ns, o.ref.Name, ready))
		if ready < want {
			passed = false
		}
	}
	return scaling.Check{Name: "replicas-ready-elsewhere", Expected: orNone(strings.Join(expected, "; ")), Observed: orNone(strings.Join(observed, "; ")), Passed: passed, ObservedAt: now}
}

// primariesCheck: no CNPG cluster that had an instance on the node has its
// primary there (or nowhere).
func primariesCheck(s await.Stores, podIdx, clIdx map[string]int, spec *drainSpec, node string, now time.Time) scaling.Check {
	var observed []string
	passed := true
	for _, k := range spec.Clusters {
		ns, name, _ := strings.Cut(k, "/")
		primary, at := "", "(absent)"
		for _, u := range await.List[*unstructured.Unstructured](s[clIdx[ns]]) {
			if u.GetName() == name {
				primary = toCNPG(u).CurrentPrimary
			}
		}
		for _, p := range await.List[*corev1.Pod](s[podIdx[ns]]) {
			if p.Name == primary {
				at = p.Spec.NodeName
			}
		}
		observed = append(observed, fmt.Sprintf("%s: %s on %s", k, orNone(primary), orNone(at)))
		if primary == "" || at == node || at == "(absent)" || at == "" {
			passed = false
		}
	}
	return scaling.Check{Name: "no-primary-on-node", Expected: "every CNPG primary runs off " + node, Observed: orNone(strings.Join(observed, "; ")), Passed: passed, ObservedAt: now}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
