package scale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
	podstate "github.com/ironflow/scaling/internal/pods"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/postgres"
)

// The Fluxbase scaling guide's triggers ("Scaling Triggers",
// https://fluxbase.eu/deployment/scaling): CPU usage > 70 % for 5 min and
// memory usage > 80 % for 5 min scale the pods up; database connections
// > 80 % of max scale the database or add replicas.
const (
	DefaultCPUTrigger         = 70
	DefaultMemoryTrigger      = 80
	DefaultConnectionsTrigger = 80
)

// Recommend asks which tier or change fits a release, from what it runs
// now. It reads and never writes.
//
// The guide's CPU and memory triggers hold "for 5 min". A single read
// cannot show that: the HPA's status.currentMetrics and the metrics API's
// usage are already averages, but over the metrics-server's short window
// (tens of seconds), not five minutes. With Window zero, Recommend reads
// once and says that a trigger above its threshold was seen at one read
// (Sustained false); with Window set, it reads every Interval for Window
// and counts a trigger as sustained only when every read was above it (its
// lowest reading is the one judged).
type Recommend struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Window and Interval make Recommend sample for Window, every Interval
	// (default 30 s); zero Window reads once.
	Window   time.Duration `json:"window,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
	// Connections are the database connections in use, when the caller
	// measured them (SELECT count(*) FROM pg_stat_activity); zero judges
	// the connection budget instead: the pods' pools at today's count,
	// which is what they may hold, not what they hold.
	Connections int64 `json:"connections,omitempty"`
	// Budget describes the pods' pools and the server; its MaxConnections
	// zero reads the CNPG Cluster the release renders, else PostgreSQL's
	// 100.
	Budget ConnectionBudget `json:"budget,omitzero"`
	// CPUTrigger, MemoryTrigger and ConnectionsTrigger are percents; zero
	// means the guide's 70, 80 and 80.
	CPUTrigger, MemoryTrigger, ConnectionsTrigger int32 `json:",omitempty"`
}

// Signal is one of the guide's triggers as read.
type Signal struct {
	// Name is "cpu", "memory", "connections" (the server's) or
	// "pooler-clients" (the pods' pools against what the Pooler accepts).
	Name string `json:"name"`
	// Percent is the reading (the lowest of the samples); Threshold the
	// trigger's.
	Percent   float64 `json:"percent"`
	Threshold int32   `json:"threshold"`
	// Above: Percent > Threshold. Sustained: above in every one of at
	// least two samples spanning a Window (never from one read).
	Above     bool `json:"above"`
	Sustained bool `json:"sustained"`
	// Source says where the number comes from.
	Source string `json:"source"`
}

// HPAReading is the release's HorizontalPodAutoscaler as read.
type HPAReading struct {
	Name            string `json:"name"`
	MinReplicas     int32  `json:"minReplicas"`
	MaxReplicas     int32  `json:"maxReplicas"`
	CurrentReplicas int32  `json:"currentReplicas"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	// CPU and Memory are status.currentMetrics' averageUtilization (percent
	// of the pods' requests); nil when the HPA reports none.
	CPU    *int32 `json:"cpu,omitempty"`
	Memory *int32 `json:"memory,omitempty"`
	// AtMax: the HPA runs its maxReplicas, so it cannot scale further.
	AtMax bool `json:"atMax"`
}

// Recommendation is Recommend's answer. Verdict is "fits", "scale-out"
// (more pods: the next tier or a higher maxReplicas), "scale-database"
// or, when a trigger fired but the HPA is still adding pods, "hpa-scaling".
type Recommendation struct {
	Namespace string            `json:"namespace"`
	Release   string            `json:"release"`
	Workload  scaling.ObjectRef `json:"workload"`
	// Replicas are the workload's ready pods at the last read.
	Replicas int32 `json:"replicas"`
	// Current is the tier whose requests the release's match, else the
	// largest tier whose requests it reaches; nil below the smallest.
	Current *Tier `json:"current,omitempty"`
	// Exact: the release's requests, limits and replicas (or HPA bounds)
	// are the Current tier's.
	Exact bool `json:"exact"`
	// Suggested is the tier to move to (Template with To:
	// Suggested.Preset); nil when none is needed or none is larger.
	Suggested *Tier       `json:"suggested,omitempty"`
	HPA       *HPAReading `json:"hpa,omitempty"`
	// MetricsServed: the metrics API answered and its pod usage is in the
	// signals; MetricsError says why not when it is registered but failed.
	MetricsServed bool     `json:"metricsServed"`
	MetricsError  string   `json:"metricsError,omitempty"`
	Signals       []Signal `json:"signals"`
	Samples       int      `json:"samples"`
	Verdict       string   `json:"verdict"`
	// Reasons say why, with numbers, in order.
	Reasons []string `json:"reasons"`
}

func (r Recommend) validate() error {
	bad := func(field string, v any, why string) error {
		return &scaling.InvalidInputError{Field: "Recommend." + field, Value: v, Reason: why}
	}
	switch {
	case r.Namespace == "" || r.Release == "":
		return bad("Namespace/Release", r.Namespace+"/"+r.Release, "both are required")
	case r.Window < 0:
		return bad("Window", r.Window, "must not be negative")
	case r.Interval < 0:
		return bad("Interval", r.Interval, "must not be negative")
	case r.Window > 0 && r.Interval > r.Window:
		return bad("Interval", r.Interval, "must not exceed Window")
	case r.Connections < 0:
		return bad("Connections", r.Connections, "must not be negative")
	case r.Budget.MaxConnections < 0 || r.Budget.Reserved < 0 || r.Budget.Others < 0:
		return bad("Budget", r.Budget, "counts must not be negative")
	}
	for name, p := range map[string]int32{"CPUTrigger": r.CPUTrigger, "MemoryTrigger": r.MemoryTrigger, "ConnectionsTrigger": r.ConnectionsTrigger} {
		if p < 0 || p > 100 {
			return bad(name, p, "is a percent: 0 (the guide's) to 100")
		}
	}
	return nil
}

// recMetricsGroupVersion is the metrics API (metrics-server).
const recMetricsGroupVersion = "metrics.k8s.io/v1beta1"

var recPodMetricsGVR = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}

// recSample is one read of the live signals.
type recSample struct {
	hpa            *HPAReading
	ready          int32
	cpuReq, memReq float64 // percent of requests, from the metrics API; NaN unknown
	memLimit       float64 // percent of limits; NaN unknown
	metricsServed  bool
	metricsErr     string
}

// Recommend reads the release (its values and manifest), the HPA that owns
// its app's count (status.currentMetrics), the app's pods and, when the
// metrics API is served, their usage through the dynamic client, and the
// connection budget; it judges them against the guide's triggers. Invalid
// input is a *scaling.InvalidInputError before any request; a missing
// release is the Releases seam's error. Nothing is written.
func (c *Client) Recommend(ctx context.Context, r Recommend) (*Recommendation, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	if r.CPUTrigger == 0 {
		r.CPUTrigger = DefaultCPUTrigger
	}
	if r.MemoryTrigger == 0 {
		r.MemoryTrigger = DefaultMemoryTrigger
	}
	if r.ConnectionsTrigger == 0 {
		r.ConnectionsTrigger = DefaultConnectionsTrigger
	}
	if r.Window > 0 && r.Interval == 0 {
		r.Interval = min(30*time.Second, r.Window)
	}
	rel, err := c.releases.Last(ctx, r.Namespace, r.Release)
	if err != nil {
		return nil, err
	}
	computed := rel.Computed
	if computed == nil {
		computed = rel.Values
	}
	objs, err := manifest.Parse(rel.Manifest, r.Namespace)
	if err != nil {
		return nil, fmt.Errorf("scale: parsing release %s/%s's manifest: %w", r.Namespace, r.Release, err)
	}
	ref, ok := recAppWorkload(objs)
	if !ok {
		return nil, &scaling.NotFoundError{Object: scaling.ObjectRef{Kind: "HelmRelease", Namespace: r.Namespace, Name: r.Release}, Detail: "the release renders no app Deployment"}
	}
	out := &Recommendation{Namespace: r.Namespace, Release: r.Release, Workload: ref}
	live, err := c.kube.AppsV1().Deployments(r.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var samples []recSample
	for deadline := time.Now().Add(r.Window); ; {
		s, err := c.recObserve(ctx, live)
		if err != nil {
			return nil, err
		}
		samples = append(samples, s)
		if r.Window == 0 || !time.Now().Add(r.Interval).Before(deadline.Add(time.Millisecond)) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.Interval):
		}
	}
	last := samples[len(samples)-1]
	out.Samples, out.HPA, out.Replicas = len(samples), last.hpa, last.ready
	out.MetricsServed, out.MetricsError = last.metricsServed, last.metricsErr
	out.Current, out.Exact = recCurrentTier(computed, out.HPA)
	cpu, mem := recSignals(r, samples)
	out.Signals = append(out.Signals, cpu...)
	out.Signals = append(out.Signals, mem...)
	conn, connReasons, err := c.recConnections(ctx, r, computed, objs, live, out)
	if err != nil {
		return nil, err
	}
	out.Reasons = append(out.Reasons, connReasons...)
	out.Signals = append(out.Signals, conn...)
	out.decide(r)
	return out, nil
}

// recAppWorkload is the app's Deployment: the rendered HPA's target when
// there is one, else the first Deployment of the chart itself (not of a
// subchart).
func recAppWorkload(objs map[string]manifest.Object) (scaling.ObjectRef, bool) {
	if _, ref, ok := renderedHPA(objs); ok && ref.Kind == "Deployment" {
		return ref, true
	}
	for _, o := range manifest.Workloads(objs) {
		if o.Obj.GetKind() == "Deployment" && !strings.Contains(o.Source, "/charts/") {
			return scaling.ObjectRef{Kind: "Deployment", Namespace: o.Obj.GetNamespace(), Name: o.Obj.GetName()}, true
		}
	}
	return scaling.ObjectRef{}, false
}

// recObserve reads the HPA owning d, d's pods and their usage once.
func (c *Client) recObserve(ctx context.Context, d *appsv1.Deployment) (recSample, error) {
	s := recSample{cpuReq: math.NaN(), memReq: math.NaN(), memLimit: math.NaN()}
	hpas, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, err
	}
	for i := range hpas.Items {
		h := &hpas.Items[i]
		if t := h.Spec.ScaleTargetRef; t.Kind == "Deployment" && t.Name == d.Name {
			s.hpa = recHPA(h)
			break
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return s, fmt.Errorf("scale: Deployment %s/%s's selector: %w", d.Namespace, d.Name, err)
	}
	pods, err := c.kube.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return s, err
	}
	for i := range pods.Items {
		if recReady(&pods.Items[i]) {
			s.ready++
		}
	}
	usage, served, why, err := c.recPodUsage(ctx, d.Namespace)
	if err != nil {
		return s, err
	}
	s.metricsServed, s.metricsErr = served, why
	if served {
		s.cpuReq, s.memReq, s.memLimit = recPercents(pods.Items, usage)
	}
	return s, nil
}

func recHPA(h *autoscalingv2.HorizontalPodAutoscaler) *HPAReading {
	r := &HPAReading{Name: h.Name, MinReplicas: 1, MaxReplicas: h.Spec.MaxReplicas,
		CurrentReplicas: h.Status.CurrentReplicas, DesiredReplicas: h.Status.DesiredReplicas}
	if h.Spec.MinReplicas != nil {
		r.MinReplicas = *h.Spec.MinReplicas
	}
	for _, m := range h.Status.CurrentMetrics {
		var name corev1.ResourceName
		var u *int32
		switch {
		case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
			name, u = m.Resource.Name, m.Resource.Current.AverageUtilization
		case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
			name, u = m.ContainerResource.Name, m.ContainerResource.Current.AverageUtilization
		}
		if u == nil {
			continue
		}
		v := *u
		switch name {
		case corev1.ResourceCPU:
			r.CPU = &v
		case corev1.ResourceMemory:
			r.Memory = &v
		}
	}
	r.AtMax = r.MaxReplicas > 0 && r.CurrentReplicas >= r.MaxReplicas
	return r
}

// recReady: Ready and not terminating.
func recReady(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && podstate.Ready(p) }

// recPodUsage lists the namespace's PodMetrics when the metrics API is
// served (the same probe as nodes.Diagnose: a scaling.Cluster's cached
// discovery answers for an absent group without a request), read by hand
// so no k8s.io/metrics dependency is needed. served is false, with why,
// when the API is registered but failed; not registered is no error.
func (c *Client) recPodUsage(ctx context.Context, ns string) (usage map[string]corev1.ResourceList, served bool, why string, err error) {
	res, err := discovery.ToDiscoveryInterfaceWithContext(c.kube.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, recMetricsGroupVersion)
	if ctx.Err() != nil {
		return nil, false, "", ctx.Err()
	}
	switch {
	case apierrors.IsNotFound(err), errors.Is(err, memory.ErrCacheNotFound):
		return nil, false, "", nil
	case err != nil:
		return nil, false, "probing " + recMetricsGroupVersion + ": " + err.Error(), nil
	}
	hasPods := false
	for _, r := range res.APIResources {
		hasPods = hasPods || r.Name == "pods"
	}
	if !hasPods {
		return nil, false, recMetricsGroupVersion + " serves no pods metrics", nil
	}
	if c.dyn == nil {
		return nil, false, "the *scaling.Cluster has no Dynamic client to read " + recMetricsGroupVersion + " with", nil
	}
	list, err := c.dyn.Resource(recPodMetricsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if ctx.Err() != nil {
		return nil, false, "", ctx.Err()
	}
	if err != nil {
		return nil, false, "reading " + recMetricsGroupVersion + ": " + err.Error(), nil
	}
	usage = map[string]corev1.ResourceList{}
	for i := range list.Items {
		item := &list.Items[i]
		containers, _ := item.Object["containers"].([]any)
		sum := corev1.ResourceList{}
		for _, ct := range containers {
			cm, _ := ct.(map[string]any)
			um, _ := cm["usage"].(map[string]any)
			for name, raw := range um {
				str, _ := raw.(string)
				q, perr := resource.ParseQuantity(str)
				if perr != nil {
					return nil, false, fmt.Sprintf("reading %s: PodMetrics %s usage %s: %v", recMetricsGroupVersion, item.GetName(), name, perr), nil
				}
				cur := sum[corev1.ResourceName(name)]
				cur.Add(q)
				sum[corev1.ResourceName(name)] = cur
			}
		}
		usage[item.GetName()] = sum
	}
	return usage, true, "", nil
}

// recPercents are the pods' summed usage over their summed requests (CPU,
// memory: the HPA's own definition of utilization) and memory over limits
// (the guide's memory metric, working set / limit). Pods without metrics
// or without the request are left out; NaN when none is left.
func recPercents(pods []corev1.Pod, usage map[string]corev1.ResourceList) (cpuReq, memReq, memLimit float64) {
	var cpuU, cpuR, memU, memR, memLU, memL float64
	for i := range pods {
		p := &pods[i]
		u, ok := usage[p.Name]
		if !ok || !recReady(p) {
			continue
		}
		var req, lim corev1.ResourceList = corev1.ResourceList{}, corev1.ResourceList{}
		for _, ct := range p.Spec.Containers {
			for n, q := range ct.Resources.Requests {
				cur := req[n]
				cur.Add(q)
				req[n] = cur
			}
			for n, q := range ct.Resources.Limits {
				cur := lim[n]
				cur.Add(q)
				lim[n] = cur
			}
		}
		if r, ok := req[corev1.ResourceCPU]; ok && !r.IsZero() {
			cpuU += float64(u.Cpu().MilliValue())
			cpuR += float64(r.MilliValue())
		}
		if r, ok := req[corev1.ResourceMemory]; ok && !r.IsZero() {
			memU += float64(u.Memory().Value())
			memR += float64(r.Value())
		}
		if l, ok := lim[corev1.ResourceMemory]; ok && !l.IsZero() {
			memLU += float64(u.Memory().Value())
			memL += float64(l.Value())
		}
	}
	pct := func(a, b float64) float64 {
		if b == 0 {
			return math.NaN()
		}
		return math.Round(a/b*1000) / 10
	}
	return pct(cpuU, cpuR), pct(memU, memR), pct(memLU, memL)
}

// recSignals turns the samples into the CPU and memory signals. The pods'
// usage from the metrics API is preferred (memory against limits, as the
// guide measures it); without it, the HPA's currentMetrics (memory against
// requests, which is what the HPA scales on). Each signal's value is its
// lowest sample: sustained means every sample was above.
func recSignals(r Recommend, samples []recSample) (cpu, mem []Signal) {
	pick := func(name string, threshold int32, get func(recSample) (float64, string)) []Signal {
		lowest, source, n := math.Inf(1), "", 0
		for _, s := range samples {
			v, src := get(s)
			if math.IsNaN(v) {
				continue
			}
			n++
			if v < lowest {
				lowest = v
			}
			source = src
		}
		if n == 0 {
			return nil
		}
		sig := Signal{Name: name, Percent: lowest, Threshold: threshold, Above: lowest > float64(threshold), Source: source}
		sig.Sustained = sig.Above && n >= 2 && n == len(samples)
		if n > 1 {
			sig.Source += fmt.Sprintf(", lowest of %d samples over %s", n, r.Window)
		}
		return []Signal{sig}
	}
	cpu = pick("cpu", r.CPUTrigger, func(s recSample) (float64, string) {
		if !math.IsNaN(s.cpuReq) {
			return s.cpuReq, "metrics API: pods' usage / requests"
		}
		if s.hpa != nil && s.hpa.CPU != nil {
			return float64(*s.hpa.CPU), "HPA " + s.hpa.Name + " status.currentMetrics (of requests)"
		}
		return math.NaN(), ""
	})
	mem = pick("memory", r.MemoryTrigger, func(s recSample) (float64, string) {
		if !math.IsNaN(s.memLimit) {
			return s.memLimit, "metrics API: pods' working set / limits"
		}
		if !math.IsNaN(s.memReq) {
			return s.memReq, "metrics API: pods' working set / requests (no limits)"
		}
		if s.hpa != nil && s.hpa.Memory != nil {
			return float64(*s.hpa.Memory), "HPA " + s.hpa.Name + " status.currentMetrics (of requests)"
		}
		return math.NaN(), ""
	})
	return cpu, mem
}

// recConnections judges the database: the caller's measured connections,
// else the pods' pools at today's count (a budget, said so in Source),
// against max_connections; postgres.ConnectionBudget does the arithmetic
// and reads max_connections from the rendered CNPG Cluster. nil without
// a database to judge (no PostgreSQL in the release, no pool size value
// and no caller's numbers); the reason then says why.
func (c *Client) recConnections(ctx context.Context, r Recommend, computed map[string]any, objs map[string]manifest.Object, d *appsv1.Deployment, out *Recommendation) ([]Signal, []string, error) {
	path := r.Budget.PoolSizePath
	if path == "" {
		path = defaultPoolSizePath
	}
	pool, hasPool := values.Int(computed, path)
	cluster, poolerObj := cnpgObjects(objs)
	if cluster == nil && r.Budget.Cluster != "" {
		live, err := c.liveCNPGCluster(ctx, r.Namespace, r.Budget.Cluster)
		if err != nil {
			return nil, nil, err
		}
		cluster = live
	}
	if cluster == nil && r.Budget.MaxConnections == 0 && r.Connections == 0 {
		return nil, []string{"database: the release renders no CloudNativePG Cluster and no connection numbers were given: not judged"}, nil
	}
	in := postgres.Connections{Replicas: out.Replicas, Pool: pool, Others: int64(r.Budget.Others), MaxConnections: r.Budget.MaxConnections, Reserved: r.Budget.Reserved}
	if cluster != nil {
		in.Cluster, in.ClusterName = cluster.Obj.Object, cluster.Obj.GetName()
	}
	var reasons []string
	if poolerObj != nil {
		if p, err := postgres.PoolerOf(poolerObj.Obj.Object); err == nil {
			in.Pooler = p
		} else {
			// Judged as if the pods reached the server directly, and said so:
			// the pooler's own limits are unknown.
			reasons = append(reasons, fmt.Sprintf("database: Pooler %s: %v: its budget is not judged, the pods' pools are counted against the server", poolerObj.Obj.GetName(), err))
		}
	}
	steady, err := postgres.ConnectionBudget(in)
	if err != nil {
		return nil, nil, err
	}
	maxConn := steady.Budget.MaxConnections
	sig := &Signal{Name: "connections", Threshold: r.ConnectionsTrigger}
	used := r.Connections
	switch {
	case used > 0:
		sig.Source = fmt.Sprintf("%d connections measured by the caller; max_connections %d (%s)", used, maxConn, steady.MaxConnectionsSource)
	case hasPool:
		used = steady.Peak
		sig.Source = fmt.Sprintf("budget, not measured: %s (max_connections: %s)", steady.Budget.String(), steady.MaxConnectionsSource)
	default:
		return nil, append(reasons, fmt.Sprintf("database: the chart has no %s value and no measured connections were given: not judged", path)), nil
	}
	sig.Percent = math.Round(float64(used)/float64(maxConn)*1000) / 10
	sig.Above = sig.Percent > float64(r.ConnectionsTrigger)
	// A measured count is one read; a budget is what the pools hold
	// whenever the pods run, so it is as sustained as the pods are.
	sig.Sustained = sig.Above && r.Connections == 0
	sigs := []Signal{*sig}
	// Behind a pooler the pods' pools are PgBouncer's clients: beyond
	// instances x max_client_conn it refuses them, whatever the server has
	// left, and raising max_connections does not help.
	if p := steady.Budget.Pooler; p != nil && hasPool && steady.ClientLimit > 0 {
		clients := steady.Budget.Clients()
		sigs = append(sigs, Signal{Name: signalPoolerClients, Threshold: 100, Above: clients > steady.ClientLimit, Sustained: clients > steady.ClientLimit,
			Percent: math.Round(float64(clients)/float64(steady.ClientLimit)*1000) / 10,
			Source:  fmt.Sprintf("budget, not measured: the pods' pools open %d clients, Pooler %s accepts %d; beyond it PgBouncer refuses them: raise max_client_conn or the Pooler's instances", clients, p.Name, steady.ClientLimit)})
	}
	// The HPA may run more pods than today's: their pools are the peak.
	if out.HPA != nil && hasPool {
		in.HPA = &postgres.HPALimit{Name: out.HPA.Name, MaxReplicas: out.HPA.MaxReplicas}
		in.Strategy = &d.Spec.Strategy
		if peak, err := postgres.ConnectionBudget(in); err == nil && !peak.Fits {
			fix := fmt.Sprintf("over the usable connections; max_connections %d would hold it", peak.Recommended)
			if peak.Peak <= peak.Usable {
				fix = "more clients than the Pooler accepts; raise max_client_conn or the Pooler's instances"
			}
			reasons = append(reasons, fmt.Sprintf("database: at the HPA's maximum with a rollout, %s: %s", peak.Budget.String(), fix))
		}
	}
	return sigs, reasons, nil
}

// signalPoolerClients is the signal of the pods' pools against what the
// Pooler accepts (its trigger is 100 %: the rest is refused).
const signalPoolerClients = "pooler-clients"

// recCurrentTier matches the release's values to a tier: its requests
// first (the tier is a size), then replicas or HPA bounds for Exact.
func recCurrentTier(computed map[string]any, hpa *HPAReading) (*Tier, bool) {
	cpuV, _ := values.Get(computed, "resources.requests.cpu")
	memV, _ := values.Get(computed, "resources.requests.memory")
	cpu, err1 := resource.ParseQuantity(fmt.Sprint(cpuV))
	mem, err2 := resource.ParseQuantity(fmt.Sprint(memV))
	if err1 != nil || err2 != nil {
		return nil, false
	}
	var best *Tier
	for _, t := range Tiers() {
		if cpu.Cmp(t.Requests[corev1.ResourceCPU]) >= 0 && mem.Cmp(t.Requests[corev1.ResourceMemory]) >= 0 {
			t := t
			best = &t
		}
	}
	if best == nil {
		return nil, false
	}
	exact := cpu.Cmp(best.Requests[corev1.ResourceCPU]) == 0 && mem.Cmp(best.Requests[corev1.ResourceMemory]) == 0
	if lc, ok := values.Get(computed, "resources.limits.cpu"); ok {
		q, err := resource.ParseQuantity(fmt.Sprint(lc))
		exact = exact && err == nil && q.Cmp(best.Limits[corev1.ResourceCPU]) == 0
	}
	if a := best.Autoscaling; a != nil {
		exact = exact && hpa != nil && hpa.MinReplicas == a.MinReplicas && hpa.MaxReplicas == a.MaxReplicas
	} else {
		n, _ := values.Int(computed, DefaultReplicasPath)
		exact = exact && hpa == nil && n == int64(best.Replicas)
	}
	return best, exact
}

// decide sets Verdict, Suggested and the reasons from the signals.
func (o *Recommendation) decide(r Recommend) {
	var pods, db []string
	for _, s := range o.Signals {
		word := "below"
		if s.Above {
			word = "above"
		}
		line := fmt.Sprintf("%s %.1f%% %s the %d%% trigger (%s)", s.Name, s.Percent, word, s.Threshold, s.Source)
		if s.Above && !s.Sustained {
			line += "; seen at one read, not shown to be sustained for 5 min"
		}
		o.Reasons = append(o.Reasons, line)
		if !s.Above {
			continue
		}
		if s.Name == "connections" || s.Name == signalPoolerClients {
			db = append(db, s.Name)
		} else {
			pods = append(pods, s.Name)
		}
	}
	if !o.MetricsServed {
		why := "not served"
		if o.MetricsError != "" {
			why = o.MetricsError
		}
		o.Reasons = append(o.Reasons, "pods' usage: the metrics API ("+recMetricsGroupVersion+") "+why)
	}
	if !slices.ContainsFunc(o.Signals, func(s Signal) bool { return s.Name != "connections" && s.Name != signalPoolerClients }) {
		o.Reasons = append(o.Reasons, "no CPU or memory reading: neither the HPA nor the metrics API reports the pods' usage")
	}
	next := func() *Tier {
		i := -1
		if o.Current != nil {
			i = tierIndex(o.Current.Name)
		}
		if ts := Tiers(); i+1 < len(ts) {
			return &ts[i+1]
		}
		return nil
	}
	switch {
	case len(pods) > 0 && o.HPA != nil && !o.HPA.AtMax:
		o.Verdict = "hpa-scaling"
		o.Reasons = append(o.Reasons, fmt.Sprintf("HPA %s runs %d of at most %d pods: it adds pods itself; move up a tier only once it sits at its maximum", o.HPA.Name, o.HPA.CurrentReplicas, o.HPA.MaxReplicas))
	case len(pods) > 0:
		o.Verdict = "scale-out"
		o.Suggested = next()
		if o.HPA != nil {
			o.Reasons = append(o.Reasons, fmt.Sprintf("HPA %s is at its maximum of %d pods", o.HPA.Name, o.HPA.MaxReplicas))
		}
		if o.Suggested != nil {
			o.Reasons = append(o.Reasons, fmt.Sprintf("%s over the trigger: move to the %s tier (%s users)", strings.Join(pods, " and "), o.Suggested.Short(), o.Suggested.Users))
		} else {
			o.Reasons = append(o.Reasons, strings.Join(pods, " and ")+" over the trigger at the largest tier: raise maxReplicas beyond the guide's tiers")
		}
	case len(db) > 0:
		o.Verdict = "scale-database"
	default:
		o.Verdict = "fits"
		o.Reasons = append(o.Reasons, "no trigger fired: stay (the guide gives no scale-down trigger, so none is suggested)")
	}
	if len(db) > 0 {
		o.Reasons = append(o.Reasons, "database connections over the trigger: the guide says scale the database or add replicas; put a PgBouncer pooler in front (postgresql.pooler.enabled) or raise max_connections")
	}
}

// String renders the recommendation as text, one line per fact.
func (o *Recommendation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "release %s/%s (%s/%s): %d ready pod(s)\n", o.Namespace, o.Release, o.Workload.Kind, o.Workload.Name, o.Replicas)
	switch {
	case o.Current == nil:
		b.WriteString("tier: below the smallest\n")
	case o.Exact:
		fmt.Fprintf(&b, "tier: %s\n", o.Current.Short())
	default:
		fmt.Fprintf(&b, "tier: at least %s (values differ from the tier's)\n", o.Current.Short())
	}
	if h := o.HPA; h != nil {
		fmt.Fprintf(&b, "hpa: %s %d/%d-%d pods", h.Name, h.CurrentReplicas, h.MinReplicas, h.MaxReplicas)
		if h.CPU != nil {
			fmt.Fprintf(&b, ", cpu %d%%", *h.CPU)
		}
		if h.Memory != nil {
			fmt.Fprintf(&b, ", memory %d%%", *h.Memory)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "verdict: %s", o.Verdict)
	if o.Suggested != nil {
		fmt.Fprintf(&b, " -> %s tier", o.Suggested.Short())
	}
	b.WriteString("\n")
	for _, r := range o.Reasons {
		fmt.Fprintf(&b, "- %s\n", r)
	}
	return b.String()
}
