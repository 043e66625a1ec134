package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
)

// OpRolloutRestart is the Plan.Operation of RolloutRestart plans.
const OpRolloutRestart = "scale.RolloutRestart"

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout
// restart` sets; a new value rolls every pod.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// RolloutRestart replaces every pod of a workload, the runbook's way to
// rebalance after adding nodes: running pods never move by themselves, new
// ones are scheduled onto the new capacity.
type RolloutRestart struct {
	// Workload is a Deployment or StatefulSet.
	Workload scaling.ObjectRef `json:"workload"`
}

type restartSpec struct {
	Request     RolloutRestart    `json:"request"`
	Workload    scaling.ObjectRef `json:"workload"`
	RestartedAt string            `json:"restartedAt"`
	Replicas    int32             `json:"replicas"`
	// SpreadBefore counts the workload's pods per node when planned.
	SpreadBefore map[string]int `json:"spreadBefore"`
	// Causes are the blocking guards' typed errors.
	Causes opkit.Causes `json:"causes,omitempty"`
}

// PlanRolloutRestart reads the workload, its pods and the
// PodDisruptionBudgets that cover them. The restart time is fixed in the
// plan, so applying the plan twice restarts once.
func (c *Client) PlanRolloutRestart(ctx context.Context, r RolloutRestart) (*scaling.Plan, error) {
	return c.planRestart(ctx, r, time.Now().UTC().Format(time.RFC3339Nano), nil)
}

// deriveRestart plans a stored restart again with its own restart time and
// the spread it showed (pods move between nodes without anything a person
// approved changing): a template that carries that time already is a no-op.
func (c *Client) deriveRestart(ctx context.Context, spec *restartSpec) (*scaling.Plan, *restartSpec, error) {
	r := spec.Request
	if r.Workload == (scaling.ObjectRef{}) {
		r.Workload = spec.Workload // a plan stored before the request was
	}
	return opkit.Decoded[restartSpec](c.planRestart(ctx, r, spec.RestartedAt, spec.SpreadBefore))
}

// planRestart plans a restart at restartedAt; spread nil reads the pods'.
func (c *Client) planRestart(ctx context.Context, r RolloutRestart, restartedAt string, spread map[string]int) (*scaling.Plan, error) {
	if r.Workload.Namespace == "" || r.Workload.Name == "" {
		return nil, &scaling.InvalidInputError{Field: "RolloutRestart.Workload", Value: r.Workload, Reason: "namespace and name are required"}
	}
	w, err := getWorkload(ctx, c.kube, r.Workload)
	if err != nil {
		return nil, err
	}
	if spread == nil {
		pods, err := c.kube.CoreV1().Pods(r.Workload.Namespace).List(ctx, metav1.ListOptions{LabelSelector: w.Selector.String()})
		if err != nil {
			return nil, fmt.Errorf("listing pods of %s: %w", r.Workload, err)
		}
		spread = spreadOf(pods.Items)
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpRolloutRestart, Target: r.Workload, CreatedAt: time.Now().UTC(),
		Summary:     fmt.Sprintf("Replace the %d pods of %s (now on %s).", w.Replicas, r.Workload, spreadString(spread)),
		Fingerprint: scaling.Fingerprint{w.fingerprintKey(): strconv.FormatInt(w.Generation, 10)},
		Steps: []scaling.Step{{Action: "patch pod template", Object: r.Workload, Field: "spec.template.metadata.annotations." + RestartedAtAnnotation,
			After: restartedAt, Note: "what `kubectl rollout restart` does: the controller replaces pods at its rolling-update pace"}},
	}
	pdb, err := c.pdbGuard(ctx, r.Workload, w)
	if err != nil {
		return nil, err
	}
	plan.Guards = append(plan.Guards, pdb)
	causes, err := opkit.CausesOf(plan.Guards)
	if err != nil {
		return nil, err
	}
	obj, err := c.workloadObject(ctx, r.Workload)
	if err != nil {
		return nil, err
	}
	if obj.restartedAt == restartedAt {
		plan.NoOp, plan.Steps = true, nil // this restart was applied
	}
	plan.Spec, err = planspec.Encode(restartSpec{Request: r, Workload: r.Workload, RestartedAt: restartedAt, Replicas: w.Replicas, SpreadBefore: spread, Causes: causes})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// pdbGuard: a rolling update does not go through the eviction API, so a
// PodDisruptionBudget does not stop it; the guard does. It blocks when a
// covering PDB allows no disruption now (pods already unhealthy) and warns
// when the rollout may take down more pods at once than the PDB allows.
func (c *Client) pdbGuard(ctx context.Context, ref scaling.ObjectRef, w *workload) (scaling.GuardResult, error) {
	g := scaling.GuardResult{Name: GuardPDB, Outcome: scaling.Pass, Reason: "no PodDisruptionBudget covers the pods"}
	obj, err := c.workloadObject(ctx, ref)
	if err != nil {
		return g, err
	}
	podLabels, unavailable := labels.Set(obj.template.Labels), obj.maxUnavailable
	list, err := c.kube.PolicyV1().PodDisruptionBudgets(ref.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return g, fmt.Errorf("listing PodDisruptionBudgets in %s: %w", ref.Namespace, err)
	}
	for _, p := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(podLabels) {
			continue
		}
		allowed := p.Status.DisruptionsAllowed
		switch {
		case allowed < 1:
			g.Outcome, g.Cause = scaling.Block, &PDBError{PDB: p.Name, Healthy: p.Status.CurrentHealthy, DesiredHealth: p.Status.DesiredHealthy}
			g.Reason = fmt.Sprintf("PodDisruptionBudget %s allows no disruption now (%d healthy, %d desired)", p.Name, p.Status.CurrentHealthy, p.Status.DesiredHealthy)
			g.Remedy = "wait until the pods are healthy again, then plan again"
			return g, nil
		case unavailable > allowed:
			g.Outcome = scaling.Warn
			g.Reason = fmt.Sprintf("the rollout may take %d pods down at once, PodDisruptionBudget %s allows %d", unavailable, p.Name, allowed)
			g.Remedy = "lower the workload's maxUnavailable to respect the budget"
		default:
			g.Reason = fmt.Sprintf("PodDisruptionBudget %s allows %d disruption(s); the rollout takes at most %d pod(s) down at once", p.Name, allowed, unavailable)
		}
	}
	return g, nil
}

type workloadTemplate struct {
	template       corev1.PodTemplateSpec
	maxUnavailable int32
	restartedAt    string
}

func (c *Client) workloadObject(ctx context.Context, ref scaling.ObjectRef) (*workloadTemplate, error) {
	switch ref.Kind {
	case "Deployment":
		d, err := c.kube.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		mu := int32(0)
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			v := intstr.FromString("25%")
			if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
				v = *ru.MaxUnavailable
			}
			n, _ := intstr.GetScaledValueFromIntOrPercent(&v, int(deref(d.Spec.Replicas)), false)
			mu = int32(n)
		} else {
			mu = deref(d.Spec.Replicas)
		}
		return &workloadTemplate{template: d.Spec.Template, maxUnavailable: mu, restartedAt: d.Spec.Template.Annotations[RestartedAtAnnotation]}, nil
	default:
		s, err := c.kube.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		// StatefulSets replace one pod at a time by default.
		return &workloadTemplate{template: s.Spec.Template, maxUnavailable: 1, restartedAt: s.Spec.Template.Annotations[RestartedAtAnnotation]}, nil
	}
}

func (c *Client) applyRestart(ctx context.Context, plan *scaling.Plan, spec *restartSpec) (*scaling.Applied, error) {
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]string{RestartedAtAnnotation: spec.RestartedAt}}}}})
	if err != nil {
		return nil, err
	}
	return run.Apply(ctx, func(ctx context.Context, _ int, _ scaling.Step) (bool, error) {
		var err error
		switch spec.Workload.Kind {
		case "Deployment":
			_, err = c.kube.AppsV1().Deployments(spec.Workload.Namespace).Patch(ctx, spec.Workload.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		default:
			_, err = c.kube.AppsV1().StatefulSets(spec.Workload.Namespace).Patch(ctx, spec.Workload.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil {
			return false, fmt.Errorf("restarting %s: %w", spec.Workload, err)
		}
		return true, nil
	})
}

// verifyRestart waits until every pod runs the restarted template, Ready,
// and reports the spread over nodes before and after.
func (c *Client) verifyRestart(ctx context.Context, plan *scaling.Plan, spec *restartSpec) (*scaling.Verification, error) {
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	return c.watchWorkload(ctx, plan, v, spec.Workload, nil, func(o observation) verdict {
		ro, now := o.ro, time.Now()
		var template map[string]string
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			template = w.Spec.Template.Annotations
		case *appsv1.StatefulSet:
			template = w.Spec.Template.Annotations
		}
		live := template[RestartedAtAnnotation]
		var current []corev1.Pod
		for _, p := range o.pods {
			if p.DeletionTimestamp == nil && p.Annotations[RestartedAtAnnotation] == spec.RestartedAt {
				current = append(current, *p)
			}
		}
		want := ro.specReplicas
		vd := verdict{checks: []scaling.Check{
			{Name: "template-restarted", Expected: spec.RestartedAt, Observed: live, Passed: live == spec.RestartedAt, ObservedAt: now},
			{Name: "pods-replaced", Expected: fmt.Sprintf("%d Ready pods of the restarted template, none older", want), Observed: fmt.Sprintf("%d Ready of %d, %d older", ro.ready, ro.current, ro.others),
				Passed: ro.ready == want && ro.current == want && ro.others == 0 && ro.observedGeneration >= ro.generation && int32(len(current)) == want, Detail: pendingDetail(ro.pending), ObservedAt: now},
			{Name: "spread", Expected: "pods over the nodes", Observed: spreadString(spreadOf(current)), Passed: true,
				Detail: "before: " + spreadString(spec.SpreadBefore), ObservedAt: now},
		}}
		if live != spec.RestartedAt && live != "" {
			vd.overridden = "the pod template carries restartedAt " + live + ", not this plan's " + spec.RestartedAt
		}
		return vd
	}, "deadline passed before every pod was replaced")
}

func spreadOf(pods []corev1.Pod) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			node = "(unscheduled)"
		}
		out[node]++
	}
	return out
}

func spreadString(m map[string]int) string {
	if len(m) == 0 {
		return "no pods"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
