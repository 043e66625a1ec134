package scale

import (
	"context"
	"fmt"
	"time"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/values"
)

// upgrade is the shared Apply of the operations that change a release's
// values. live is the fingerprint the caller read just now, holds whether the
// rest of the target state (beyond the values) is in place.
//
// Order matters: "already holds" is checked before staleness, because
// applying a plan makes its own fingerprint stale; a re-applied plan must
// come back unchanged, not refused.
func (c *Client) upgrade(ctx context.Context, plan *scaling.Plan, rel *scaling.Release, revision int, src scaling.ChartSource, vals map[string]any, live scaling.Fingerprint, holds bool) (*scaling.Applied, error) {
	res := &scaling.Applied{Operation: plan.Operation, Target: plan.Target, Started: time.Now(), Fingerprint: live}
	done := func(reason string) (*scaling.Applied, error) {
		res.Reason, res.Finished = reason, time.Now()
		return res, nil
	}
	same, err := values.Equal(rel.Values, vals)
	if err != nil {
		return nil, err
	}
	if same && rel.Status == "deployed" && holds && !helmplan.ChartPending(plan, rel) {
		return done(fmt.Sprintf("release %s/%s revision %d already carries these values", rel.Namespace, rel.Name, rel.Revision))
	}
	planned := scaling.Fingerprint{}
	for k := range plan.Fingerprint {
		planned[k] = live[k]
	}
	if drift := plan.Fingerprint.Compare(planned); len(drift) > 0 {
		return nil, &scaling.StalePlanError{Operation: plan.Operation, Drift: drift}
	}
	if len(plan.Steps) == 0 {
		return done("the plan has no steps")
	}
	step := plan.Steps[0]
	c.opts.Progress.Emit(scaling.Event{Kind: scaling.StepStarted, Operation: plan.Operation, Step: &step})
	up, err := c.releases.Upgrade(ctx, rel.Namespace, rel.Name, revision, src, vals)
	c.opts.Progress.Emit(scaling.Event{Kind: scaling.StepFinished, Operation: plan.Operation, Step: &step, Err: err})
	if err != nil {
		return nil, err
	}
	res.Changed = true
	res.Fingerprint[helmplan.FingerprintKey(rel.Namespace, rel.Name)] = helmplan.Revision(up.Revision)
	res.Finished = time.Now()
	return res, nil
}
