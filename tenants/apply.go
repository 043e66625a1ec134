package tenants

import (
	"context"
	"slices"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/helmwrite"
	"github.com/ironflow/scaling/internal/opkit"
)

// upgrade runs the steps of a derived plan that changes a tenant release's
// values (the kit has checked it against the stored plan and live state):
// the first "helm upgrade" step makes the one upgrade, with the plan's
// complete values from the revision it read (helmwrite.Planned); the other
// steps show what the upgrade does and are not run. The same shape as
// scale's and postgres's upgrade.
func (c *Client) upgrade(ctx context.Context, plan *scaling.Plan, namespace, release string, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Applied, error) {
	first := slices.IndexFunc(plan.Steps, func(s scaling.Step) bool { return s.Action == "helm upgrade" })
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress, Acts: func(i int, _ scaling.Step) bool { return i == first }}
	var upgraded *scaling.Release
	res, err := run.Apply(ctx, func(ctx context.Context, _ int, _ scaling.Step) (bool, error) {
		up, did, err := helmwrite.Write{Mode: helmwrite.Planned, Namespace: namespace, Release: release, Source: src, Revision: revision, Values: vals}.Do(ctx, c.releases)
		upgraded = up
		return did, err
	})
	if err != nil || upgraded == nil {
		return res, err
	}
	res.Fingerprint = scaling.Fingerprint{helmplan.FingerprintKey(namespace, release): helmplan.Revision(upgraded.Revision)}
	return res, nil
}
