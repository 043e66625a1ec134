package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	podstate "github.com/ironflow/scaling/internal/pods"
	"github.com/ironflow/scaling/internal/verify"
)

// workload is the live state of a Deployment or StatefulSet that Plan,
// Apply and Verify need, read the same way for both kinds.
type workload struct {
	Ref        scaling.ObjectRef
	Generation int64
	Replicas   int32
	Selector   labels.Selector
}

func (w workload) fingerprintKey() string {
	return scaling.FingerprintKey(w.Ref, scaling.AspectGeneration)
}

func getWorkload(ctx context.Context, kube kubernetes.Interface, ref scaling.ObjectRef) (*workload, error) {
	var (
		meta     metav1.ObjectMeta
		replicas *int32
		sel      *metav1.LabelSelector
		err      error
	)
	switch ref.Kind {
	case "Deployment":
		var d *appsv1.Deployment
		if d, err = kube.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			meta, replicas, sel = d.ObjectMeta, d.Spec.Replicas, d.Spec.Selector
		}
	case "StatefulSet":
		var s *appsv1.StatefulSet
		if s, err = kube.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			meta, replicas, sel = s.ObjectMeta, s.Spec.Replicas, s.Spec.Selector
		}
	default:
		return nil, &scaling.InvalidInputError{Field: "workload kind", Value: ref.Kind, Reason: "only Deployment and StatefulSet are scaled"}
	}
	if apierrors.IsNotFound(err) {
		return nil, &scaling.NotFoundError{Object: ref}
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("%s has an invalid selector: %w", ref, err)
	}
	w := &workload{Ref: ref, Generation: meta.Generation, Replicas: 1, Selector: selector}
	if replicas != nil {
		w.Replicas = *replicas
	}
	return w, nil
}

// rollout is what Verify observes of a workload and its pods.
type rollout struct {
	specReplicas       int32
	generation         int64
	observedGeneration int64
	// replicasManager is the field manager that last wrote spec.replicas.
	replicasManager string
	ready, current  int32 // pods of the current revision: Ready, and all not terminating
	others          int32 // pods of older revisions still running
	pending         []string
}

// readyPodRevision returns the label that marks a pod as belonging to the
// workload's current revision, or "" when it is not known yet.
func currentRevisionLabel(obj any, rsets []*appsv1.ReplicaSet) (key, value string) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		rev := w.Annotations["deployment.kubernetes.io/revision"]
		for _, rs := range rsets {
			if metav1.IsControlledBy(rs, w) && rs.Annotations["deployment.kubernetes.io/revision"] == rev {
				return appsv1.DefaultDeploymentUniqueLabelKey, rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
			}
		}
	case *appsv1.StatefulSet:
		if w.Status.UpdateRevision != "" {
			return appsv1.ControllerRevisionHashLabelKey, w.Status.UpdateRevision
		}
	}
	return "", ""
}

func observeRollout(obj any, pods []*corev1.Pod, rsets []*appsv1.ReplicaSet) rollout {
	var r rollout
	var meta metav1.ObjectMeta
	switch w := obj.(type) {
	case *appsv1.Deployment:
		meta, r.observedGeneration = w.ObjectMeta, w.Status.ObservedGeneration
		r.specReplicas = deref(w.Spec.Replicas)
	case *appsv1.StatefulSet:
		meta, r.observedGeneration = w.ObjectMeta, w.Status.ObservedGeneration
		r.specReplicas = deref(w.Spec.Replicas)
	}
	r.generation = meta.Generation
	r.replicasManager = replicasManager(meta.ManagedFields)
	key, rev := currentRevisionLabel(obj, rsets)
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if key == "" || p.Labels[key] != rev {
			r.others++
			continue
		}
		r.current++
		if podstate.Ready(p) {
			r.ready++
		} else if reason := unscheduled(p); reason != "" {
			r.pending = append(r.pending, p.Name+": "+reason)
		}
	}
	sort.Strings(r.pending)
	return r
}

func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// unscheduled returns the scheduler's reason for a pod it could not place
// ("Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.").
func unscheduled(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return ""
}

// replicasManager finds which field manager owns spec.replicas: the HPA
// controller, kubectl, helm. It is the evidence an Overridden phase names.
func replicasManager(fields []metav1.ManagedFieldsEntry) string {
	var (
		name string
		at   metav1.Time
	)
	for _, f := range fields {
		if f.FieldsV1 == nil {
			continue
		}
		var tree map[string]any
		if json.Unmarshal(f.FieldsV1.Raw, &tree) != nil {
			continue
		}
		spec, _ := tree["f:spec"].(map[string]any)
		if _, ok := spec["f:replicas"]; !ok {
			continue
		}
		if f.Time == nil || name == "" || at.Before(f.Time) {
			name = f.Manager
			if f.Subresource != "" {
				name += " (" + f.Subresource + ")"
			}
			if f.Time != nil {
				at = *f.Time
			}
		}
	}
	return name
}

// workloadSources are the watches Verify needs for a workload: the object
// itself, its pods and, for a Deployment, its ReplicaSets (which tell the
// current pod-template-hash).
func workloadSources(kube kubernetes.Interface, w *workload) []await.Source {
	ns := w.Ref.Namespace
	pods := kube.CoreV1().Pods(ns)
	sel := metav1.ListOptions{LabelSelector: w.Selector.String()}
	switch w.Ref.Kind {
	case "Deployment":
		d, rs := kube.AppsV1().Deployments(ns), kube.AppsV1().ReplicaSets(ns)
		return []await.Source{
			await.Typed(kube, "deployment", &appsv1.Deployment{}, d.List, d.Watch, await.ByName(w.Ref.Name)),
			await.Typed(kube, "pods", &corev1.Pod{}, pods.List, pods.Watch, sel),
			await.Typed(kube, "replicasets", &appsv1.ReplicaSet{}, rs.List, rs.Watch, sel),
		}
	default:
		s := kube.AppsV1().StatefulSets(ns)
		return []await.Source{
			await.Typed(kube, "statefulset", &appsv1.StatefulSet{}, s.List, s.Watch, await.ByName(w.Ref.Name)),
			await.Typed(kube, "pods", &corev1.Pod{}, pods.List, pods.Watch, sel),
		}
	}
}

// fromStores reads the workload and its pods out of workloadSources' stores.
func fromStores(s await.Stores, ref scaling.ObjectRef) (obj any, pods []*corev1.Pod, rsets []*appsv1.ReplicaSet) {
	for _, o := range s[0].List() {
		if m, err := metaOf(o); err == nil && m.GetName() == ref.Name {
			obj = o
		}
	}
	pods = await.List[*corev1.Pod](s[1])
	if len(s) > 2 {
		rsets = await.List[*appsv1.ReplicaSet](s[2])
	}
	return obj, pods, rsets
}

func metaOf(o any) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", o)
	}
	return m, nil
}

// patchScale sets spec.replicas through the scale subresource, the way
// `kubectl scale` does; it touches nothing else of the workload.
func patchScale(ctx context.Context, kube kubernetes.Interface, ref scaling.ObjectRef, replicas int32) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	var err error
	switch ref.Kind {
	case "Deployment":
		_, err = kube.AppsV1().Deployments(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
	case "StatefulSet":
		_, err = kube.AppsV1().StatefulSets(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
	default:
		return &scaling.InvalidInputError{Field: "workload kind", Value: ref.Kind, Reason: "only Deployment and StatefulSet are scaled"}
	}
	if err != nil {
		return fmt.Errorf("scaling %s to %d: %w", ref, replicas, err)
	}
	return nil
}

// observation is one evaluation of a watched workload.
type observation struct {
	obj  any // *appsv1.Deployment or *appsv1.StatefulSet
	pods []*corev1.Pod
	ro   rollout
	// extra are the stores of the extra sources, in the order given.
	extra await.Stores
}

// verdict is what a Verify makes of an observation.
type verdict struct {
	checks []scaling.Check
	// overridden, when set, ends the watch with phase Overridden.
	overridden string
}

// watchWorkload is the watch every workload Verify runs: the workload, its
// pods (and ReplicaSets), plus extra sources; judge turns each observation
// into checks; the watch ends when all pass, something overrides the plan,
// the workload goes, or ctx ends.
func (c *Client) watchWorkload(ctx context.Context, plan *scaling.Plan, v *scaling.Verification, ref scaling.ObjectRef, extra []await.Source, judge func(observation) verdict, timedOut string) (*scaling.Verification, error) {
	w, err := getWorkload(ctx, c.kube, ref)
	if err != nil {
		return nil, err
	}
	own := workloadSources(c.kube, w)
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	var overridden string
	err = await.Until(ctx, append(own, extra...), func(s await.Stores) (bool, error) {
		obj, pods, rsets := fromStores(s[:len(own)], ref)
		if obj == nil {
			return false, &scaling.NotFoundError{Object: ref, Detail: "deleted while verifying"}
		}
		vd := judge(observation{obj: obj, pods: pods, ro: observeRollout(obj, pods, rsets), extra: s[len(own):]})
		v.Checks = vd.checks
		emitter.Emit(v.Checks)
		if vd.overridden != "" {
			overridden = vd.overridden
			return true, nil
		}
		return verify.Passed(v.Checks), nil
	})
	return verify.Conclude(ctx, v, err, overridden, timedOut), nil
}
