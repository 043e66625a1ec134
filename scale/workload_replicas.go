package scale

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/quota"
)

// planWorkloadReplicas plans a count for a workload no release owns: no
// values, no render, one write through the scale subresource.
func (c *Client) planWorkloadReplicas(ctx context.Context, r Replicas) (*scaling.Plan, error) {
	ref := *r.Workload
	ref.Namespace = r.Namespace
	live, err := getWorkload(ctx, c.kube, ref)
	if err != nil {
		return nil, err
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpReplicas, Target: ref, CreatedAt: time.Now().UTC(),
		Summary:     fmt.Sprintf("Scale %s from %d to %d replicas through its scale subresource.", ref, live.Replicas, r.Replicas),
		Fingerprint: scaling.Fingerprint{live.fingerprintKey(): strconv.FormatInt(live.Generation, 10)},
		Diff:        fmt.Sprintf("%s spec.replicas:\n-  replicas: %d\n+  replicas: %d\n", ref, live.Replicas, r.Replicas),
	}
	tmpl, err := c.workloadObject(ctx, ref)
	if err != nil {
		return nil, err
	}
	limits, err := c.readLimits(ctx, r.Namespace)
	if err != nil {
		return nil, err
	}
	plan.Guards = append(plan.Guards, hpaGuard(limits.hpas, ref, r.Replicas),
		quotaGuard(r.Namespace, limits.quotas, r.Replicas-live.Replicas, quota.PodRequests(tmpl.template.Spec)),
		capacityGuard(r.Replicas, quota.PodRequests(tmpl.template.Spec), limits))
	if live.Replicas == r.Replicas {
		plan.NoOp, plan.Diff = true, ""
	} else {
		plan.Steps = []scaling.Step{{Action: actionScaleSubresource, Object: ref, Field: "spec.replicas",
			Before: strconv.Itoa(int(live.Replicas)), After: strconv.Itoa(int(r.Replicas)), Note: "what `kubectl scale` does"}}
	}
	plan.Spec, err = planspec.Encode(replicasSpec{Request: r, Workload: ref})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

func (c *Client) applyWorkloadReplicas(ctx context.Context, plan *scaling.Plan, spec *replicasSpec) (*scaling.Applied, error) {
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress}
	res, err := run.Apply(ctx, func(ctx context.Context, _ int, s scaling.Step) (bool, error) {
		return true, patchScale(ctx, c.kube, spec.Workload, spec.Request.Replicas)
	})
	if err != nil || !res.Changed {
		return res, err
	}
	res.Fingerprint = nil // the scale subresource's answer is not the workload's generation
	return res, nil
}
