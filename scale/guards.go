package scale

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/quota"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/postgres"
)

// podTemplate decodes the pod template and strategy of a rendered workload.
func podTemplate(o manifest.Object) (corev1.PodTemplateSpec, *appsv1.DeploymentStrategy, error) {
	switch o.Obj.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &d); err != nil {
			return corev1.PodTemplateSpec{}, nil, err
		}
		return d.Spec.Template, &d.Spec.Strategy, nil
	default:
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &s); err != nil {
			return corev1.PodTemplateSpec{}, nil, err
		}
		return s.Spec.Template, nil, nil
	}
}

// namespaceLimits are what constrains pods in a namespace beyond the
// workload itself, read once per plan: its quotas and autoscalers, and the
// nodes' capacity (nodesErr says why it could not be read: listing nodes
// is the one cluster-scoped read, which a namespaced Role may not grant).
type namespaceLimits struct {
	quotas   []corev1.ResourceQuota
	hpas     []autoscalingv2.HorizontalPodAutoscaler
	capacity quota.Capacity
	nodesErr error
}

func (c *Client) readLimits(ctx context.Context, ns string) (namespaceLimits, error) {
	quotas, err := c.kube.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return namespaceLimits{}, fmt.Errorf("listing ResourceQuotas in %s: %w", ns, err)
	}
	hpas, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return namespaceLimits{}, fmt.Errorf("listing HPAs in %s: %w", ns, err)
	}
	limits := namespaceLimits{quotas: quotas.Items, hpas: hpas.Items}
	if nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		limits.nodesErr = err
	} else {
		limits.capacity = quota.NodeCapacity(nodes.Items)
	}
	return limits, nil
}

// capacityGuard is the shared capacity guard (quota.Guard) on the nodes
// readLimits read.
func capacityGuard(replicas int32, perPod corev1.ResourceList, l namespaceLimits) scaling.GuardResult {
	return quota.Guard(replicas, perPod, l.capacity, l.nodesErr)
}

// quotaGuard blocks a scale-up whose extra pods do not fit in what the
// namespace's ResourceQuotas leave (hard - used): the ReplicaSet would create
// pods until the quota refuses them, leaving the rollout stuck short.
func quotaGuard(ns string, quotas []corev1.ResourceQuota, extra int32, perPod corev1.ResourceList) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardQuota, Outcome: scaling.Pass}
	switch {
	case extra <= 0:
		g.Reason = "no extra pods"
		return g
	case len(quotas) == 0:
		g.Reason = "no ResourceQuota in namespace " + ns
		return g
	}
	short := quota.Fit(quotas, extra, perPod)
	if len(short) == 0 {
		g.Reason = fmt.Sprintf("%d more pods fit in the %d ResourceQuota(s) of %s", extra, len(quotas), ns)
		return g
	}
	cause := &QuotaError{Namespace: ns}
	var reasons []string
	for _, s := range short {
		reasons = append(reasons, fmt.Sprintf("%s %s: %d more pods need %s, %s left (hard %s, used %s)", s.Quota, s.Resource, s.Pods, s.Need.String(), s.Left.String(), s.Hard.String(), s.Used.String()))
		cause.Short = append(cause.Short, QuotaShortfall{Quota: s.Quota, Resource: string(s.Resource), Pods: s.Pods, Need: s.Need.String(), Left: s.Left.String(), Hard: s.Hard.String(), Used: s.Used.String()})
	}
	g.Outcome, g.Cause = scaling.Block, cause
	g.Reason = strings.Join(reasons, "; ")
	g.Remedy = "raise the namespace's ResourceQuota, lower the pods' requests, or scale less"
	return g
}

// ConnectionBudget describes how the workload's pods connect to PostgreSQL,
// for the guard that keeps replicas x pool size within max_connections.
type ConnectionBudget struct {
	// PoolSizePath is the value holding each pod's connection pool size;
	// default "database.poolSize". A chart without it skips the guard.
	PoolSizePath string `json:"poolSizePath,omitempty"`
	// MaxConnections is PostgreSQL's max_connections; 0 reads it from the
	// CloudNativePG Cluster the release renders, else PostgreSQL's 100.
	MaxConnections int `json:"maxConnections,omitempty"`
	// Reserved are connections apps cannot use
	// (superuser_reserved_connections + reserved_connections); default 3.
	Reserved int `json:"reserved,omitempty"`
	// Others are connections held by other clients (jobs, admin tools).
	Others int `json:"others,omitempty"`
	// Cluster names a CloudNativePG Cluster in the namespace to read
	// max_connections from when the release renders none (a database
	// managed outside the release).
	Cluster string `json:"cluster,omitempty"`
}

const defaultPoolSizePath = "database.poolSize"

// budgetGuard: during a rolling update the old and surge pods hold pools at
// once, so the peak is (replicas + maxSurge) x pool + others, with the
// HPA's maxReplicas as the replicas when an HPA owns the count (the most
// pods it may run). Behind a PgBouncer Pooler of type rw the pooler holds
// the server connections (its instances x its pools) and the pods must fit
// in what it accepts (instances x max_client_conn): postgres.ConnectionBudget
// does the arithmetic.
func budgetGuard(b ConnectionBudget, replicas int32, computed map[string]any, after map[string]manifest.Object, live *manifest.Object, strategy *appsv1.DeploymentStrategy, hpa *postgres.HPALimit) scaling.GuardResult {
	g := scaling.GuardResult{Name: GuardConnectionBudget, Outcome: scaling.Pass}
	path := b.PoolSizePath
	if path == "" {
		path = defaultPoolSizePath
	}
	pool, ok := values.Int(computed, path)
	if !ok {
		g.Reason = fmt.Sprintf("the chart has no %s value: nothing to check", path)
		return g
	}
	cluster, poolerObj := cnpgObjects(after)
	if cluster == nil {
		cluster = live
	}
	in := postgres.Connections{Replicas: replicas, HPA: hpa, Strategy: strategy, Pool: pool, Others: int64(b.Others), MaxConnections: b.MaxConnections, Reserved: b.Reserved}
	if cluster != nil {
		in.Cluster, in.ClusterName = cluster.Obj.Object, cluster.Obj.GetName()
	}
	var poolerErr error
	if poolerObj != nil {
		// Scaling the app does not roll the pooler: its own surge is the
		// Pooler operation's business.
		in.Pooler, poolerErr = postgres.PoolerOf(poolerObj.Obj.Object)
	}
	report, err := postgres.ConnectionBudget(in)
	if err != nil {
		g.Outcome, g.Reason = scaling.Warn, err.Error()
		return g
	}
	budget, source := report.Budget, report.MaxConnectionsSource
	g.Reason = fmt.Sprintf("(%d replicas + %d surge) x pool %d + %d others = %d connections; max_connections %d (%s) - %d reserved = %d",
		budget.Replicas, budget.Surge, pool, b.Others, budget.Peak(), budget.MaxConnections, source, budget.Reserved, budget.Usable())
	if poolerErr != nil {
		g.Outcome, g.Reason = scaling.Warn, poolerErr.Error()+": the pooler's budget is not checked"
		g.Remedy = "give the Pooler numeric PgBouncer parameters"
		return g
	}
	if budget.Pooler != nil {
		g.Reason = budget.String() + " (max_connections: " + source + ")"
	}
	if hpa != nil {
		g.Reason += fmt.Sprintf(" (replicas: %s, %d)", report.ReplicasSource, hpa.MaxReplicas)
	}
	if !report.Fits {
		g.Outcome = scaling.Block
		cause := &ConnectionBudgetError{Replicas: budget.Replicas, Surge: budget.Surge, Pool: pool, Others: int64(b.Others), Peak: report.Peak, Usable: report.Usable,
			MaxConnections: budget.MaxConnections, Reserved: budget.Reserved, Source: source, Recommended: report.Recommended}
		g.Remedy = "put a PgBouncer pooler in front (postgresql.pooler.enabled), lower " + path + ", or raise max_connections"
		if budget.Pooler != nil {
			cause.Pooler, cause.ClientLimit = budget.Pooler.Name, report.ClientLimit
			g.Remedy = "lower the Pooler's instances or default_pool_size, raise max_connections, or, for clients PgBouncer refuses, its max_client_conn or instances"
		}
		g.Cause = cause
	}
	return g
}

// hpaLimit is the HPA that owns ref's count, for the connection budget
// (the same match as the hpa guard's); nil when none does.
func hpaLimit(hpas []autoscalingv2.HorizontalPodAutoscaler, ref scaling.ObjectRef) *postgres.HPALimit {
	for i := range hpas {
		if h := &hpas[i]; targets(h, ref) {
			return &postgres.HPALimit{Name: h.Name, MaxReplicas: h.Spec.MaxReplicas}
		}
	}
	return nil
}

// cnpgClusters is CloudNativePG's Cluster resource.
var cnpgClusters = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}

// liveCNPGCluster reads a CloudNativePG Cluster through the cluster's
// dynamic client. A Cluster without one (a fake clientset) or a missing
// CNPG Cluster is an error.
func (c *Client) liveCNPGCluster(ctx context.Context, namespace, name string) (*manifest.Object, error) {
	if c.dyn == nil {
		return nil, fmt.Errorf("the *scaling.Cluster has no Dynamic client to read custom resources with")
	}
	obj, err := c.dyn.Resource(cnpgClusters).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading CNPG Cluster %s/%s: %w", namespace, name, err)
	}
	return &manifest.Object{Obj: obj}, nil
}

// cnpgObjects finds the CloudNativePG Cluster and a read-write Pooler in a
// rendered manifest.
func cnpgObjects(objs map[string]manifest.Object) (cluster, pooler *manifest.Object) {
	for _, o := range objs {
		if !strings.HasPrefix(o.Obj.GetAPIVersion(), "postgresql.cnpg.io/") {
			continue
		}
		switch o.Obj.GetKind() {
		case "Cluster":
			o := o
			cluster = &o
		case "Pooler":
			if t, _ := nestedString(o.Obj.Object, "spec", "type"); t == "" || t == "rw" {
				o := o
				pooler = &o
			}
		}
	}
	return cluster, pooler
}

func nestedString(obj map[string]any, path ...string) (string, bool) {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if err != nil || !found {
		return "", false
	}
	return fmt.Sprint(v), true
}

// blast is the blast-radius guard, its typed cause set when it blocks.
func blast(hp *helmplan.Result, expected helmplan.Expected) scaling.GuardResult {
	g, _ := helmplan.BlastRadius(hp, expected)
	return g
}
