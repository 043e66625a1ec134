package helmwrite

import (
	"context"
	"slices"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/opkit"
)

// ActionUpgrade is the Action of the step that makes a plan's upgrade.
const ActionUpgrade = "helm upgrade"

// Extra is a step of a plan that runs besides the upgrade: each step whose
// Action is Action runs Run after the upgrade step before it (scale's
// count through the scale subresource, for a chart that leaves it to an
// HPA).
type Extra struct {
	Action string
	Run    func(ctx context.Context) error
}

// ApplyPlan runs the steps of a derived plan whose one write is w, in
// Planned mode (the kit has checked the plan against the stored one and
// live state): its first ActionUpgrade step makes the upgrade, the extras'
// steps run theirs, and every other step shows what the upgrade does
// (a rollout, the operator's response) and is not run. Applied.Fingerprint
// is the release's new revision. It is the one shape of every operation
// whose change is one upgrade of a release's values (scale, postgres,
// tenants).
func (w Write) ApplyPlan(ctx context.Context, releases scaling.Releases, plan *scaling.Plan, progress scaling.Progress, extras ...Extra) (*scaling.Applied, error) {
	w.Mode = Planned
	first := slices.IndexFunc(plan.Steps, func(s scaling.Step) bool { return s.Action == ActionUpgrade })
	extra := func(s scaling.Step) *Extra {
		for i := range extras {
			if extras[i].Action == s.Action {
				return &extras[i]
			}
		}
		return nil
	}
	run := opkit.Run{Plan: plan, Progress: progress, Acts: func(i int, s scaling.Step) bool { return i == first || extra(s) != nil }}
	var upgraded *scaling.Release
	res, err := run.Apply(ctx, func(ctx context.Context, _ int, s scaling.Step) (bool, error) {
		if e := extra(s); e != nil {
			return true, e.Run(ctx)
		}
		up, did, err := w.Do(ctx, releases)
		upgraded = up
		return did, err
	})
	if err != nil || upgraded == nil {
		return res, err
	}
	res.Fingerprint = scaling.Fingerprint{helmplan.FingerprintKey(w.Namespace, w.Release): helmplan.Revision(upgraded.Revision)}
	return res, nil
}
