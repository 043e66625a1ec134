package nodes

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/postgres"
)

// Labels and annotations the drain reads.
const (
	// LabelNATS marks a NATS server pod (the nats chart's
	// app.kubernetes.io/name).
	LabelNATS = "app.kubernetes.io/name"
	// AnnotationMirror marks a mirror (static) pod, which the kubelet
	// runs from a file: the API cannot evict it.
	AnnotationMirror = corev1.MirrorPodAnnotationKey
)

// Drain asks to empty a node for maintenance, the runbook's "switch over,
// then drain the node that ran the primary": every CloudNativePG primary on
// it is switched over first, then the node is cordoned and its pods are
// evicted (kubectl drain --ignore-daemonsets, evictions only).
type Drain struct {
	Node string `json:"node"`
	// AcceptDowntime lets a single-instance CNPG cluster whose only
	// instance runs on the node be evicted: the database is down until its
	// pod runs elsewhere.
	AcceptDowntime bool `json:"acceptDowntime,omitempty"`
	// MaxLagBytes is each switchover's limit (postgres.Switchover); zero
	// means postgres.DefaultMaxLagBytes.
	MaxLagBytes int64 `json:"maxLagBytes,omitempty"`
}

func (r Drain) validate() error {
	switch {
	case r.Node == "":
		return &scaling.InvalidInputError{Field: "Drain.Node", Value: `""`, Reason: "is required"}
	case strings.ContainsAny(r.Node, "/ ,="):
		return &scaling.InvalidInputError{Field: "Drain.Node", Value: r.Node, Reason: "is not a node name"}
	case r.MaxLagBytes < 0:
		return &scaling.InvalidInputError{Field: "Drain.MaxLagBytes", Value: r.MaxLagBytes, Reason: "must not be negative"}
	}
	return nil
}

// cnpgCluster is what the drain needs of a CloudNativePG Cluster.
type cnpgCluster struct {
	Namespace, Name string
	Instances       int
	CurrentPrimary  string
}

// drainState is what a drain plan reads, once, before any guard.
type drainState struct {
	node *corev1.Node
	// pods are the pods bound to the node.
	pods []corev1.Pod
	// pdbs are the budgets of the pods' namespaces.
	pdbs []policyv1.PodDisruptionBudget
	// clusters are the CNPG Clusters of the instance pods' namespaces, by
	// namespace/name.
	clusters map[string]*cnpgCluster
	// switchovers are the postgres plans of the primaries on the node, by
	// namespace/cluster.
	switchovers map[string]*scaling.Plan
	// want is each controller's desired pod count, by UID.
	want map[string]int
}

// evictPod is one pod the plan evicts and the controller that replaces it.
type evictPod struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       string    `json:"uid"`
	Owner     *ownerRef `json:"owner,omitempty"`
	// Primary is set on a CNPG primary switched over before.
	Primary bool `json:"primary,omitempty"`
}

type ownerRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	UID  string `json:"uid"`
	// Want is the pods it keeps (spec.replicas, spec.instances); 0 when
	// the kind is not one the drain knows (a Job).
	Want int `json:"want"`
}

// switchoverTarget is one switchover the plan runs first.
type switchoverTarget struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	From      string `json:"from"`
	To        string `json:"to"`
}

type drainDecision struct {
	switchovers []switchoverTarget
	cordon      bool
	evict       []evictPod
	notes       map[string]string
	skipped     []string
	guards      []scaling.GuardResult
}

func key(ns, name string) string { return ns + "/" + name }

// controllerOf is the pod's controller reference (kubectl drain's
// metav1.GetControllerOf).
func controllerOf(p *corev1.Pod) *metav1.OwnerReference { return metav1.GetControllerOf(p) }

// podKind classifies a pod on the node as kubectl drain's filters do.
type podKind int

const (
	kindEvict podKind = iota
	kindDaemonSet
	kindMirror
	kindTerminating
	kindUnmanaged
)

func classify(p *corev1.Pod) podKind {
	if _, ok := p.Annotations[AnnotationMirror]; ok {
		return kindMirror
	}
	if p.DeletionTimestamp != nil {
		return kindTerminating
	}
	finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	ref := controllerOf(p)
	switch {
	case ref != nil && ref.Kind == "DaemonSet":
		return kindDaemonSet
	case ref == nil && !finished:
		return kindUnmanaged
	}
	return kindEvict
}

func hasEmptyDir(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.EmptyDir != nil })
}

// decideDrain evaluates the guards on the state and lists the steps. It
// is pure: the plan and Apply's re-derivation decide the same from the
// same reading.
func decideDrain(req Drain, st *drainState) drainDecision {
	d := drainDecision{notes: map[string]string{}}
	add := func(g scaling.GuardResult) { d.guards = append(d.guards, g) }
	pods := slices.Clone(st.pods)
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(key(a.Namespace, a.Name), key(b.Namespace, b.Name)) })

	var unmanaged, nats, single []string
	var singleErr *postgres.SingleInstanceError
	blocked := &SwitchoverBlockedError{}
	switched := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		k := classify(p)
		switch k {
		case kindDaemonSet, kindMirror, kindTerminating:
			d.skipped = append(d.skipped, key(p.Namespace, p.Name))
			continue
		case kindUnmanaged:
			unmanaged = append(unmanaged, key(p.Namespace, p.Name))
			continue
		}
		if p.Labels[LabelNATS] == "nats" {
			nats = append(nats, key(p.Namespace, p.Name))
		}
		ep := evictPod{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)}
		if ref := controllerOf(p); ref != nil {
			ep.Owner = &ownerRef{Kind: ref.Kind, Name: ref.Name, UID: string(ref.UID), Want: st.want[string(ref.UID)]}
		}
		var note []string
		if ep.Owner != nil {
			note = append(note, fmt.Sprintf("%s %s re-creates it on another node", ep.Owner.Kind, ep.Owner.Name))
		} else {
			note = append(note, "a finished pod: nothing re-creates it, nothing runs in it")
		}
		if p.Labels[postgres.LabelPodRole] == "instance" {
			cl := st.clusters[key(p.Namespace, p.Labels[postgres.LabelCluster])]
			if cl != nil && cl.CurrentPrimary == p.Name {
				ck := key(cl.Namespace, cl.Name)
				if cl.Instances < 2 {
					single = append(single, ck)
					singleErr = &postgres.SingleInstanceError{Cluster: cl.Name, Primary: p.Name}
					note = append(note, "the only instance of "+ck+": the database is down until it runs elsewhere")
				} else if pp := st.switchovers[ck]; pp != nil {
					ep.Primary = true
					switched[key(p.Namespace, p.Name)] = true
					if bs := pp.Blocking(); len(bs) > 0 {
						b := BlockedSwitchover{Namespace: cl.Namespace, Cluster: cl.Name, Primary: p.Name, Reasons: map[string]string{}}
						for _, g := range bs {
							b.Reasons[g.Name] = g.Reason
						}
						b.Causes = causesJSON(bs)
						blocked.Clusters = append(blocked.Clusters, b)
					} else {
						d.switchovers = append(d.switchovers, switchoverTarget{Namespace: cl.Namespace, Cluster: cl.Name, From: p.Name, To: promoteTarget(pp)})
					}
					note = append(note, "the primary of "+ck+", a replica once the switchover step ran")
				}
			}
		}
		if hasEmptyDir(p) {
			note = append(note, "its emptyDir volumes are deleted with it (kubectl drain's --delete-emptydir-data)")
		}
		d.notes[key(p.Namespace, p.Name)] = strings.Join(note, "; ")
		d.evict = append(d.evict, ep)
	}
	d.cordon = !st.node.Spec.Unschedulable

	// Guards, in a fixed order.
	switch {
	case len(single) > 0 && !req.AcceptDowntime:
		add(block(GuardSingleInstance, singleErr, "add a replica (postgresql.instances 2+) so the drain can switch over, or set AcceptDowntime"))
	case len(single) > 0:
		add(warn(GuardSingleInstance, "single-instance cluster "+strings.Join(single, ", ")+" is down until its pod runs on another node (AcceptDowntime)", "add a replica to drain without downtime"))
	default:
		add(pass(GuardSingleInstance, "no single-instance CNPG cluster runs on the node"))
	}
	switch {
	case len(blocked.Clusters) > 0:
		add(block(GuardSwitchover, blocked, "resolve the switchover's guards (postgres.PlanSwitchover shows them) and plan again"))
	case len(d.switchovers) > 0:
		var s []string
		for _, t := range d.switchovers {
			s = append(s, fmt.Sprintf("%s/%s %s -> %s", t.Namespace, t.Cluster, t.From, t.To))
		}
		add(pass(GuardSwitchover, "switchover "+strings.Join(s, ", ")+" passes its guards"))
	default:
		add(pass(GuardSwitchover, "no CNPG primary runs on the node"))
	}
	add(budgetGuard(st, d.evict, switched))
	if len(unmanaged) > 0 {
		add(block(GuardUnmanaged, &UnmanagedPodsError{Node: req.Node, Pods: unmanaged}, "delete them yourself, or run them under a controller (a Deployment), and plan again"))
	} else {
		add(pass(GuardUnmanaged, "every pod to evict has a controller"))
	}
	if len(nats) > 0 {
		add(warn(GuardNATS, "NATS server "+strings.Join(nats, ", ")+" runs on the node: the JetStream meta group (and each replicated stream) loses one peer until it runs again; quorum needs a majority of the cluster's servers, so a 3-server cluster has no margin for another failure meanwhile",
			"drain one NATS node at a time and wait for the server to rejoin (nats server report jetstream) before the next"))
	} else {
		add(pass(GuardNATS, "no NATS server runs on the node"))
	}
	return d
}

// budgetGuard: a budget allowing no disruption that selects a pod to
// evict blocks; a CNPG primary switched over first is not counted (its
// budget selects the primary role, which moves).
func budgetGuard(st *drainState, evict []evictPod, switched map[string]bool) scaling.GuardResult {
	byKey := map[string]*corev1.Pod{}
	for i := range st.pods {
		byKey[key(st.pods[i].Namespace, st.pods[i].Name)] = &st.pods[i]
	}
	var budgets, pods []string
	for _, b := range st.pdbs {
		if b.Status.DisruptionsAllowed > 0 || b.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		hit := false
		for _, e := range evict {
			k := key(e.Namespace, e.Name)
			p := byKey[k]
			if p == nil || p.Namespace != b.Namespace || switched[k] || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			hit = true
			if !slices.Contains(pods, k) {
				pods = append(pods, k)
			}
		}
		if hit {
			budgets = append(budgets, key(b.Namespace, b.Name))
		}
	}
	if len(budgets) > 0 {
		slices.Sort(budgets)
		slices.Sort(pods)
		return block(GuardDisruptionBudget, &DisruptionBudgetError{Budgets: budgets, Pods: pods},
			"wait until the budget allows a disruption (more replicas Ready, or scale up) and plan again")
	}
	return pass(GuardDisruptionBudget, "every budget selecting a pod to evict allows a disruption")
}

// promoteTarget is the instance the postgres plan promotes.
func promoteTarget(p *scaling.Plan) string {
	for _, s := range p.Steps {
		if s.Action == postgres.ActionPromote {
			return s.After
		}
	}
	return ""
}

func pass(name, reason string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Pass, Reason: reason}
}

func warn(name, reason, remedy string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Warn, Reason: reason, Remedy: remedy}
}

func block(name string, cause error, remedy string) scaling.GuardResult {
	return scaling.GuardResult{Name: name, Outcome: scaling.Block, Reason: cause.Error(), Remedy: remedy, Cause: cause}
}
