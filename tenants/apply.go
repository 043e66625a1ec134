package tenants

import (
	"context"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmwrite"
)

// upgrade runs a derived plan that changes a tenant release's values (the
// kit has checked it against the stored plan and live state): its one
// upgrade sends the plan's complete values from the revision it read
// (helmwrite.Planned); the other steps show what the upgrade does.
func (c *Client) upgrade(ctx context.Context, plan *scaling.Plan, namespace, release string, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Applied, error) {
	w := helmwrite.Write{Namespace: namespace, Release: release, Source: src, Revision: revision, Values: vals}
	return w.ApplyPlan(ctx, c.releases, plan, c.opts.Progress)
}
