package scale

import (
	"context"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmwrite"
)

// upgrade runs a derived plan that changes a release's values (the kit has
// checked it against the stored plan and live state): its one upgrade
// sends the plan's complete values (helmwrite.Planned), and a "scale
// subresource" step sets the count the chart leaves to an HPA; the other
// steps show what the upgrade does.
func (c *Client) upgrade(ctx context.Context, plan *scaling.Plan, namespace, release string, revision int, src scaling.ChartSource, vals map[string]any, workload scaling.ObjectRef, replicas int32) (*scaling.Applied, error) {
	w := helmwrite.Write{Namespace: namespace, Release: release, Source: src, Revision: revision, Values: vals}
	return w.ApplyPlan(ctx, c.releases, plan, c.opts.Progress, helmwrite.Extra{Action: actionScaleSubresource, Run: func(ctx context.Context) error {
		return patchScale(ctx, c.kube, workload, replicas)
	}})
}

// actionScaleSubresource is the step that writes a count through the scale
// subresource, as `kubectl scale` does.
const actionScaleSubresource = "scale subresource"
