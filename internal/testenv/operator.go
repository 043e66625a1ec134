package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// The operator double plays CloudNativePG's operator for one namespace, on
// the real API server: what the library reads and writes (the Cluster's
// status, instance pods and their role labels, the -rw/-ro/-r Services and
// the EndpointSlices the real controller manager makes for them, the
// instances' PVCs, the Pooler's Deployment and Service) is what the
// operator keeps, so the library meets the objects it meets in production.
// The databases behind the pods are a Backend's: real PostgreSQL servers
// (PostgresBackend) or positions held in memory (MemoryBackend).
//
// What it does not play: backups, fencing and hibernation (the library
// only reads their annotations), TLS, and the instance manager's own
// failover. Its labels and phases are CNPG 1.30's, written here again
// rather than taken from the library, so the two check each other.

// CloudNativePG's names, as the operator writes them.
const (
	cnpgCluster      = "cnpg.io/cluster"
	cnpgInstanceName = "cnpg.io/instanceName"
	cnpgInstanceRole = "cnpg.io/instanceRole"
	cnpgLegacyRole   = "role"
	cnpgPodRole      = "cnpg.io/podRole"
	cnpgPoolerName   = "cnpg.io/poolerName"

	rolePrimary   = "primary"
	roleReplica   = "replica"
	roleUnhealthy = "unhealthy"

	// PhaseHealthy and the other phases the double sets.
	PhaseHealthy      = "Cluster in healthy state"
	phaseSwitchover   = "Switchover in progress"
	phaseSettingUp    = "Setting up primary"
	phaseCreating     = "Creating a new replica"
	phaseWaitingReady = "Waiting for the instances to become active"
)

// GVRs of the CNPG resources.
var (
	ClustersGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	PoolersGVR  = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}
)

// Backend runs the databases behind a cluster's instance pods. Names are
// the pods' (the instance names, "<cluster>-<n>"), keyed by namespace.
// The operator calls it from one goroutine, in the order of the events.
type Backend interface {
	// StartInstance starts an instance: the cluster's first primary when
	// primary is empty, else a streaming replica of primary. Parameters
	// are the Cluster's spec.postgresql.parameters.
	StartInstance(ctx context.Context, namespace, instance, primary string, parameters map[string]string) error
	// StopInstance stops an instance and removes its data.
	StopInstance(ctx context.Context, namespace, instance string) error
	// Switchover makes to the primary: it stops from cleanly, promotes to,
	// and re-attaches from and every other replica to it. Poolers
	// fronting the cluster follow the new primary.
	Switchover(ctx context.Context, namespace, cluster, from, to string, replicas []string) error
	// Configure applies changed parameters to every instance (a reload,
	// or a restart when one needs it).
	Configure(ctx context.Context, namespace string, instances []string, parameters map[string]string) error
	// Status is the instance manager's /pg/status document of an
	// instance; found false when the backend runs no such instance.
	Status(ctx context.Context, namespace, instance string) (doc []byte, found bool, err error)
	// Pooler starts or updates a PgBouncer of the cluster in front of
	// primary, paused or not.
	Pooler(ctx context.Context, namespace, pooler, cluster, primary string, paused bool) error
	// RemovePooler stops a pooler.
	RemovePooler(ctx context.Context, namespace, pooler string) error
}

// OperatorOptions configure StartOperator.
type OperatorOptions struct {
	// Namespace whose Clusters and Poolers the double reconciles.
	Namespace string
	// Backend runs the databases; nil means a MemoryBackend.
	Backend Backend
	// Refuse, when it returns true for an instance, makes the double
	// treat it as not active when it is named as a target: the operator
	// then resets targetPrimary (its "wrong target primary" rule), as it
	// does for an instance whose pod is gone or not ready.
	Refuse func(instance string) bool
}

// Operator is a running double. Stop ends it; the objects it made stay
// (the namespace's deletion removes them).
type Operator struct {
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	ns      string
	backend Backend
	refuse  func(string) bool

	queue  chan string
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// switched is when the last switchover's status was written.
	switched time.Time
	// held defers every reconcile until Hold(false).
	held     bool
	deferred map[string]bool
	// errs keeps the backend's failures for the test to report.
	errs []error
	// started are the instances the backend runs; params each cluster's
	// last applied parameters; poolers each pooler's last state.
	started map[string]bool
	params  map[string]map[string]string
	poolers map[string]string
}

// StartOperator starts the double for opts.Namespace; it runs until Stop.
func (e *Env) StartOperator(ctx context.Context, opts OperatorOptions) (*Operator, error) {
	if opts.Namespace == "" {
		return nil, errors.New("testenv: OperatorOptions.Namespace is required")
	}
	dyn, err := dynamic.NewForConfig(e.RESTConfig())
	if err != nil {
		return nil, err
	}
	if opts.Backend == nil {
		opts.Backend = NewMemoryBackend()
	}
	if opts.Refuse == nil {
		opts.Refuse = func(string) bool { return false }
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	op := &Operator{kube: e.Client, dyn: dyn, ns: opts.Namespace, backend: opts.Backend, refuse: opts.Refuse,
		queue: make(chan string, 1024), cancel: cancel, done: make(chan struct{}),
		deferred: map[string]bool{}, started: map[string]bool{}, params: map[string]map[string]string{}, poolers: map[string]string{}}
	var synced []cache.InformerSynced
	for _, inf := range op.informers() {
		go inf.RunWithContext(runCtx)
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		cancel()
		return nil, fmt.Errorf("testenv: the operator double's watches did not sync: %w", ctx.Err())
	}
	go op.work(runCtx)
	return op, nil
}

// Stop ends the double's watches and worker.
func (o *Operator) Stop() {
	o.cancel()
	<-o.done
}

// Hold stops the double reacting while on, as a busy or restarting
// operator does; events that arrive meanwhile are reconciled when it is
// released.
func (o *Operator) Hold(on bool) {
	o.mu.Lock()
	o.held = on
	pending := o.deferred
	if !on {
		o.deferred = map[string]bool{}
	}
	o.mu.Unlock()
	if !on {
		for n := range pending {
			o.queue <- n
		}
	}
}

// Switched is when the double finished its last switchover: the new
// primary labelled and the status written (what a verifier waits for).
func (o *Operator) Switched() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.switched
}

// Errors are the backend's failures so far (a reconcile that failed is
// retried on the next event; a test asserts none happened).
func (o *Operator) Errors() []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.errs)
}

// informers watch what the operator reacts to: Clusters, Poolers, and the
// instance pods (their readiness is the Cluster's readyInstances).
func (o *Operator) informers() []cache.SharedIndexInformer {
	enqueue := func(key func(obj metav1.Object) string) cache.ResourceEventHandler {
		push := func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				if k := key(m); k != "" {
					o.queue <- k
				}
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: push, UpdateFunc: func(_, n any) { push(n) }, DeleteFunc: push}
	}
	dynLW := func(gvr schema.GroupVersionResource) cache.ListerWatcher {
		r := o.dyn.Resource(gvr).Namespace(o.ns)
		return &cache.ListWatch{
			ListWithContextFunc:  func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, opts) },
			WatchFuncWithContext: r.Watch,
		}
	}
	clusters := cache.NewSharedIndexInformer(dynLW(ClustersGVR), &unstructured.Unstructured{}, 0, cache.Indexers{})
	_, _ = clusters.AddEventHandler(enqueue(func(m metav1.Object) string { return m.GetName() }))
	poolers := cache.NewSharedIndexInformer(dynLW(PoolersGVR), &unstructured.Unstructured{}, 0, cache.Indexers{})
	_, _ = poolers.AddEventHandler(enqueue(func(m metav1.Object) string {
		if u, ok := m.(*unstructured.Unstructured); ok {
			c, _, _ := unstructured.NestedString(u.Object, "spec", "cluster", "name")
			return c
		}
		return ""
	}))
	pods := o.kube.CoreV1().Pods(o.ns)
	podLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = cnpgPodRole + "=instance"
			return pods.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = cnpgPodRole + "=instance"
			return pods.Watch(ctx, opts)
		},
	}
	instances := cache.NewSharedIndexInformer(podLW, &corev1.Pod{}, 0, cache.Indexers{})
	_, _ = instances.AddEventHandler(enqueue(func(m metav1.Object) string { return m.GetLabels()[cnpgCluster] }))
	return []cache.SharedIndexInformer{clusters, poolers, instances}
}

// work reconciles one cluster at a time, in the order of the events; a
// burst of events for one cluster is one reconcile.
func (o *Operator) work(ctx context.Context) {
	defer close(o.done)
	for {
		select {
		case <-ctx.Done():
			o.shutdown()
			return
		case name := <-o.queue:
			pending := map[string]bool{name: true}
		drain:
			for {
				select {
				case n := <-o.queue:
					pending[n] = true
				default:
					break drain
				}
			}
			o.mu.Lock()
			if o.held {
				maps.Copy(o.deferred, pending)
				pending = nil
			}
			o.mu.Unlock()
			for _, n := range slices.Sorted(maps.Keys(pending)) {
				if err := o.reconcile(ctx, n); err != nil && ctx.Err() == nil {
					o.mu.Lock()
					if len(o.errs) < 10 { // the first failures say why
						o.errs = append(o.errs, fmt.Errorf("cluster %s: %w", n, err))
					}
					o.mu.Unlock()
					// Retried shortly, as a controller's rate-limited
					// queue would.
					time.AfterFunc(200*time.Millisecond, func() {
						select {
						case o.queue <- n:
						default:
						}
					})
				}
			}
		}
	}
}

// shutdown stops what the backend runs for this namespace.
func (o *Operator) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	for p := range o.poolers {
		_ = o.backend.RemovePooler(ctx, o.ns, p)
	}
	for inst := range o.started {
		_ = o.backend.StopInstance(ctx, o.ns, inst)
	}
}

// clusterState is what one reconcile reads.
type clusterState struct {
	u         *unstructured.Unstructured
	instances int
	size      resource.Quantity
	class     string
	params    map[string]string
	current   string
	target    string
	pods      map[string]*corev1.Pod
}

func (o *Operator) read(ctx context.Context, name string) (*clusterState, error) {
	u, err := o.dyn.Resource(ClustersGVR).Namespace(o.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	st := &clusterState{u: u, pods: map[string]*corev1.Pod{}, params: map[string]string{}}
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "instances")
	st.instances = int(n)
	size, _, _ := unstructured.NestedString(u.Object, "spec", "storage", "size")
	if size == "" {
		size = "1Gi"
	}
	if st.size, err = resource.ParseQuantity(size); err != nil {
		return nil, fmt.Errorf("spec.storage.size %q: %w", size, err)
	}
	st.class, _, _ = unstructured.NestedString(u.Object, "spec", "storage", "storageClass")
	if p, ok, _ := unstructured.NestedStringMap(u.Object, "spec", "postgresql", "parameters"); ok {
		st.params = p
	}
	st.current, _, _ = unstructured.NestedString(u.Object, "status", "currentPrimary")
	st.target, _, _ = unstructured.NestedString(u.Object, "status", "targetPrimary")
	list, err := o.kube.CoreV1().Pods(o.ns).List(ctx, metav1.ListOptions{LabelSelector: cnpgCluster + "=" + name + "," + cnpgPodRole + "=instance"})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		st.pods[list.Items[i].Name] = &list.Items[i]
	}
	return st, nil
}

func (o *Operator) reconcile(ctx context.Context, name string) error {
	st, err := o.read(ctx, name)
	if apierrors.IsNotFound(err) {
		return o.forget(ctx, name)
	}
	if err != nil {
		return err
	}
	if st.u.GetDeletionTimestamp() != nil {
		return nil
	}
	if err := o.services(ctx, st); err != nil {
		return err
	}
	// The first instance is the primary; a new cluster's status says so
	// before the pod exists, as CNPG's "Setting up primary" does.
	if st.current == "" {
		st.current, st.target = name+"-1", name+"-1"
		if err := o.patchStatus(ctx, name, map[string]any{"currentPrimary": st.current, "targetPrimary": st.target, "phase": phaseSettingUp,
			"currentPrimaryTimestamp": now(), "targetPrimaryTimestamp": now()}); err != nil {
			return err
		}
	}
	if st.target != "" && st.target != st.current {
		return o.switchover(ctx, st)
	}
	if err := o.ensureInstances(ctx, st); err != nil {
		return err
	}
	if err := o.configure(ctx, st); err != nil {
		return err
	}
	if err := o.resizeClaims(ctx, st); err != nil {
		return err
	}
	if err := o.reconcilePoolers(ctx, st); err != nil {
		return err
	}
	return o.reportStatus(ctx, st)
}

// forget stops the backend's instances and poolers of a deleted cluster;
// the API server's garbage collector deletes the objects (owner
// references).
func (o *Operator) forget(ctx context.Context, name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for inst := range o.started {
		if clusterOf(inst) == name {
			if err := o.backend.StopInstance(ctx, o.ns, inst); err != nil {
				return err
			}
			delete(o.started, inst)
		}
	}
	return nil
}

func clusterOf(instance string) string {
	i := strings.LastIndexByte(instance, '-')
	if i < 0 {
		return instance
	}
	return instance[:i]
}

func serial(instance string) int {
	n, _ := strconv.Atoi(instance[strings.LastIndexByte(instance, '-')+1:])
	return n
}

func owner(u *unstructured.Unstructured) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "postgresql.cnpg.io/v1", Kind: u.GetKind(), Name: u.GetName(), UID: u.GetUID(), Controller: ptr.To(true)}}
}

// services keeps the cluster's three Services; the real controller
// manager keeps their EndpointSlices from the pods' labels and readiness.
func (o *Operator) services(ctx context.Context, st *clusterState) error {
	name := st.u.GetName()
	for suffix, role := range map[string]string{"-rw": rolePrimary, "-ro": roleReplica, "-r": ""} {
		sel := map[string]string{cnpgCluster: name, cnpgPodRole: "instance"}
		if role != "" {
			sel[cnpgInstanceRole] = role
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name + suffix, Namespace: o.ns, Labels: map[string]string{cnpgCluster: name}, OwnerReferences: owner(st.u)},
			Spec:       corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "postgres", Port: 5432, TargetPort: intstr.FromInt32(5432)}}},
		}
		if _, err := o.kube.CoreV1().Services(o.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("service %s: %w", svc.Name, err)
		}
	}
	return nil
}

// ensureInstances makes the backend's instances and their pods and PVCs
// match spec.instances: new instances take the next serials, a scale-down
// removes the highest-numbered replicas (never the primary).
func (o *Operator) ensureInstances(ctx context.Context, st *clusterState) error {
	name := st.u.GetName()
	live := slices.SortedFunc(maps.Keys(st.pods), func(a, b string) int { return serial(a) - serial(b) })
	if _, ok := st.pods[st.current]; !ok {
		if err := o.addInstance(ctx, st, st.current, ""); err != nil {
			return err
		}
		live = append([]string{st.current}, live...)
	}
	next := 1
	for _, p := range live {
		next = max(next, serial(p)+1)
	}
	for len(live) < st.instances {
		inst := fmt.Sprintf("%s-%d", name, next)
		next++
		if err := o.addInstance(ctx, st, inst, st.current); err != nil {
			return err
		}
		live = append(live, inst)
	}
	for i := len(live) - 1; len(live) > st.instances && i >= 0; i-- {
		if live[i] == st.current {
			continue
		}
		if err := o.removeInstance(ctx, live[i]); err != nil {
			return err
		}
		delete(st.pods, live[i])
		live = slices.Delete(live, i, i+1)
	}
	return nil
}

func (o *Operator) addInstance(ctx context.Context, st *clusterState, inst, primary string) error {
	o.mu.Lock()
	running := o.started[inst]
	o.mu.Unlock()
	if !running {
		if err := o.backend.StartInstance(ctx, o.ns, inst, primary, st.params); err != nil {
			return fmt.Errorf("starting instance %s: %w", inst, err)
		}
		o.mu.Lock()
		o.started[inst] = true
		// The cluster's first instance starts with its parameters; later
		// changes reach every instance through configure.
		if _, ok := o.params[st.u.GetName()]; !ok {
			o.params[st.u.GetName()] = maps.Clone(st.params)
		}
		o.mu.Unlock()
	}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: inst, Namespace: o.ns, Labels: map[string]string{cnpgCluster: st.u.GetName(), cnpgInstanceName: inst}, OwnerReferences: owner(st.u)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: st.size}},
		},
	}
	if st.class != "" {
		claim.Spec.StorageClassName = ptr.To(st.class)
	}
	if _, err := o.kube.CoreV1().PersistentVolumeClaims(o.ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("claim %s: %w", inst, err)
	}
	role := roleReplica
	if primary == "" {
		role = rolePrimary
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: inst, Namespace: o.ns, OwnerReferences: owner(st.u), Labels: map[string]string{
			cnpgCluster: st.u.GetName(), cnpgInstanceName: inst, cnpgPodRole: "instance", cnpgInstanceRole: role, cnpgLegacyRole: role,
		}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "postgres", Image: "ghcr.io/cloudnative-pg/postgresql:15",
				Command: []string{"/controller/manager", "instance", "run"},
				Ports:   []corev1.ContainerPort{{Name: "postgresql", ContainerPort: 5432}, {Name: "status", ContainerPort: 8000}},
			}},
			// The claim is not mounted: the hostPath volumes of the
			// environment are bookkeeping, the data lives in the backend.
		},
	}
	if _, err := o.kube.CoreV1().Pods(o.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("pod %s: %w", inst, err)
	}
	st.pods[inst] = pod
	return nil
}

func (o *Operator) removeInstance(ctx context.Context, inst string) error {
	if err := o.kube.CoreV1().Pods(o.ns).Delete(ctx, inst, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := o.kube.CoreV1().PersistentVolumeClaims(o.ns).Delete(ctx, inst, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started[inst] {
		if err := o.backend.StopInstance(ctx, o.ns, inst); err != nil {
			return err
		}
		delete(o.started, inst)
	}
	return nil
}

// switchover is the operator's reaction to a new targetPrimary: a target
// that is not an active instance is reset (phase untouched, as CNPG
// does); otherwise the old primary is marked unhealthy (the -rw Service
// loses its endpoint), the backend promotes the target and re-attaches the
// others, and the labels and status follow.
func (o *Operator) switchover(ctx context.Context, st *clusterState) error {
	name, from, to := st.u.GetName(), st.current, st.target
	pod, ok := st.pods[to]
	if !ok || !podReady(pod) || o.refuse(to) {
		return o.patchStatus(ctx, name, map[string]any{"targetPrimary": from})
	}
	if err := o.label(ctx, from, roleUnhealthy); err != nil {
		return err
	}
	var replicas []string
	for p := range st.pods {
		if p != from && p != to {
			replicas = append(replicas, p)
		}
	}
	sort.Strings(replicas)
	if err := o.backend.Switchover(ctx, o.ns, name, from, to, replicas); err != nil {
		return fmt.Errorf("switching over from %s to %s: %w", from, to, err)
	}
	if err := o.label(ctx, to, rolePrimary); err != nil {
		return err
	}
	if err := o.label(ctx, from, roleReplica); err != nil {
		return err
	}
	o.mu.Lock()
	for p, cluster := range o.poolers {
		if cluster == name {
			o.poolers[p] = "" // re-sent to the backend with the new primary
		}
	}
	o.mu.Unlock()
	if err := o.patchStatus(ctx, name, map[string]any{"currentPrimary": to, "currentPrimaryTimestamp": now(), "phase": PhaseHealthy, "phaseReason": ""}); err != nil {
		return err
	}
	o.mu.Lock()
	o.switched = time.Now()
	o.mu.Unlock()
	st.current = to
	return o.reconcilePoolers(ctx, st)
}

func (o *Operator) label(ctx context.Context, pod, role string) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q,%q:%q}}}`, cnpgInstanceRole, role, cnpgLegacyRole, role)
	_, err := o.kube.CoreV1().Pods(o.ns).Patch(ctx, pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("labelling %s %s: %w", pod, role, err)
	}
	return nil
}

// configure sends changed spec.postgresql.parameters to the backend.
func (o *Operator) configure(ctx context.Context, st *clusterState) error {
	name := st.u.GetName()
	o.mu.Lock()
	last := o.params[name]
	o.mu.Unlock()
	if maps.Equal(last, st.params) {
		return nil
	}
	if err := o.backend.Configure(ctx, o.ns, slices.Sorted(maps.Keys(st.pods)), st.params); err != nil {
		return fmt.Errorf("configuring %s: %w", name, err)
	}
	o.mu.Lock()
	o.params[name] = maps.Clone(st.params)
	o.mu.Unlock()
	return nil
}

// resizeClaims grows each instance's claim to spec.storage.size (CNPG's
// resizeInUseVolumes); the environment's provisioner resizes the volume
// when the class allows it, and the API server refuses the change when it
// does not.
func (o *Operator) resizeClaims(ctx context.Context, st *clusterState) error {
	claims := o.kube.CoreV1().PersistentVolumeClaims(o.ns)
	for inst := range st.pods {
		pvc, err := claims.Get(ctx, inst, metav1.GetOptions{})
		if err != nil {
			return err
		}
		have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if have.Cmp(st.size) >= 0 {
			continue
		}
		patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, st.size.String())
		if _, err := claims.Patch(ctx, inst, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
				continue // a fixed class: CNPG logs it and carries on
			}
			return err
		}
	}
	return nil
}

// reconcilePoolers keeps each Pooler of the cluster: its Deployment and
// Service (named after it), and the backend's PgBouncer in front of the
// primary, paused as spec.pgbouncer.paused says.
func (o *Operator) reconcilePoolers(ctx context.Context, st *clusterState) error {
	name := st.u.GetName()
	list, err := o.dyn.Resource(PoolersGVR).Namespace(o.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range list.Items {
		p := &list.Items[i]
		if c, _, _ := unstructured.NestedString(p.Object, "spec", "cluster", "name"); c != name || p.GetDeletionTimestamp() != nil {
			continue
		}
		seen[p.GetName()] = true
		if err := o.poolerObjects(ctx, p); err != nil {
			return err
		}
		paused, _, _ := unstructured.NestedBool(p.Object, "spec", "pgbouncer", "paused")
		state := name + "/" + st.current + "/" + strconv.FormatBool(paused)
		o.mu.Lock()
		same := o.poolers[p.GetName()] == state
		o.mu.Unlock()
		if same {
			continue
		}
		if err := o.backend.Pooler(ctx, o.ns, p.GetName(), name, st.current, paused); err != nil {
			return fmt.Errorf("pooler %s: %w", p.GetName(), err)
		}
		o.mu.Lock()
		o.poolers[p.GetName()] = state
		o.mu.Unlock()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for p, state := range o.poolers {
		if (state == "" || strings.HasPrefix(state, name+"/")) && !seen[p] {
			if err := o.backend.RemovePooler(ctx, o.ns, p); err != nil {
				return err
			}
			delete(o.poolers, p)
		}
	}
	return nil
}

func (o *Operator) poolerObjects(ctx context.Context, p *unstructured.Unstructured) error {
	n, ok, _ := unstructured.NestedInt64(p.Object, "spec", "instances")
	if !ok {
		n = 1
	}
	labels := map[string]string{cnpgPoolerName: p.GetName(), cnpgPodRole: "pooler"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: p.GetName(), Namespace: o.ns, Labels: labels, OwnerReferences: owner(p)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{cnpgPoolerName: p.GetName()}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "pgbouncer", Image: "ghcr.io/cloudnative-pg/pgbouncer:1.18.0",
					Ports: []corev1.ContainerPort{{Name: "pgbouncer", ContainerPort: 5432}},
				}}},
			},
		},
	}
	deps := o.kube.AppsV1().Deployments(o.ns)
	got, err := deps.Get(ctx, dep.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := deps.Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("pooler deployment %s: %w", dep.Name, err)
		}
	case err != nil:
		return err
	case got.Spec.Replicas == nil || *got.Spec.Replicas != int32(n):
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
		if _, err := deps.Patch(ctx, dep.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: p.GetName(), Namespace: o.ns, Labels: labels, OwnerReferences: owner(p)},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{cnpgPoolerName: p.GetName()}, Ports: []corev1.ServicePort{{Name: "pgbouncer", Port: 5432, TargetPort: intstr.FromInt32(5432)}}},
	}
	if _, err := o.kube.CoreV1().Services(o.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("pooler service %s: %w", svc.Name, err)
	}
	return nil
}

// reportStatus writes the counts and the phase: healthy when every
// instance's pod is ready and the primary's pod carries the role.
func (o *Operator) reportStatus(ctx context.Context, st *clusterState) error {
	ready, healthy, replicating := 0, []string{}, []string{}
	for _, p := range slices.Sorted(maps.Keys(st.pods)) {
		if podReady(st.pods[p]) {
			ready++
			healthy = append(healthy, p)
		} else {
			replicating = append(replicating, p)
		}
	}
	phase, reason := PhaseHealthy, ""
	switch {
	case len(st.pods) < st.instances:
		phase = phaseCreating
	case ready < len(st.pods):
		phase, reason = phaseWaitingReady, fmt.Sprintf("%d of %d instances ready", ready, len(st.pods))
	}
	status := map[string]any{
		"instances": int64(len(st.pods)), "readyInstances": int64(ready), "phase": phase, "phaseReason": reason,
		"instancesStatus": map[string]any{"healthy": healthy, "replicating": replicating},
	}
	cond := "True"
	if phase != PhaseHealthy {
		cond = "False"
	}
	status["conditions"] = []any{map[string]any{"type": "Ready", "status": cond, "reason": map[bool]string{true: "ClusterIsReady", false: "ClusterIsNotReady"}[cond == "True"],
		"message": phase, "lastTransitionTime": now()}}
	old, _, _ := unstructured.NestedMap(st.u.Object, "status")
	if same(old, status) {
		return nil
	}
	return o.patchStatus(ctx, st.u.GetName(), status)
}

// same reports whether old already holds every field of status (the
// conditions' transition time aside), so an unchanged reconcile writes
// nothing and does not wake every watcher.
func same(old, status map[string]any) bool {
	for k, v := range status {
		if k == "conditions" {
			oc, _ := old[k].([]any)
			nc := v.([]any)
			if len(oc) != 1 {
				return false
			}
			a, _ := oc[0].(map[string]any)
			b := nc[0].(map[string]any)
			if a["status"] != b["status"] || a["message"] != b["message"] {
				return false
			}
			continue
		}
		if fmt.Sprint(normalise(old[k])) != fmt.Sprint(normalise(v)) {
			return false
		}
	}
	return true
}

func normalise(v any) any {
	switch t := v.(type) {
	case []string:
		out := make([]any, len(t))
		for i, s := range t {
			out[i] = s
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = normalise(x)
		}
		return out
	}
	return v
}

func (o *Operator) patchStatus(ctx context.Context, name string, fields map[string]any) error {
	patch, err := json.Marshal(map[string]any{"status": fields})
	if err != nil {
		return err
	}
	_, err = o.dyn.Resource(ClustersGVR).Namespace(o.ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("status of %s: %w", name, err)
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	if p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
