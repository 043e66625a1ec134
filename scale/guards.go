package scale

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/values"
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

// podRequests sums what one pod asks of a quota: its containers' requests
// and limits, or the largest init container's when that is more (the
// scheduler's and the quota's rule).
func podRequests(spec corev1.PodSpec) corev1.ResourceList {
	out := corev1.ResourceList{}
	add := func(key corev1.ResourceName, q resource.Quantity) {
		cur := out[key]
		cur.Add(q)
		out[key] = cur
	}
	for _, c := range spec.Containers {
		for name, q := range c.Resources.Requests {
			add(corev1.ResourceName("requests."+string(name)), q)
		}
		for name, q := range c.Resources.Limits {
			add(corev1.ResourceName("limits."+string(name)), q)
		}
	}
	for _, c := range spec.InitContainers {
		for name, q := range c.Resources.Requests {
			key := corev1.ResourceName("requests." + string(name))
			if cur := out[key]; q.Cmp(cur) > 0 {
				out[key] = q
			}
		}
	}
	out[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	return out
}

// quotaKey maps a quota's hard key to the per-pod key of podRequests: "cpu"
// and "requests.cpu" are the same constraint.
func quotaKey(k corev1.ResourceName) corev1.ResourceName {
	switch k {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return corev1.ResourceName("requests." + string(k))
	case "count/pods":
		return corev1.ResourcePods
	}
	return k
}

// quotaGuard blocks a scale-up whose extra pods do not fit in what the
// namespace's ResourceQuotas leave (hard - used): the ReplicaSet would create
// pods until the quota refuses them, leaving the rollout stuck short.
func (c *Client) quotaGuard(ctx context.Context, ns string, extra int32, perPod corev1.ResourceList) (scaling.GuardResult, error) {
	g := scaling.GuardResult{Name: GuardQuota, Outcome: scaling.Pass}
	if extra <= 0 {
		g.Reason = "no extra pods"
		return g, nil
	}
	list, err := c.kube.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return g, fmt.Errorf("listing ResourceQuotas in %s: %w", ns, err)
	}
	if len(list.Items) == 0 {
		g.Reason = "no ResourceQuota in namespace " + ns
		return g, nil
	}
	var short []string
	cause := &QuotaError{Namespace: ns}
	for _, q := range list.Items {
		for key, hard := range q.Spec.Hard {
			one, ok := perPod[quotaKey(key)]
			if !ok {
				continue
			}
			need := one.DeepCopy()
			need.Mul(int64(extra))
			left := hard.DeepCopy()
			used := q.Status.Used[key]
			left.Sub(used)
			if need.Cmp(left) > 0 {
				short = append(short, fmt.Sprintf("%s %s: %d more pods need %s, %s left (hard %s, used %s)", q.Name, key, extra, need.String(), left.String(), hard.String(), used.String()))
				cause.Short = append(cause.Short, QuotaShortfall{Quota: q.Name, Resource: string(key), Pods: extra, Need: need.String(), Left: left.String(), Hard: hard.String(), Used: used.String()})
			}
		}
	}
	if len(short) > 0 {
		g.Outcome, g.Cause = scaling.Block, cause
		g.Reason = strings.Join(short, "; ")
		g.Remedy = "raise the namespace's ResourceQuota, lower the pods' requests, or scale less"
		return g, nil
	}
	g.Reason = fmt.Sprintf("%d more pods fit in the %d ResourceQuota(s) of %s", extra, len(list.Items), ns)
	return g, nil
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

const (
	defaultPoolSizePath   = "database.poolSize"
	defaultMaxConnections = 100
	defaultReserved       = 3
)

// budgetGuard: during a rolling update the old and surge pods hold pools at
// once, so the peak is (replicas + maxSurge) x pool + others. A PgBouncer
// Pooler of type rw in front of the database absorbs client connections and
// passes the guard.
func budgetGuard(b ConnectionBudget, replicas int32, computed map[string]any, after map[string]manifest.Object, live *manifest.Object, strategy *appsv1.DeploymentStrategy) scaling.GuardResult {
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
	cluster, pooler := cnpgObjects(after)
	if cluster == nil {
		cluster = live
	}
	if pooler != "" {
		g.Reason = fmt.Sprintf("PgBouncer Pooler %s fronts the database: clients do not hold server connections", pooler)
		return g
	}
	maxConn, source := b.MaxConnections, "stated by the caller"
	if maxConn == 0 {
		maxConn, source = defaultMaxConnections, "PostgreSQL's default"
		if cluster != nil {
			if s, found := nestedString(cluster.Obj.Object, "spec", "postgresql", "parameters", "max_connections"); found {
				if n, err := strconv.Atoi(s); err == nil {
					maxConn, source = n, "CNPG Cluster "+cluster.Obj.GetName()
				}
			}
		}
	}
	reserved := b.Reserved
	if reserved == 0 {
		reserved = defaultReserved
	}
	surge := maxSurge(strategy, replicas)
	peak := int64(replicas+surge)*pool + int64(b.Others)
	usable := int64(maxConn - reserved)
	detail := fmt.Sprintf("(%d replicas + %d surge) x pool %d + %d others = %d connections; max_connections %d (%s) - %d reserved = %d",
		replicas, surge, pool, b.Others, peak, maxConn, source, reserved, usable)
	if peak > usable {
		g.Outcome = scaling.Block
		g.Cause = &ConnectionBudgetError{Replicas: replicas, Surge: surge, Pool: pool, Others: int64(b.Others), Peak: peak, Usable: usable,
			MaxConnections: maxConn, Reserved: reserved, Source: source}
		g.Reason = detail
		g.Remedy = "put a PgBouncer pooler in front (postgresql.pooler.enabled), lower " + path + ", or raise max_connections"
		return g
	}
	g.Reason = detail
	return g
}

// liveCNPGCluster reads a CloudNativePG Cluster through the clientset's
// REST client (the CRD has no typed client here). A clientset without one
// (a fake) or a missing Cluster is an error.
func (c *Client) liveCNPGCluster(ctx context.Context, namespace, name string) (*manifest.Object, error) {
	rc := c.kube.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		return nil, fmt.Errorf("this clientset cannot read custom resources")
	}
	raw, err := rc.Get().AbsPath("/apis/postgresql.cnpg.io/v1/namespaces", namespace, "clusters", name).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading CNPG Cluster %s/%s: %w", namespace, name, err)
	}
	objs, err := manifest.Parse(string(raw), namespace)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		return &o, nil
	}
	return nil, fmt.Errorf("CNPG Cluster %s/%s: empty answer", namespace, name)
}

// maxSurge is the rolling update's extra pods for a count.
func maxSurge(s *appsv1.DeploymentStrategy, replicas int32) int32 {
	if s == nil || s.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	surge := intstr.FromString("25%")
	if s.RollingUpdate != nil && s.RollingUpdate.MaxSurge != nil {
		surge = *s.RollingUpdate.MaxSurge
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&surge, int(replicas), true)
	if err != nil {
		return int32(math.Ceil(float64(replicas) / 4))
	}
	return int32(n)
}

// cnpgObjects finds the CloudNativePG Cluster and a read-write Pooler in a
// rendered manifest.
func cnpgObjects(objs map[string]manifest.Object) (cluster *manifest.Object, pooler string) {
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
				pooler = o.Obj.GetName()
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
