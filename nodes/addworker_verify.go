package nodes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/await"
	"github.com/ironflow/scaling/internal/verify"
)

// verifyAddWorker watches the pool's nodes and the pending pods until the
// added nodes are registered and Ready and the pods that pended when
// planned are scheduled.
func (c *Client) verifyAddWorker(ctx context.Context, plan *scaling.Plan, spec *addSpec) (*scaling.Verification, error) {
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	req := spec.Request
	nodes := c.kube.CoreV1().Nodes()
	pods := c.kube.CoreV1().Pods(req.PendingNamespace)
	sources := []await.Source{
		await.Typed(c.kube, "pool nodes", &corev1.Node{}, nodes.List, nodes.Watch, metav1.ListOptions{LabelSelector: req.NodeSelector}),
		// Only unscheduled pods: a pod the scheduler binds leaves the
		// watch, so the store holds exactly what still pends.
		await.Typed(c.kube, "pending pods", &corev1.Pod{}, pods.List, pods.Watch, metav1.ListOptions{LabelSelector: req.PendingSelector, FieldSelector: "spec.nodeName="}),
	}
	nodeSel, _ := labels.Parse(req.NodeSelector)
	added := max(req.Count-spec.Current, 0)
	wantNodes := len(spec.PoolBefore) + added
	emitter := verify.NewEmitter(c.opts.Progress, plan.Operation)
	err := await.Until(ctx, sources, func(s await.Stores) (bool, error) {
		now := time.Now()
		var all, fresh, notReady []string
		for _, n := range await.List[*corev1.Node](s[0]) {
			if !nodeSel.Matches(labels.Set(n.Labels)) {
				continue
			}
			all = append(all, n.Name)
			if slices.Contains(spec.PoolBefore, n.Name) {
				continue
			}
			fresh = append(fresh, n.Name)
			if !nodeReady(n) {
				notReady = append(notReady, n.Name+" ("+readyReason(n)+")")
			}
		}
		slices.Sort(fresh)
		slices.Sort(notReady)
		var still []string
		pending := map[string]*corev1.Pod{}
		for _, p := range await.List[*corev1.Pod](s[1]) {
			if unscheduled(p) {
				pending[key(p.Namespace, p.Name)] = p
			}
		}
		var details []string
		for _, k := range spec.Pending {
			if p, ok := pending[k]; ok {
				still = append(still, k)
				details = append(details, k+": "+schedulingMessage(p))
			}
		}
		v.Checks = []scaling.Check{
			{Name: "nodes-registered", Expected: fmt.Sprintf("%d node(s) in the pool, %d new", wantNodes, added),
				Observed: fmt.Sprintf("%d node(s), new: %s", len(all), orNone(strings.Join(fresh, ", "))),
				Passed:   len(all) >= wantNodes && len(fresh) >= added, ObservedAt: now},
			{Name: "nodes-ready", Expected: "every new node Ready", Observed: readyObserved(fresh, notReady),
				Passed: len(fresh) >= added && len(notReady) == 0, ObservedAt: now},
			{Name: "pending-pods-scheduled", Expected: fmt.Sprintf("the %d pod(s) pending when planned are scheduled", len(spec.Pending)),
				Observed: fmt.Sprintf("%d still pending", len(still)), Detail: strings.Join(details, "; "),
				Passed: len(still) == 0, ObservedAt: now},
		}
		emitter.Emit(v.Checks)
		return verify.Passed(v.Checks), nil
	})
	return verify.Conclude(ctx, v, err, "", "deadline passed before the new workers were Ready and the pending pods scheduled"), nil
}

func readyObserved(fresh, notReady []string) string {
	if len(fresh) == 0 {
		return "no new node yet"
	}
	if len(notReady) == 0 {
		return "all Ready: " + strings.Join(fresh, ", ")
	}
	return "not Ready: " + strings.Join(notReady, ", ")
}

func nodeReady(n *corev1.Node) bool {
	c, ok := readyCondition(n)
	return ok && c.Status == corev1.ConditionTrue
}

// readyReason says why a node is not Ready: a node that registered but
// has not reported (a Talos node still bootstrapping) has no condition.
func readyReason(n *corev1.Node) string {
	c, ok := readyCondition(n)
	switch {
	case !ok:
		return "no Ready condition yet"
	case c.Reason != "":
		return string(c.Status) + ": " + c.Reason
	}
	return string(c.Status)
}

func readyCondition(n *corev1.Node) (corev1.NodeCondition, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c, true
		}
	}
	return corev1.NodeCondition{}, false
}

// schedulingMessage is the scheduler's word on a pending pod.
func schedulingMessage(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			if c.Message != "" {
				return c.Message
			}
			return c.Reason
		}
	}
	return "not yet seen by the scheduler"
}
