package scale

import (
	"context"
	"fmt"
	"slices"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/helmwrite"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/values"
)

// upgrade is the shared Apply of the operations that change a release's
// values, in the shared order (opkit): already holds, stale, write, with
// the plan's complete values (helmwrite.Planned). live is
// the fingerprint the caller read just now; holds says whether the rest of
// the target state (beyond the values) is in place. The first "helm
// upgrade" step makes the one upgrade (the others are values it carries),
// and a "scale subresource" step sets the count the chart leaves to an
// HPA; the other steps show what the upgrade does.
func (c *Client) upgrade(ctx context.Context, plan *scaling.Plan, rel *scaling.Release, revision int, src scaling.ChartSource, vals map[string]any, live scaling.Fingerprint, holds bool, workload scaling.ObjectRef, replicas int32) (*scaling.Applied, error) {
	same, err := values.Equal(rel.Values, vals)
	if err != nil {
		return nil, err
	}
	first := slices.IndexFunc(plan.Steps, func(s scaling.Step) bool { return s.Action == "helm upgrade" })
	run := opkit.Run{Plan: plan, Live: live, Progress: c.opts.Progress, Acts: func(i int, s scaling.Step) bool {
		return i == first || s.Action == actionScaleSubresource
	}}
	if same && rel.Status == "deployed" && holds && !helmplan.ChartPending(plan, rel) {
		run.Holds = fmt.Sprintf("release %s/%s revision %d already carries these values", rel.Namespace, rel.Name, rel.Revision)
	}
	var upgraded *scaling.Release
	res, err := run.Apply(ctx, func(ctx context.Context, _ int, s scaling.Step) (bool, error) {
		if s.Action == actionScaleSubresource {
			return true, patchScale(ctx, c.kube, workload, replicas)
		}
		up, did, err := helmwrite.Write{Mode: helmwrite.Planned, Namespace: rel.Namespace, Release: rel.Name, Source: src, Revision: revision, Values: vals}.Do(ctx, c.releases)
		upgraded = up
		return did, err
	})
	if err != nil || upgraded == nil {
		return res, err
	}
	res.Fingerprint[helmplan.FingerprintKey(rel.Namespace, rel.Name)] = helmplan.Revision(upgraded.Revision)
	return res, nil
}

// actionScaleSubresource is the step that writes a count through the scale
// subresource, as `kubectl scale` does.
const actionScaleSubresource = "scale subresource"
