// Package helmwrite is how every operation writes a Helm release: one
// upgrade, with the values chosen by one of two named modes. Both are
// `helm upgrade RELEASE CHART` with the chart from the plan's source; they
// differ in which user values they send, and each is right for its kind of
// operation:
//
//   - Planned sends exactly the complete user values the plan computed and
//     showed, from the revision the plan read. It is for an operation whose
//     one upgrade is the change (scale's Replicas, Autoscale, Template): what
//     was approved is byte for byte what is written. A newer revision than
//     the plan's means someone else changed the release; the caller's
//     fingerprint has already refused that plan as stale before this runs.
//   - Reapply re-reads the newest revision at each write and sets only the
//     plan's paths on top of its user values, as `helm upgrade
//     --reuse-values --set PATH=VALUE` does. It is for a multi-step
//     operation (nats's ScaleCluster, ExpandStorage) whose steps each
//     upgrade: the revision a step starts from is the previous step's, newer
//     than the plan's by design, and a value the plan does not name is
//     never reset to what it was when the plan was made.
package helmwrite

import (
	"context"
	"fmt"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/values"
)

// Mode names which user values an upgrade sends.
type Mode int

const (
	// Planned sends the plan's complete values from the plan's revision.
	Planned Mode = iota + 1
	// Reapply sends the newest revision's values with the plan's sets.
	Reapply
)

func (m Mode) String() string {
	switch m {
	case Planned:
		return "planned values"
	case Reapply:
		return "reapply sets on the newest revision"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Write is one upgrade of one release.
type Write struct {
	Mode      Mode
	Namespace string
	Release   string
	// Source is where the chart comes from (the request's or the client's).
	Source scaling.ChartSource

	// Revision and Values are Planned's: the revision the plan read and the
	// complete user values it showed.
	Revision int
	Values   map[string]any

	// Sets are Reapply's: the paths the plan changes.
	Sets []helmplan.Set
	// Force upgrades in Reapply mode even when the values and the release's
	// status say nothing would change: an upgrade also recreates an object
	// of the release that is missing (a StatefulSet deleted with orphan
	// propagation to change its volume claim template).
	Force bool
}

// Do performs the write. It returns the release as it stands afterwards
// and whether an upgrade was made. Planned always upgrades (whether its
// target state already holds is the caller's decision, made before any
// write); Reapply upgrades only when its sets change the newest revision's
// values, the revision is not deployed, or Force is set. A release in a
// pending state is a *scaling.ReleasePendingError and is not written.
func (w Write) Do(ctx context.Context, releases scaling.Releases) (*scaling.Release, bool, error) {
	switch w.Mode {
	case Planned:
		rel, err := releases.Upgrade(ctx, w.Namespace, w.Release, w.Revision, w.Source, w.Values)
		if err != nil {
			return nil, false, err
		}
		return rel, true, nil
	case Reapply:
		rel, err := helmplan.Last(ctx, releases, w.Namespace, w.Release)
		if err != nil {
			return nil, false, err
		}
		vals := values.Copy(rel.Values)
		for _, s := range w.Sets {
			if err := values.Set(vals, s.Path, s.Value); err != nil {
				return nil, false, err
			}
		}
		same, err := values.Equal(rel.Values, vals)
		if err != nil {
			return nil, false, err
		}
		if same && rel.Status == "deployed" && !w.Force {
			return rel, false, nil
		}
		up, err := releases.Upgrade(ctx, w.Namespace, w.Release, rel.Revision, w.Source, vals)
		if err != nil {
			return nil, false, err
		}
		return up, true, nil
	}
	return nil, false, &scaling.InvalidInputError{Field: "helmwrite.Mode", Value: w.Mode, Reason: "must be Planned or Reapply"}
}
