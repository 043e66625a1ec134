package nodes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"

	"github.com/ironflow/scaling"
)

// Diagnose asks why pods pend and, given a ServerType, how many more
// workers of that type would let every pending pod schedule: the runbook's
// "Add a worker node", steps 1 and 2. It only reads.
type Diagnose struct {
	// Namespace limits the pending pods considered; "" means every
	// namespace. The nodes' requested sums always count every pod.
	Namespace string `json:"namespace,omitempty"`
	// Selector is a label selector of the pending pods to consider; ""
	// means all.
	Selector string `json:"selector,omitempty"`
	// ServerType is the type of the workers to add, e.g. "cpx32"; "" means
	// a diagnosis without a Recommendation.
	ServerType string `json:"serverType,omitempty"`
	// ServerTypes is the table ServerType is looked up in; nil means
	// HetznerServerTypes.
	ServerTypes ServerTypes `json:"serverTypes,omitempty"`
	// NodeSelector is a label selector of the worker pool the new nodes
	// join (e.g. "scaling.ironflow.dev/pool=workers"): the new nodes carry
	// the labels and taints every pool node shares, and its DaemonSets'
	// pods. "" means the pool is the nodes labelled
	// node.kubernetes.io/instance-type=<ServerType>.
	NodeSelector string `json:"nodeSelector,omitempty"`
	// Reserved is what the kubelet and the system keep of a new node's
	// capacity, used only when no node of the type exists to read its
	// allocatable from; nil means the type's Reserved, else
	// DefaultReserved().
	Reserved corev1.ResourceList `json:"reserved,omitempty"`
}

// Reason is why the scheduler left a pod pending, classified from its
// message.
type Reason string

// The reasons a pod pends.
const (
	// ReasonInsufficientCPU, ReasonInsufficientMemory: the nodes that pass
	// the pod's taints and affinity lack free requests ("Insufficient
	// cpu").
	ReasonInsufficientCPU    Reason = "InsufficientCPU"
	ReasonInsufficientMemory Reason = "InsufficientMemory"
	// ReasonInsufficientPods: the nodes hold their max pods ("Too many
	// pods").
	ReasonInsufficientPods Reason = "InsufficientPods"
	// ReasonTaint: nodes carry a taint the pod does not tolerate.
	ReasonTaint Reason = "Taint"
	// ReasonAffinity: nodes do not match the pod's nodeSelector or
	// required node affinity.
	ReasonAffinity Reason = "Affinity"
	// ReasonVolume: a volume constraint (a PersistentVolume's node
	// affinity or zone, an unbound claim, a volume limit).
	ReasonVolume Reason = "Volume"
	// ReasonUnschedulable: nodes are cordoned (spec.unschedulable).
	ReasonUnschedulable Reason = "NodeUnschedulable"
	// ReasonNoNodes: the cluster has no node at all.
	ReasonNoNodes Reason = "NoNodes"
	// ReasonSchedulingGated: the pod's schedulingGates hold it back.
	ReasonSchedulingGated Reason = "SchedulingGated"
	// ReasonNotYetScheduled: the scheduler has not tried the pod yet (no
	// PodScheduled condition).
	ReasonNotYetScheduled Reason = "NotYetScheduled"
	// ReasonOther: anything else (ports, topology spread, pod
	// (anti-)affinity, an extended resource, ...): the Text says which.
	ReasonOther Reason = "Other"
)

// ReasonCount is one reason of the scheduler's message: Nodes is how many
// nodes it gave it for (the "3" of "3 Insufficient cpu"; all nodes for a
// reason the scheduler found before looking at any node), Text the
// scheduler's words.
type ReasonCount struct {
	Reason Reason `json:"reason"`
	Nodes  int    `json:"nodes"`
	Text   string `json:"text"`
}

// PendingPod is a pod waiting for a node.
type PendingPod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Controller is the kind/name of the pod's controller, if any.
	Controller string `json:"controller,omitempty"`
	// Requests are the pod's effective requests, as the scheduler counts
	// them (see NodeUsage.Requested), with pods: 1.
	Requests corev1.ResourceList `json:"requests"`
	// Reason is the primary reason: a resource shortage when the message
	// reports one on any node (those nodes passed the pod's taints and
	// affinity, which the scheduler checks before the fit, so capacity is
	// what keeps the pod off them), else the reason given for the most
	// nodes.
	Reason Reason `json:"reason"`
	// Reasons are every reason of the message, in its order.
	Reasons []ReasonCount `json:"reasons,omitempty"`
	// Nodes is the node count of the message ("0/5 nodes are available").
	Nodes int `json:"nodes,omitempty"`
	// Message is the PodScheduled condition's message, verbatim.
	Message string `json:"message,omitempty"`
	// Fixable: new nodes of the requested ServerType would let the pod
	// schedule (evaluated only with a ServerType): the scheduler has tried
	// it, no volume constraint holds it, its nodeSelector and required node
	// affinity match the new nodes' labels, it tolerates their taints, it
	// fits one new node after the DaemonSets, and the scheduler did not
	// give only reasons Diagnose does not model (topology spread, pod
	// anti-affinity, host ports). Beside a resource shortage such a reason
	// is not evaluated: the pod is counted, on the assumption that an empty
	// new node satisfies it. NotFixable says why not.
	Fixable    bool   `json:"fixable"`
	NotFixable string `json:"notFixable,omitempty"`
}

// Key is namespace/name.
func (p PendingPod) Key() string { return p.Namespace + "/" + p.Name }

// NodeUsage is one node as `kubectl describe node` ("Allocated resources")
// and `kubectl top node` show it.
type NodeUsage struct {
	Name         string `json:"name"`
	InstanceType string `json:"instanceType,omitempty"`
	Ready        bool   `json:"ready"`
	// Unschedulable: the node is cordoned.
	Unschedulable bool `json:"unschedulable,omitempty"`
	// Pool: the node is in the pool of Diagnose.NodeSelector.
	Pool        bool                `json:"pool,omitempty"`
	Allocatable corev1.ResourceList `json:"allocatable"`
	// Requested is the sum of the effective requests of the node's
	// non-terminated pods (phase neither Succeeded nor Failed, terminating
	// ones included, as the scheduler counts them): per pod, the larger of
	// the app containers' sum (with the sidecars, restartable init
	// containers) and each init container's request (with the sidecars
	// started before it), pod-level requests where set, plus the
	// RuntimeClass overhead; an in-place resize in flight counts at the
	// larger of the spec and the status (the rule of
	// k8s.io/component-helpers' PodRequests, which kubectl describe node
	// uses). pods is the pod count.
	Requested corev1.ResourceList `json:"requested"`
	// Percent is Requested over Allocatable, truncated, per resource.
	Percent map[corev1.ResourceName]int64 `json:"percent,omitempty"`
	// Usage is the node's usage from the metrics API (kubectl top node),
	// PodsUsage the sum of its pods' usage; both nil when the metrics API
	// is not served.
	Usage     corev1.ResourceList `json:"usage,omitempty"`
	PodsUsage corev1.ResourceList `json:"podsUsage,omitempty"`
	// UsagePercent is Usage over Allocatable, as kubectl top node's.
	UsagePercent map[corev1.ResourceName]int64 `json:"usagePercent,omitempty"`
}

// NewNode is one new node of a Recommendation and the pods placed on it.
type NewNode struct {
	// Pods are namespace/name, in placement order.
	Pods []string `json:"pods"`
	// Requested is the placed pods' requests.
	Requested corev1.ResourceList `json:"requested"`
}

// Recommendation is how many workers of the ServerType to add.
type Recommendation struct {
	ServerType string `json:"serverType"`
	// Capacity is the type's, from the ServerTypes table.
	Capacity corev1.ResourceList `json:"capacity"`
	// NodeAllocatable is a new node's allocatable before its DaemonSets:
	// an existing node's of the type (AllocatableFrom names them), or
	// Capacity minus Reserved.
	NodeAllocatable corev1.ResourceList `json:"nodeAllocatable"`
	AllocatableFrom string              `json:"allocatableFrom"`
	// Reserved is what was subtracted from Capacity, nil when the
	// allocatable was read from a node.
	Reserved corev1.ResourceList `json:"reserved,omitempty"`
	// DaemonSets (namespace/name) run a pod on each new node; Overhead is
	// the sum of their pods' requests.
	DaemonSets []string            `json:"daemonSets,omitempty"`
	Overhead   corev1.ResourceList `json:"overhead,omitempty"`
	// Allocatable is what one new node offers the pending pods:
	// NodeAllocatable minus Overhead.
	Allocatable corev1.ResourceList `json:"allocatable"`
	// Labels and Taints are the new nodes' as Diagnose assumes them: the
	// type's labels, the pool's common labels and NodeSelector's
	// equalities; the taints every pool node carries.
	Labels map[string]string `json:"labels"`
	Taints []corev1.Taint    `json:"taints,omitempty"`
	// AddNodes is how many new nodes the fixable pending pods need: their
	// requests bin-packed first-fit decreasing, largest dominant share
	// first (the pod's largest fraction of one new node's cpu, memory or
	// pods), each onto the first new node it fits, a new node opened when
	// it fits none. The free room of existing nodes is not counted: the
	// scheduler already refused each pod there.
	AddNodes int `json:"addNodes"`
	// Placement is each new node's pods.
	Placement []NewNode `json:"placement,omitempty"`
	// Unplaceable are the pods (namespace/name) new nodes would help but
	// that request more than one new node offers.
	Unplaceable []string `json:"unplaceable,omitempty"`
	// NotFixable counts the pending pods new nodes do not help (each
	// PendingPod says why), Unplaceable ones included.
	NotFixable int `json:"notFixable"`
	// Reasons explain the count, with the numbers.
	Reasons []string `json:"reasons"`
}

// Diagnosis is what Diagnose found.
type Diagnosis struct {
	Request Diagnose `json:"request"`
	// Pending are the pending pods of Namespace and Selector, by
	// namespace/name.
	Pending []PendingPod `json:"pending"`
	// Nodes are every node, by name.
	Nodes []NodeUsage `json:"nodes"`
	// MetricsServed: the metrics API (metrics.k8s.io, metrics-server)
	// answered, so the nodes carry Usage. MetricsError says why not when
	// the API is registered but did not answer. Through a scaling.Cluster
	// the probe uses its discovery cache: a metrics-server installed after
	// the Cluster's first discovery is seen once the cache is invalidated.
	MetricsServed bool   `json:"metricsServed"`
	MetricsError  string `json:"metricsError,omitempty"`
	// Recommendation is nil without a ServerType.
	Recommendation *Recommendation `json:"recommendation,omitempty"`
}

// DiagnosePermissions are the RBAC rules Diagnose needs, all cluster-wide
// (a ClusterRole): it reads and never writes.
func DiagnosePermissions() scaling.Permissions {
	return scaling.Permissions{
		Cluster: []rbacv1.PolicyRule{
			// Every node, every pod (a node's requests count the pods of
			// every namespace) and the DaemonSets a new node would run.
			scaling.Rule("", "nodes", "list"),
			scaling.Rule("", "pods", "list"),
			scaling.Rule("apps", "daemonsets", "list"),
			// kubectl top's source, when metrics-server serves it; without
			// these rules usage is reported missing, not an error.
			scaling.Rule("metrics.k8s.io", "nodes", "list"),
			scaling.Rule("metrics.k8s.io", "pods", "list"),
		},
	}
}

// The metrics API Diagnose reads, as kubectl top does.
const diagMetricsGroupVersion = "metrics.k8s.io/v1beta1"

var (
	diagNodeMetricsGVR = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "nodes"}
	diagPodMetricsGVR  = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}
)

// diagRequest is a validated Diagnose.
type diagRequest struct {
	Diagnose
	pods     labels.Selector
	pool     labels.Selector // nil: the nodes of the type
	typ      *ServerType
	reserved corev1.ResourceList
}

func (r Diagnose) validate() (*diagRequest, error) {
	out := &diagRequest{Diagnose: r, pods: labels.Everything()}
	if r.Namespace != "" {
		if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
			return nil, &scaling.InvalidInputError{Field: "Diagnose.Namespace", Value: r.Namespace, Reason: strings.Join(errs, "; ")}
		}
	}
	if r.Selector != "" {
		sel, err := labels.Parse(r.Selector)
		if err != nil {
			return nil, &scaling.InvalidInputError{Field: "Diagnose.Selector", Value: r.Selector, Reason: err.Error()}
		}
		out.pods = sel
	}
	if r.NodeSelector != "" {
		sel, err := labels.Parse(r.NodeSelector)
		if err != nil {
			return nil, &scaling.InvalidInputError{Field: "Diagnose.NodeSelector", Value: r.NodeSelector, Reason: err.Error()}
		}
		out.pool = sel
	}
	if err := diagNonNegative("Diagnose.Reserved", r.Reserved); err != nil {
		return nil, err
	}
	if r.ServerType == "" {
		if r.NodeSelector != "" || r.Reserved != nil {
			return nil, &scaling.InvalidInputError{Field: "Diagnose.ServerType", Value: `""`, Reason: "NodeSelector and Reserved describe the workers to add: name their ServerType"}
		}
		return out, nil
	}
	table := r.ServerTypes
	if table == nil {
		table = HetznerServerTypes
	}
	t, ok := table.Lookup(r.ServerType)
	if !ok {
		names := make([]string, len(table))
		for i, t := range table {
			names[i] = t.Name
		}
		return nil, &scaling.InvalidInputError{Field: "Diagnose.ServerType", Value: r.ServerType, Reason: "not in the server type table (" + strings.Join(names, ", ") + ")"}
	}
	if t.CPU.Sign() <= 0 || t.Memory.Sign() <= 0 || t.Pods < 0 {
		return nil, &scaling.InvalidInputError{Field: "Diagnose.ServerTypes", Value: t.Name, Reason: "a server type needs a positive CPU and Memory and non-negative Pods"}
	}
	if err := diagNonNegative("ServerType.Reserved", t.Reserved); err != nil {
		return nil, err
	}
	if out.pool != nil {
		reqs, _ := out.pool.Requirements()
		for _, q := range reqs {
			if q.Key() == corev1.LabelInstanceTypeStable && (q.Operator() == selection.Equals || q.Operator() == selection.DoubleEquals) && !strings.EqualFold(q.Values().UnsortedList()[0], t.Name) {
				return nil, &scaling.InvalidInputError{Field: "Diagnose.NodeSelector", Value: r.NodeSelector, Reason: "selects nodes of another instance type than ServerType " + t.Name}
			}
		}
	}
	out.typ = &t
	switch {
	case r.Reserved != nil:
		out.reserved = r.Reserved
	case t.Reserved != nil:
		out.reserved = t.Reserved
	default:
		out.reserved = DefaultReserved()
	}
	return out, nil
}

func diagNonNegative(field string, l corev1.ResourceList) error {
	for _, name := range slices.Sorted(maps.Keys(l)) {
		if q := l[name]; q.Sign() < 0 {
			return &scaling.InvalidInputError{Field: field, Value: string(name) + "=" + q.String(), Reason: "must not be negative"}
		}
	}
	return nil
}

// Diagnose reads the nodes, the pods and (with a ServerType) the
// DaemonSets, each in one list whatever the cluster's size, and probes the
// metrics API (one request; two more lists when it is served), and reports
// the pending pods with the scheduler's reasons, each node's requests
// against its allocatable, and with a ServerType how many more workers of
// it would let every pending pod it can help schedule. It writes nothing.
//
// Invalid input (a bad selector, a ServerType not in the table, a negative
// reservation) is a *scaling.InvalidInputError before any request. A list
// that fails is an error; the metrics API missing or failing is not (the
// diagnosis says so in MetricsServed and MetricsError).
func (c *Client) Diagnose(ctx context.Context, req Diagnose) (*Diagnosis, error) {
	r, err := req.validate()
	if err != nil {
		return nil, err
	}
	// Plain lists: a consistent read, which the API server serves from its
	// watch cache since Kubernetes 1.31 (ConsistentListFromCache), so
	// ResourceVersion "0" would only add staleness. No paging: one request
	// per kind, whatever the cluster's size.
	nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	// Every namespace, whatever r.Namespace: a node's requests count all
	// of its pods. Terminated pods hold nothing (kubectl describe node's
	// selector).
	pods, err := c.kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	st := &diagState{req: r, nodes: nodes.Items, pods: pods.Items}
	if r.typ != nil {
		ds, err := c.kube.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing DaemonSets: %w", err)
		}
		st.daemonSets = ds.Items
	}
	if err := c.diagMetrics(ctx, st); err != nil {
		return nil, err
	}
	return st.diagnose(), nil
}

// diagMetrics probes the metrics API (GET /apis/metrics.k8s.io/v1beta1, or
// no request at all through a scaling.Cluster's cached discovery once it
// is filled) and, when served, lists the node and pod metrics: one GET
// each of /apis/metrics.k8s.io/v1beta1/nodes and .../pods, through the
// dynamic client (this Client's REST client for untyped APIs, which a
// fake serves in tests too), read by hand, so no k8s.io/metrics
// dependency is needed.
func (c *Client) diagMetrics(ctx context.Context, st *diagState) error {
	res, err := discovery.ToDiscoveryInterfaceWithContext(c.kube.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, diagMetricsGroupVersion)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case apierrors.IsNotFound(err), errors.Is(err, memory.ErrCacheNotFound):
		// No metrics-server: kubectl top would fail the same way. A
		// scaling.Cluster's discovery is cached (one read of the groups, on
		// its first use, shared by every client), and answers for a group
		// the server does not have without a request.
		return nil
	case err != nil:
		st.metricsErr = "probing " + diagMetricsGroupVersion + ": " + err.Error()
		return nil
	}
	var hasNodes, hasPods bool
	for _, r := range res.APIResources {
		hasNodes = hasNodes || r.Name == "nodes"
		hasPods = hasPods || r.Name == "pods"
	}
	if !hasNodes || !hasPods {
		st.metricsErr = diagMetricsGroupVersion + " serves no nodes and pods metrics"
		return nil
	}
	nl, err := c.dyn.Resource(diagNodeMetricsGVR).List(ctx, metav1.ListOptions{})
	if err == nil {
		var pl *unstructured.UnstructuredList
		if pl, err = c.dyn.Resource(diagPodMetricsGVR).List(ctx, metav1.ListOptions{}); err == nil {
			st.nodeMetrics, st.podMetrics, err = diagDecodeMetrics(nl, pl)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		st.metricsErr = "reading " + diagMetricsGroupVersion + ": " + err.Error()
		st.nodeMetrics, st.podMetrics = nil, nil
		return nil
	}
	st.metricsServed = true
	return nil
}

// diagDecodeMetrics reads what Diagnose needs of metrics.k8s.io/v1beta1
// NodeMetrics ({metadata, usage}) and PodMetrics ({metadata, containers:
// [{name, usage}]}), by hand: the reflective unstructured converter took
// an eighth of a whole diagnosis of 2,000 pods.
func diagDecodeMetrics(nl, pl *unstructured.UnstructuredList) (map[string]corev1.ResourceList, map[string]corev1.ResourceList, error) {
	nodes, pods := map[string]corev1.ResourceList{}, map[string]corev1.ResourceList{}
	for i := range nl.Items {
		u, err := diagUsage(nl.Items[i].Object["usage"])
		if err != nil {
			return nil, nil, fmt.Errorf("decoding NodeMetrics %s: %w", nl.Items[i].GetName(), err)
		}
		nodes[nl.Items[i].GetName()] = u
	}
	for i := range pl.Items {
		item := &pl.Items[i]
		containers, _ := item.Object["containers"].([]any)
		sum := corev1.ResourceList{}
		for _, c := range containers {
			cm, _ := c.(map[string]any)
			u, err := diagUsage(cm["usage"])
			if err != nil {
				return nil, nil, fmt.Errorf("decoding PodMetrics %s/%s: %w", item.GetNamespace(), item.GetName(), err)
			}
			diagAdd(sum, u)
		}
		pods[item.GetNamespace()+"/"+item.GetName()] = sum
	}
	return nodes, pods, nil
}

func diagUsage(v any) (corev1.ResourceList, error) {
	m, _ := v.(map[string]any)
	out := make(corev1.ResourceList, len(m))
	for name, raw := range m {
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("usage %s is %T, not a quantity", name, raw)
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return nil, fmt.Errorf("usage %s: %w", name, err)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// diagState is what Diagnose read, once.
type diagState struct {
	req           *diagRequest
	nodes         []corev1.Node
	pods          []corev1.Pod
	daemonSets    []appsv1.DaemonSet
	metricsServed bool
	metricsErr    string
	nodeMetrics   map[string]corev1.ResourceList // by node name
	podMetrics    map[string]corev1.ResourceList // by namespace/name
}

// diagnose decides, from what was read, without a request.
func (st *diagState) diagnose() *Diagnosis {
	d := &Diagnosis{Request: st.req.Diagnose, MetricsServed: st.metricsServed, MetricsError: st.metricsErr}
	requested := map[string]corev1.ResourceList{}
	podsUsage := map[string]corev1.ResourceList{}
	reqOf := make([]corev1.ResourceList, len(st.pods))
	for i := range st.pods {
		p := &st.pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue // a fake ignores the field selector
		}
		reqOf[i] = diagPodRequests(p)
		if p.Spec.NodeName == "" {
			continue
		}
		if requested[p.Spec.NodeName] == nil {
			requested[p.Spec.NodeName] = corev1.ResourceList{}
		}
		diagAdd(requested[p.Spec.NodeName], reqOf[i])
		if u, ok := st.podMetrics[p.Namespace+"/"+p.Name]; ok {
			if podsUsage[p.Spec.NodeName] == nil {
				podsUsage[p.Spec.NodeName] = corev1.ResourceList{}
			}
			diagAdd(podsUsage[p.Spec.NodeName], u)
		}
	}
	pool := st.poolNodes()
	for i := range st.nodes {
		n := &st.nodes[i]
		alloc := n.Status.Allocatable
		if len(alloc) == 0 {
			alloc = n.Status.Capacity
		}
		u := NodeUsage{Name: n.Name, InstanceType: diagInstanceType(n), Ready: nodeReady(n), Unschedulable: n.Spec.Unschedulable,
			Pool: pool[n.Name], Allocatable: alloc.DeepCopy(), Requested: requested[n.Name]}
		if u.Requested == nil {
			u.Requested = corev1.ResourceList{corev1.ResourceCPU: resource.Quantity{}, corev1.ResourceMemory: resource.Quantity{}, corev1.ResourcePods: resource.Quantity{}}
		}
		u.Percent = diagPercent(u.Requested, alloc)
		if st.metricsServed {
			u.Usage = st.nodeMetrics[n.Name]
			u.PodsUsage = podsUsage[n.Name]
			if u.PodsUsage == nil {
				u.PodsUsage = corev1.ResourceList{}
			}
			if u.Usage != nil {
				u.UsagePercent = diagPercent(u.Usage, alloc)
			}
		}
		d.Nodes = append(d.Nodes, u)
	}
	slices.SortFunc(d.Nodes, func(a, b NodeUsage) int { return strings.Compare(a.Name, b.Name) })

	var pendingPods []*corev1.Pod
	for i := range st.pods {
		p := &st.pods[i]
		if !unscheduled(p) || (st.req.Namespace != "" && p.Namespace != st.req.Namespace) || !st.req.pods.Matches(labels.Set(p.Labels)) {
			continue
		}
		pendingPods = append(pendingPods, p)
		d.Pending = append(d.Pending, diagPending(p, reqOf[i]))
	}
	// Sorted together: pendingPods[i] is the pod of d.Pending[i].
	order := make([]int, len(d.Pending))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(d.Pending[a].Key(), d.Pending[b].Key()) })
	sorted, sortedPods := make([]PendingPod, len(order)), make([]*corev1.Pod, len(order))
	for i, j := range order {
		sorted[i], sortedPods[i] = d.Pending[j], pendingPods[j]
	}
	d.Pending = sorted
	if st.req.typ != nil {
		d.Recommendation = st.recommend(d.Pending, sortedPods, pool)
	}
	return d
}

func diagInstanceType(n *corev1.Node) string {
	if t := n.Labels[corev1.LabelInstanceTypeStable]; t != "" {
		return t
	}
	return n.Labels[corev1.LabelInstanceType]
}

// poolNodes are the nodes new workers join: those of NodeSelector, or
// without one those labelled with the ServerType; none without a type.
func (st *diagState) poolNodes() map[string]bool {
	out := map[string]bool{}
	for i := range st.nodes {
		n := &st.nodes[i]
		switch {
		case st.req.pool != nil:
			out[n.Name] = st.req.pool.Matches(labels.Set(n.Labels))
		case st.req.typ != nil:
			out[n.Name] = strings.EqualFold(diagInstanceType(n), st.req.typ.Name)
		}
		if !out[n.Name] {
			delete(out, n.Name)
		}
	}
	return out
}

// diagPending classifies one pending pod from its PodScheduled condition.
func diagPending(p *corev1.Pod, req corev1.ResourceList) PendingPod {
	out := PendingPod{Namespace: p.Namespace, Name: p.Name, Requests: req, Reason: ReasonNotYetScheduled}
	if ref := metav1.GetControllerOf(p); ref != nil {
		out.Controller = ref.Kind + "/" + ref.Name
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse {
			continue
		}
		out.Message = c.Message
		switch c.Reason {
		case corev1.PodReasonSchedulingGated:
			out.Reason = ReasonSchedulingGated
			out.Reasons = []ReasonCount{{Reason: ReasonSchedulingGated, Text: c.Message}}
		case corev1.PodReasonUnschedulable:
			out.Nodes, out.Reasons = diagParseMessage(c.Message)
			out.Reason = diagPrimary(out.Reasons)
		default:
			out.Reason = ReasonOther
			out.Reasons = []ReasonCount{{Reason: ReasonOther, Text: strings.TrimSpace(c.Reason + ": " + c.Message)}}
		}
	}
	return out
}

var (
	diagHeadRe       = regexp.MustCompile(`^0/(\d+) nodes are available:\s*`)
	diagCountRe      = regexp.MustCompile(`^(\d+) (.+)$`)
	diagPreemptionRe = regexp.MustCompile(`\s(?:pod group )?preemption: `)
)

// diagParseMessage splits a scheduler FitError message, "0/N nodes are
// available: <count reason>, <count reason>. preemption: ...", into its
// counted reasons. A reason the scheduler found before looking at nodes
// (a PreFilter's, "pod has unbound immediate PersistentVolumeClaims") has
// no count: it holds for all N nodes. The preemption part repeats the
// verdict for the preemption attempt and is left out.
func diagParseMessage(msg string) (int, []ReasonCount) {
	s := strings.TrimSpace(msg)
	head := diagHeadRe.FindStringSubmatch(s)
	if head == nil {
		text := strings.TrimSuffix(s, ".")
		r := diagClassify(text)
		if strings.Contains(strings.ToLower(text), "no nodes available") {
			r = ReasonNoNodes
		}
		return 0, []ReasonCount{{Reason: r, Text: text}}
	}
	nodes, _ := strconv.Atoi(head[1])
	s = s[len(head[0]):]
	if loc := diagPreemptionRe.FindStringIndex(" " + s); loc != nil {
		s = (" " + s)[:loc[0]]
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if nodes == 0 && s == "" {
		return 0, []ReasonCount{{Reason: ReasonNoNodes, Text: "no nodes"}}
	}
	var out []ReasonCount
	for _, part := range diagSplit(s) {
		rc := ReasonCount{Nodes: nodes, Text: part}
		if m := diagCountRe.FindStringSubmatch(part); m != nil {
			rc.Nodes, _ = strconv.Atoi(m[1])
			rc.Text = m[2]
		}
		rc.Reason = diagClassify(rc.Text)
		out = append(out, rc)
	}
	return nodes, out
}

// diagSplit splits on ", " outside braces: an older scheduler names the
// taint, "had untolerated taint {key: value}".
func diagSplit(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 && i+1 < len(s) && s[i+1] == ' ' {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 2
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// diagClassify maps one reason of the scheduler (its plugins' wording,
// kube-scheduler 1.2x to 1.37) to a Reason.
func diagClassify(text string) Reason {
	t := strings.ToLower(text)
	has := func(subs ...string) bool {
		return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(t, s) })
	}
	switch {
	case t == "insufficient cpu":
		return ReasonInsufficientCPU
	case t == "insufficient memory":
		return ReasonInsufficientMemory
	case t == "too many pods":
		return ReasonInsufficientPods
	case strings.HasPrefix(t, "insufficient "):
		return ReasonOther // ephemeral-storage, an extended resource
	case has("node.kubernetes.io/unschedulable", "were unschedulable"):
		return ReasonUnschedulable
	case has("volume", "persistentvolumeclaim", "pvc", "free storage", "available disk"):
		return ReasonVolume
	case has("taint"):
		return ReasonTaint
	case has("node affinity/selector", "scheduler-enforced node affinity", "pod affinity terms conflict"):
		return ReasonAffinity
	case has("no nodes available"):
		return ReasonNoNodes
	}
	return ReasonOther
}

func diagIsResource(r Reason) bool {
	return r == ReasonInsufficientCPU || r == ReasonInsufficientMemory || r == ReasonInsufficientPods
}

// diagPrimary: the resource shortage reported on the most nodes (cpu, then
// memory, then pods on a tie), since the scheduler's fit check runs after
// its taint and affinity filters; without one, the reason of the most
// nodes (the first on a tie).
func diagPrimary(rs []ReasonCount) Reason {
	best := -1
	for _, want := range []Reason{ReasonInsufficientCPU, ReasonInsufficientMemory, ReasonInsufficientPods} {
		for i, r := range rs {
			if r.Reason == want && (best < 0 || r.Nodes > rs[best].Nodes) {
				best = i
			}
		}
	}
	if best < 0 {
		for i, r := range rs {
			if best < 0 || r.Nodes > rs[best].Nodes {
				best = i
			}
		}
	}
	if best < 0 {
		return ReasonOther
	}
	return rs[best].Reason
}

// diagPodRequests is the pod's effective request, the rule of
// k8s.io/component-helpers/resource.PodRequests with status resources (as
// kubectl describe node): per container source (spec, allocated,
// actuated), the app containers' sum plus the sidecars (restartable init
// containers), or each init container's request plus the sidecars started
// before it when larger; the larger of the sources, per resource, so an
// in-place resize in flight counts at its larger size (only the status,
// when the kubelet found the resize infeasible); pod-level requests
// replace the containers' for the resources they set; the RuntimeClass
// overhead is added. pods is 1.
func diagPodRequests(p *corev1.Pod) corev1.ResourceList {
	infeasible := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodResizePending && c.Reason == corev1.PodReasonInfeasible {
			infeasible = true
		}
	}
	status := map[string]*corev1.ContainerStatus{}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			status[list[i].Name] = &list[i]
		}
	}
	spec := func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests }
	allocated := func(c *corev1.Container) corev1.ResourceList {
		if cs := status[c.Name]; cs != nil && cs.AllocatedResources != nil {
			return cs.AllocatedResources
		}
		if infeasible {
			return nil
		}
		return c.Resources.Requests
	}
	actuated := func(c *corev1.Container) corev1.ResourceList {
		if cs := status[c.Name]; cs != nil && cs.Resources != nil && cs.Resources.Requests != nil {
			return cs.Resources.Requests
		}
		return allocated(c)
	}
	out := corev1.ResourceList{}
	if !infeasible {
		diagMax(out, diagAggregate(&p.Spec, spec))
	}
	diagMax(out, diagAggregate(&p.Spec, allocated))
	diagMax(out, diagAggregate(&p.Spec, actuated))
	if p.Spec.Resources != nil {
		for name, q := range p.Spec.Resources.Requests {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
				out[name] = q.DeepCopy()
			}
		}
	}
	diagAdd(out, p.Spec.Overhead)
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := out[name]; !ok {
			out[name] = resource.Quantity{}
		}
	}
	out[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	return out
}

// diagAggregate is the sidecar KEP's (753) sum of one source's requests.
func diagAggregate(spec *corev1.PodSpec, get func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for i := range spec.Containers {
		diagAdd(sum, get(&spec.Containers[i]))
	}
	sidecars, initMax := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			diagAdd(sum, get(c))
			diagAdd(sidecars, get(c))
			diagMax(initMax, sidecars)
			continue
		}
		during := corev1.ResourceList{}
		diagAdd(during, get(c))
		diagAdd(during, sidecars)
		diagMax(initMax, during)
	}
	diagMax(sum, initMax)
	return sum
}

func diagAdd(dst, src corev1.ResourceList) {
	for name, q := range src {
		cur := dst[name]
		cur.Add(q)
		dst[name] = cur
	}
}

func diagMax(dst, src corev1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || q.Cmp(cur) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

func diagPercent(used, alloc corev1.ResourceList) map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		a, ok := alloc[name]
		u, uok := used[name]
		if !ok || !uok || a.IsZero() {
			continue
		}
		out[name] = int64(float64(u.MilliValue()) / float64(a.MilliValue()) * 100)
	}
	return out
}

// diagNewNode is a new worker as Diagnose assumes it.
type diagNewNode struct {
	labels labels.Set
	taints []corev1.Taint
	// alloc is one new node's allocatable before DaemonSets; free after.
	alloc, free corev1.ResourceList
	// checked are the resources a pod must fit in: cpu, memory, pods and
	// whatever the allocatable reports (read from a node); an extended
	// resource the pod asks and the node lacks counts as 0.
	checked map[corev1.ResourceName]bool
}

// recommend sizes the new workers and bin-packs the fixable pods on them.
func (st *diagState) recommend(pending []PendingPod, pods []*corev1.Pod, pool map[string]bool) *Recommendation {
	t := st.req.typ
	rec := &Recommendation{ServerType: t.Name, Capacity: t.Capacity()}
	nn := st.newNode(pool, rec)
	rec.Labels = maps.Clone(map[string]string(nn.labels))
	rec.Taints = nn.taints
	st.daemonSetOverhead(nn, pool, rec)
	rec.Allocatable = nn.free

	var fixable []int
	for i := range pending {
		p := &pending[i]
		var tooLarge bool
		p.Fixable, tooLarge, p.NotFixable = nn.fixable(pods[i], p, t.Name)
		switch {
		case p.Fixable:
			fixable = append(fixable, i)
		case tooLarge:
			rec.Unplaceable = append(rec.Unplaceable, p.Key())
		}
		if !p.Fixable {
			rec.NotFixable++
		}
	}
	rec.Placement = nn.pack(pending, fixable)
	rec.AddNodes = len(rec.Placement)
	rec.Reasons = st.explain(pending, fixable, nn, rec)
	return rec
}

func diagHasResourceReason(p *PendingPod) bool {
	return slices.ContainsFunc(p.Reasons, func(r ReasonCount) bool { return diagIsResource(r.Reason) })
}

// newNode builds the new worker: its labels (the type's, the pool's
// common ones, NodeSelector's equalities), its taints (every pool node's,
// but the node lifecycle's) and its allocatable (the smallest of the
// existing nodes of the type, per resource, preferring the pool's; else
// the capacity minus the reservation).
func (st *diagState) newNode(pool map[string]bool, rec *Recommendation) *diagNewNode {
	t := st.req.typ
	nn := &diagNewNode{labels: labels.Set{
		corev1.LabelInstanceTypeStable: t.Name,
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         t.arch(),
	}}
	var poolNodes, typed, typedInPool []*corev1.Node
	for i := range st.nodes {
		n := &st.nodes[i]
		if pool[n.Name] {
			poolNodes = append(poolNodes, n)
		}
		if strings.EqualFold(diagInstanceType(n), t.Name) {
			typed = append(typed, n)
			if pool[n.Name] {
				typedInPool = append(typedInPool, n)
			}
		}
	}
	if len(poolNodes) > 0 {
		common := maps.Clone(poolNodes[0].Labels)
		taints := slices.Clone(poolNodes[0].Spec.Taints)
		for _, n := range poolNodes[1:] {
			maps.DeleteFunc(common, func(k, v string) bool { return n.Labels[k] != v })
			taints = slices.DeleteFunc(taints, func(x corev1.Taint) bool {
				return !slices.ContainsFunc(n.Spec.Taints, func(y corev1.Taint) bool { return x.MatchTaint(&y) && x.Value == y.Value })
			})
		}
		// The hostname is each node's own; the type's labels are the new
		// node's whatever the pool's nodes are.
		delete(common, corev1.LabelHostname)
		if _, ok := common[corev1.LabelInstanceType]; ok {
			common[corev1.LabelInstanceType] = t.Name
		}
		for k, v := range common {
			if _, ok := nn.labels[k]; !ok {
				nn.labels[k] = v
			}
		}
		for _, x := range taints {
			if !diagLifecycleTaint(x) {
				nn.taints = append(nn.taints, x)
			}
		}
	}
	if st.req.pool != nil {
		reqs, _ := st.req.pool.Requirements()
		for _, r := range reqs {
			switch r.Operator() {
			case selection.Equals, selection.DoubleEquals:
				nn.labels[r.Key()] = r.Values().UnsortedList()[0]
			case selection.In:
				if r.Values().Len() == 1 {
					nn.labels[r.Key()] = r.Values().UnsortedList()[0]
				}
			}
		}
	}
	from := typedInPool
	if len(from) == 0 {
		from = typed
	}
	nn.checked = map[corev1.ResourceName]bool{corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourcePods: true}
	if len(from) > 0 {
		nn.alloc = corev1.ResourceList{}
		names := make([]string, len(from))
		for i, n := range from {
			names[i] = n.Name
			alloc := n.Status.Allocatable
			if len(alloc) == 0 {
				alloc = n.Status.Capacity
			}
			for name, q := range alloc {
				if cur, ok := nn.alloc[name]; !ok || q.Cmp(cur) < 0 {
					nn.alloc[name] = q.DeepCopy()
				}
			}
		}
		// A resource some node of the type lacks is one a new node may lack.
		for name := range nn.alloc {
			for _, n := range from {
				if _, ok := n.Status.Allocatable[name]; !ok && len(n.Status.Allocatable) > 0 {
					delete(nn.alloc, name)
				}
			}
		}
		for name := range nn.alloc {
			nn.checked[name] = true
		}
		slices.Sort(names)
		if len(names) == 1 {
			rec.AllocatableFrom = "the allocatable of node " + names[0] + " (what its kubelet reserves)"
		} else {
			rec.AllocatableFrom = fmt.Sprintf("the smallest allocatable of the %d %s nodes (%s), per resource", len(names), t.Name, strings.Join(names, ", "))
		}
	} else {
		nn.alloc = t.Capacity()
		for name, q := range st.req.reserved {
			cur := nn.alloc[name]
			cur.Sub(q)
			if cur.Sign() < 0 {
				cur = resource.Quantity{Format: q.Format}
			}
			nn.alloc[name] = cur
		}
		rec.Reserved = st.req.reserved.DeepCopy()
		rec.AllocatableFrom = fmt.Sprintf("estimated: no %s node exists to read the kubelet's allocatable from, so the type's capacity minus the reservation (%s)", t.Name, diagList(st.req.reserved))
	}
	rec.NodeAllocatable = nn.alloc.DeepCopy()
	return nn
}

// diagLifecycleTaint: taints the node lifecycle controllers, cordoning,
// cloud initialisation and the cluster autoscaler set and clear on their
// own; a new node does not keep them.
func diagLifecycleTaint(t corev1.Taint) bool {
	return strings.HasPrefix(t.Key, "node.kubernetes.io/") || strings.HasPrefix(t.Key, "node.cloudprovider.kubernetes.io/") ||
		t.Key == "ToBeDeletedByClusterAutoscaler" || t.Key == "DeletionCandidateOfClusterAutoscaler"
}

// daemonSetOverhead subtracts from the new node the pods of the DaemonSets
// that would run on it: those whose template matches its labels and
// tolerates its taints, and at least those with a pod on a pool node. A
// DaemonSet's pod on a pool node gives its requests (with what admission
// added: LimitRange defaults, RuntimeClass overhead); else the template's.
func (st *diagState) daemonSetOverhead(nn *diagNewNode, pool map[string]bool, rec *Recommendation) {
	onPool := map[string]corev1.ResourceList{} // by DaemonSet UID
	for i := range st.pods {
		p := &st.pods[i]
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "DaemonSet" || !pool[p.Spec.NodeName] {
			continue
		}
		r := diagPodRequests(p)
		if cur, ok := onPool[string(ref.UID)]; !ok || r.Cpu().Cmp(*cur.Cpu()) > 0 {
			onPool[string(ref.UID)] = r
		}
	}
	overhead := corev1.ResourceList{}
	for i := range st.daemonSets {
		ds := &st.daemonSets[i]
		r, runs := onPool[string(ds.UID)]
		if !runs {
			tmpl := &corev1.Pod{Spec: ds.Spec.Template.Spec}
			if ok, _ := diagMatches(&tmpl.Spec, nn.labels); !ok {
				continue
			}
			if _, untolerated := diagUntolerated(tmpl.Spec.Tolerations, nn.taints); untolerated {
				continue
			}
			r = diagPodRequests(tmpl)
		}
		rec.DaemonSets = append(rec.DaemonSets, ds.Namespace+"/"+ds.Name)
		diagAdd(overhead, r)
	}
	slices.Sort(rec.DaemonSets)
	if len(rec.DaemonSets) > 0 {
		rec.Overhead = overhead
	}
	nn.free = nn.alloc.DeepCopy()
	for name, q := range overhead {
		if !nn.checked[name] && !diagExtended(name) {
			continue
		}
		cur := nn.free[name]
		cur.Sub(q)
		nn.free[name] = cur
	}
}

func diagExtended(name corev1.ResourceName) bool {
	return strings.Contains(string(name), "/") || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// fits reports whether req fits in free, and the first resource it does
// not fit.
func (nn *diagNewNode) fits(req, free corev1.ResourceList) (corev1.ResourceName, bool) {
	for _, name := range slices.Sorted(maps.Keys(req)) {
		q := req[name]
		if q.IsZero() || (!nn.checked[name] && !diagExtended(name)) {
			continue
		}
		if have := free[name]; q.Cmp(have) > 0 {
			return name, false
		}
	}
	return "", true
}

// fixable decides whether new nodes let the pod schedule; tooLarge: it
// would, but it requests more than one new node offers.
func (nn *diagNewNode) fixable(pod *corev1.Pod, p *PendingPod, typ string) (ok, tooLarge bool, why string) {
	switch p.Reason {
	case ReasonNotYetScheduled:
		return false, false, "the scheduler has not tried it yet: it may fit an existing node"
	case ReasonSchedulingGated:
		return false, false, "its schedulingGates hold it back: nothing schedules it until they are removed"
	}
	for _, r := range p.Reasons {
		if r.Reason == ReasonVolume {
			return false, false, fmt.Sprintf("a volume constraint (%q): a new node takes it only where its volume lives (the PersistentVolume's node affinity, its zone) or once its claim binds, which Diagnose does not evaluate, so no node is counted for it", r.Text)
		}
	}
	if match, why := diagMatches(&pod.Spec, nn.labels); !match {
		return false, false, fmt.Sprintf("%s, which the new %s nodes' labels (%s) do not match", why, typ, diagLabels(nn.labels))
	}
	if t, untolerated := diagUntolerated(pod.Spec.Tolerations, nn.taints); untolerated {
		return false, false, fmt.Sprintf("it does not tolerate the taint %s of the pool's nodes, which the new %s nodes carry too", diagTaint(t), typ)
	}
	if !diagHasResourceReason(p) {
		for _, r := range p.Reasons {
			if r.Reason == ReasonOther {
				return false, false, fmt.Sprintf("the scheduler's reason %q is not one more %s capacity is known to answer", r.Text, typ)
			}
		}
	}
	if name, fits := nn.fits(p.Requests, nn.free); !fits {
		need, have := p.Requests[name], nn.free[name]
		return false, true, fmt.Sprintf("it requests %s %s, more than one new %s offers (%s after DaemonSets)", diagQty(name, need), name, typ, diagQty(name, have))
	}
	return true, false, ""
}

// diagMatches evaluates the pod's nodeSelector and required node affinity
// against a node's labels, as the scheduler's NodeAffinity filter does; a
// matchFields term (a node's name) matches no new node.
func diagMatches(spec *corev1.PodSpec, set labels.Set) (bool, string) {
	for _, k := range slices.Sorted(maps.Keys(spec.NodeSelector)) {
		if set[k] != spec.NodeSelector[k] {
			return false, fmt.Sprintf("its nodeSelector asks %s=%s", k, spec.NodeSelector[k])
		}
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true, ""
	}
	terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		if diagTermMatches(term, set) {
			return true, ""
		}
	}
	return false, "its required node affinity matches none of its terms"
}

func diagTermMatches(term corev1.NodeSelectorTerm, set labels.Set) bool {
	if len(term.MatchFields) > 0 || len(term.MatchExpressions) == 0 {
		return false
	}
	ops := map[corev1.NodeSelectorOperator]selection.Operator{
		corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
		corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
		corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
	}
	for _, e := range term.MatchExpressions {
		op, ok := ops[e.Operator]
		if !ok {
			return false
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil || !r.Matches(set) {
			return false
		}
	}
	return true
}

// diagUntolerated returns the first NoSchedule or NoExecute taint no
// toleration tolerates (the scheduler's TaintToleration filter).
func diagUntolerated(tols []corev1.Toleration, taints []corev1.Taint) (corev1.Taint, bool) {
	for _, t := range taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !slices.ContainsFunc(tols, func(tol corev1.Toleration) bool { return diagTolerates(tol, t) }) {
			return t, true
		}
	}
	return corev1.Taint{}, false
}

// diagTolerates is corev1.Toleration.ToleratesTaint's rule, numeric Lt/Gt
// included, without its logger.
func diagTolerates(tol corev1.Toleration, t corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case "", corev1.TolerationOpEqual:
		return tol.Value == t.Value
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpLt, corev1.TolerationOpGt:
		a, err1 := strconv.ParseInt(tol.Value, 10, 64)
		b, err2 := strconv.ParseInt(t.Value, 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if tol.Operator == corev1.TolerationOpLt {
			return b < a
		}
		return b > a
	}
	return false
}

// pack bin-packs the fixable pods onto new nodes, first-fit decreasing by
// dominant share.
func (nn *diagNewNode) pack(pending []PendingPod, fixable []int) []NewNode {
	share := func(p *PendingPod) float64 {
		s := 0.0
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
			q, a := p.Requests[name], nn.free[name]
			if a.Sign() > 0 {
				s = math.Max(s, float64(q.MilliValue())/float64(a.MilliValue()))
			}
		}
		return s
	}
	order := slices.Clone(fixable)
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := share(&pending[a]), share(&pending[b])
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return strings.Compare(pending[a].Key(), pending[b].Key())
	})
	var out []NewNode
	var free []corev1.ResourceList
	for _, i := range order {
		p := &pending[i]
		placed := false
		for b := range out {
			if _, ok := nn.fits(p.Requests, free[b]); ok {
				out[b].Pods = append(out[b].Pods, p.Key())
				diagAdd(out[b].Requested, p.Requests)
				diagSub(free[b], p.Requests)
				placed = true
				break
			}
		}
		if !placed {
			out = append(out, NewNode{Pods: []string{p.Key()}, Requested: p.Requests.DeepCopy()})
			f := nn.free.DeepCopy()
			diagSub(f, p.Requests)
			free = append(free, f)
		}
	}
	return out
}

func diagSub(dst, src corev1.ResourceList) {
	for name, q := range src {
		cur := dst[name]
		cur.Sub(q)
		dst[name] = cur
	}
}

// explain states the recommendation's numbers.
func (st *diagState) explain(pending []PendingPod, fixable []int, nn *diagNewNode, rec *Recommendation) []string {
	t := rec.ServerType
	var out []string
	overhead := "no DaemonSet pod"
	if len(rec.DaemonSets) > 0 {
		overhead = fmt.Sprintf("%d DaemonSet pod(s) (%s: %s)", len(rec.DaemonSets), strings.Join(rec.DaemonSets, ", "), diagList(rec.Overhead))
	}
	out = append(out, fmt.Sprintf("one new %s offers %s: %s, minus %s", t, diagList(rec.Allocatable), rec.AllocatableFrom, overhead))
	if len(fixable) == 0 {
		switch {
		case len(pending) == 0:
			out = append(out, "no pod is pending: no worker to add")
		default:
			out = append(out, fmt.Sprintf("none of the %d pending pod(s) is helped by new %s nodes (each pod says why)", len(pending), t))
		}
		return out
	}
	total := corev1.ResourceList{}
	for _, i := range fixable {
		diagAdd(total, pending[i].Requests)
	}
	out = append(out, fmt.Sprintf("%d pending pod(s) new %s nodes would take request %s in all", len(fixable), t, diagList(total)))
	lower, by := 0, corev1.ResourceName("")
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		need, have := total[name], nn.free[name]
		if have.Sign() <= 0 || need.IsZero() {
			continue
		}
		if n := int(math.Ceil(float64(need.MilliValue()) / float64(have.MilliValue()))); n > lower {
			lower, by = n, name
		}
	}
	if lower > 0 {
		out = append(out, fmt.Sprintf("by %s alone they need at least %d node(s) (%s / %s)", by, lower, diagQty(by, total[by]), diagQty(by, nn.free[by])))
	}
	sizes := make([]string, len(rec.Placement))
	for i, n := range rec.Placement {
		sizes[i] = strconv.Itoa(len(n.Pods))
	}
	out = append(out, fmt.Sprintf("first-fit decreasing by each pod's dominant resource places them on %d new node(s): %s pod(s)", rec.AddNodes, strings.Join(sizes, "+")))
	if len(rec.Unplaceable) > 0 {
		out = append(out, fmt.Sprintf("%d pod(s) request more than one new %s offers: %s; a larger type is needed for them", len(rec.Unplaceable), t, strings.Join(rec.Unplaceable, ", ")))
	}
	if n := rec.NotFixable - len(rec.Unplaceable); n > 0 {
		out = append(out, fmt.Sprintf("%d other pending pod(s) are not helped by new %s nodes (each pod says why)", n, t))
	}
	return out
}

// diagQty renders a quantity for people: cpu in cores or millicores,
// memory in binary units, counts as numbers.
func diagQty(name corev1.ResourceName, q resource.Quantity) string {
	switch name {
	case corev1.ResourceCPU:
		m := q.MilliValue()
		if m%1000 == 0 {
			return strconv.FormatInt(m/1000, 10)
		}
		return strconv.FormatInt(m, 10) + "m"
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		v := q.Value()
		for _, u := range []struct {
			suffix string
			size   int64
		}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
			if v != 0 && v%u.size == 0 {
				return strconv.FormatInt(v/u.size, 10) + u.suffix
			}
		}
		if v >= 1<<20 {
			return strconv.FormatFloat(float64(v)/(1<<20), 'f', 1, 64) + "Mi"
		}
		return strconv.FormatInt(v, 10)
	}
	return q.String()
}

// diagList renders a resource list: cpu, memory, pods first, then the rest
// by name.
func diagList(l corev1.ResourceList) string {
	first := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods}
	var parts []string
	for _, name := range first {
		if q, ok := l[name]; ok {
			unit := string(name)
			if name == corev1.ResourcePods && q.Value() == 1 {
				unit = "pod"
			}
			parts = append(parts, diagQty(name, q)+" "+unit)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l)) {
		if !slices.Contains(first, name) {
			parts = append(parts, diagQty(name, l[name])+" "+string(name))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func diagLabels(set labels.Set) string {
	keys := slices.Sorted(maps.Keys(set))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + set[k]
	}
	return strings.Join(parts, ", ")
}

func diagTaint(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

// String renders the diagnosis for people: the pending pods with their
// reasons, the nodes as kubectl describe node ("Allocated resources") and
// kubectl top node show them, and the answer.
func (d *Diagnosis) String() string {
	var b strings.Builder
	typ := d.Request.ServerType
	scope := "all namespaces"
	if d.Request.Namespace != "" {
		scope = "namespace " + d.Request.Namespace
	}
	if d.Request.Selector != "" {
		scope += ", pods " + d.Request.Selector
	}
	if len(d.Pending) == 0 {
		fmt.Fprintf(&b, "Pending pods (%s): none\n", scope)
	} else {
		fmt.Fprintf(&b, "Pending pods (%s): %d\n", scope, len(d.Pending))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		head := "  NAMESPACE\tPOD\tCPU\tMEMORY\tREASON\tNODES"
		if typ != "" {
			head += "\tNEW " + strings.ToUpper(typ) + " NODES HELP"
		}
		fmt.Fprintln(tw, head)
		for _, p := range d.Pending {
			nodes := "-"
			for _, r := range p.Reasons {
				if r.Reason == p.Reason && p.Nodes > 0 {
					nodes = fmt.Sprintf("%d/%d", r.Nodes, p.Nodes)
					break
				}
			}
			row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%s", p.Namespace, p.Name, diagQty(corev1.ResourceCPU, p.Requests[corev1.ResourceCPU]),
				diagQty(corev1.ResourceMemory, p.Requests[corev1.ResourceMemory]), p.Reason, nodes)
			if typ != "" {
				row += "\t" + map[bool]string{true: "yes", false: "no"}[p.Fixable]
			}
			fmt.Fprintln(tw, row)
		}
		_ = tw.Flush()
		// The scheduler's messages, verbatim, once each.
		var msgs []string
		byMsg := map[string][]string{}
		for _, p := range d.Pending {
			if p.Message == "" {
				continue
			}
			if byMsg[p.Message] == nil {
				msgs = append(msgs, p.Message)
			}
			byMsg[p.Message] = append(byMsg[p.Message], p.Key())
		}
		if len(msgs) > 0 {
			b.WriteString("Scheduler messages:\n")
			for _, m := range msgs {
				fmt.Fprintf(&b, "  %s: %s\n", diagPods(byMsg[m]), m)
			}
		}
		var not []string
		for _, p := range d.Pending {
			if typ != "" && !p.Fixable {
				not = append(not, fmt.Sprintf("  %s: %s\n", p.Key(), p.NotFixable))
			}
		}
		if len(not) > 0 {
			fmt.Fprintf(&b, "Not helped by new %s nodes:\n%s", typ, strings.Join(not, ""))
		}
	}

	b.WriteString("\n")
	switch {
	case d.MetricsServed:
		fmt.Fprintf(&b, "Nodes: %d (usage from the metrics API, as kubectl top node)\n", len(d.Nodes))
	case d.MetricsError != "":
		fmt.Fprintf(&b, "Nodes: %d (no usage: %s)\n", len(d.Nodes), d.MetricsError)
	default:
		fmt.Fprintf(&b, "Nodes: %d (no usage: the metrics API is not served, kubectl top would fail too)\n", len(d.Nodes))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	head := "  NAME\tTYPE\tREADY\tSCHEDULABLE\tPODS\tCPU REQUESTS\tMEMORY REQUESTS"
	if d.MetricsServed {
		head += "\tCPU USE\tMEMORY USE\tPODS' CPU USE\tPODS' MEMORY USE"
	}
	fmt.Fprintln(tw, head)
	pool := false
	for _, n := range d.Nodes {
		name := n.Name
		if n.Pool {
			name += " *"
			pool = true
		}
		sched := "yes"
		if n.Unschedulable {
			sched = "no (cordoned)"
		}
		ready := "False"
		if n.Ready {
			ready = "True"
		}
		it := n.InstanceType
		if it == "" {
			it = "-"
		}
		row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s/%s\t%s\t%s", name, it, ready, sched,
			diagQty(corev1.ResourcePods, n.Requested[corev1.ResourcePods]), diagQty(corev1.ResourcePods, n.Allocatable[corev1.ResourcePods]),
			diagOf(corev1.ResourceCPU, n.Requested, n.Allocatable, n.Percent), diagOf(corev1.ResourceMemory, n.Requested, n.Allocatable, n.Percent))
		if d.MetricsServed {
			use := func(name corev1.ResourceName, l corev1.ResourceList, pct map[corev1.ResourceName]int64) string {
				q, ok := l[name]
				if !ok {
					return "-"
				}
				if pct == nil {
					return diagQty(name, q)
				}
				return fmt.Sprintf("%s (%d%%)", diagQty(name, q), pct[name])
			}
			row += "\t" + use(corev1.ResourceCPU, n.Usage, n.UsagePercent) + "\t" + use(corev1.ResourceMemory, n.Usage, n.UsagePercent) +
				"\t" + use(corev1.ResourceCPU, n.PodsUsage, nil) + "\t" + use(corev1.ResourceMemory, n.PodsUsage, nil)
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
	if pool {
		sel := d.Request.NodeSelector
		if sel == "" {
			sel = corev1.LabelInstanceTypeStable + "=" + typ
		}
		fmt.Fprintf(&b, "  * the pool the new nodes join (%s)\n", sel)
	}

	b.WriteString("\n")
	r := d.Recommendation
	switch {
	case r == nil:
		b.WriteString("No ServerType asked: no recommendation.\n")
	case r.AddNodes == 0:
		fmt.Fprintf(&b, "No %s worker to add.\n", r.ServerType)
	default:
		n := 0
		for _, p := range r.Placement {
			n += len(p.Pods)
		}
		fmt.Fprintf(&b, "Add %d more %s worker(s): the %d pending pod(s) they help would then schedule.\n", r.AddNodes, r.ServerType, n)
	}
	if r != nil {
		for _, line := range r.Reasons {
			fmt.Fprintf(&b, "  - %s\n", line)
		}
		for i, p := range r.Placement {
			fmt.Fprintf(&b, "  new node %d: %s (%s)\n", i+1, strings.Join(p.Pods, ", "), diagList(p.Requested))
		}
		fmt.Fprintf(&b, "  new nodes' labels: %s\n", diagLabels(r.Labels))
		if len(r.Taints) > 0 {
			taints := make([]string, len(r.Taints))
			for i, t := range r.Taints {
				taints[i] = diagTaint(t)
			}
			fmt.Fprintf(&b, "  new nodes' taints: %s\n", strings.Join(taints, ", "))
		}
	}
	return b.String()
}

// diagOf renders "3 (75%) of 4", as kubectl describe node's "Allocated
// resources".
func diagOf(name corev1.ResourceName, req, alloc corev1.ResourceList, pct map[corev1.ResourceName]int64) string {
	return fmt.Sprintf("%s (%d%%) of %s", diagQty(name, req[name]), pct[name], diagQty(name, alloc[name]))
}

// diagPods names pods, the first three and a count of the rest.
func diagPods(keys []string) string {
	if len(keys) <= 3 {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:3], ", "), len(keys)-3)
}
