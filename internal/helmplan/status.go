package helmplan

import (
	"fmt"

	"github.com/ironflow/scaling"
)

// GuardReleaseStatus is the name of StatusGuard's guard in every package.
const GuardReleaseStatus = "release-status"

// StatusGuard warns about an upgrade on top of a failed newest revision:
// it re-applies every object of the chart, not only what the plan changes
// (what names that in the remedy). ok is false for any other status.
func StatusGuard(rel *scaling.Release, what string) (g scaling.GuardResult, ok bool) {
	if rel.Status != "failed" {
		return scaling.GuardResult{}, false
	}
	return scaling.GuardResult{Name: GuardReleaseStatus, Outcome: scaling.Warn,
		Reason: fmt.Sprintf("the newest revision %d of the release failed", rel.Revision),
		Remedy: "the upgrade re-applies every object of the chart, not only " + what + "; read the diff"}, true
}
