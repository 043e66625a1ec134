// Package helmplan computes the Helm side of a plan: the complete user values
// after a set of changes, the rendered manifest, and the diff of both. Every
// operation that changes a release through values (scale, nats) uses it, so
// they all show the same diff and fingerprint the release the same way.
package helmplan

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
)

// Set is one value to write at a dotted path.
type Set struct {
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Result is the Helm part of a plan.
type Result struct {
	// Release is the newest revision, as read.
	Release *scaling.Release
	// Chart is the source Apply upgrades with, its Digest set to the
	// content the plan was rendered from.
	Chart scaling.ChartSource
	// ChartChange is "name-version -> name-version" when the source holds
	// another chart version than the deployed one (ChartSource.Upgrade).
	ChartChange string
	// Current are the deployed user values coalesced with the source
	// chart's defaults, subcharts included: what the templates see today.
	// (Release.Computed lacks the subcharts' defaults, which Helm's stored
	// release does not keep.)
	Current map[string]any
	// Values are the complete user values to upgrade with.
	Values map[string]any
	// Rendered is the chart rendered with Values.
	Rendered *scaling.Release
	// Before and After are the deployed and planned manifests by object.
	Before, After map[string]manifest.Object
	// Diff shows the values diff then the manifest diff ("" when equal),
	// secrets redacted.
	Diff string
}

// Changed reports whether the upgrade would change anything: the values or
// the chart.
func (r *Result) Changed() bool { return r.Diff != "" }

// Ref names the release.
func Ref(namespace, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "HelmRelease", Namespace: namespace, Name: name}
}

// FingerprintKey is the fingerprint key of a release's revision.
func FingerprintKey(namespace, name string) string {
	return scaling.FingerprintKey(Ref(namespace, name), scaling.AspectRevision)
}

// Plan reads the release, applies sets on top of its user values (the
// semantics of --reuse-values --set, computed here so the plan shows exactly
// what Apply will send) and renders the result. A release in a pending state
// is a *scaling.ReleasePendingError.
func Plan(ctx context.Context, releases scaling.Releases, namespace, name string, src scaling.ChartSource, sets []Set, red *redact.Redactor) (*Result, error) {
	rel, err := Last(ctx, releases, namespace, name)
	if err != nil {
		return nil, err
	}
	return PlanFrom(ctx, releases, rel, src, sets, red)
}

// Last reads the newest revision and refuses a pending one with a
// *scaling.ReleasePendingError: Helm would refuse to upgrade it anyway.
func Last(ctx context.Context, releases scaling.Releases, namespace, name string) (*scaling.Release, error) {
	rel, err := releases.Last(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if rel.Pending() {
		return nil, &scaling.ReleasePendingError{Namespace: namespace, Release: name, Status: rel.Status, Revision: rel.Revision}
	}
	if rel.Status == "uninstalled" {
		// `helm uninstall --keep-history`: the records stay, the release
		// does not; there is nothing to upgrade.
		return nil, &scaling.NotFoundError{Object: Ref(namespace, name), Detail: fmt.Sprintf("uninstalled at revision %d (its history was kept): install it again", rel.Revision)}
	}
	return rel, nil
}

// PlanFrom is Plan for a release the caller has already read with Last, when
// the sets depend on its values. The diff is redacted by red (nil: the
// default redaction); the Result's values and objects are not.
func PlanFrom(ctx context.Context, releases scaling.Releases, rel *scaling.Release, src scaling.ChartSource, sets []Set, red *redact.Redactor) (*Result, error) {
	namespace, name := rel.Namespace, rel.Name
	vals := values.Copy(rel.Values)
	for _, s := range sets {
		if err := values.Set(vals, s.Path, s.Value); err != nil {
			return nil, &scaling.InvalidInputError{Field: "value path", Value: s.Path, Reason: err.Error()}
		}
	}
	src.Digest = ""
	rendered, err := releases.Render(ctx, namespace, name, rel.Revision, src, vals)
	if err != nil {
		return nil, err
	}
	src.Digest = rendered.ChartDigest
	current, err := currentFrom(ctx, releases, rel, src, rendered, vals)
	if err != nil {
		return nil, err
	}
	before, err := manifest.Parse(rel.Manifest, namespace)
	if err != nil {
		return nil, fmt.Errorf("deployed manifest of %s/%s: %w", namespace, name, err)
	}
	after, err := manifest.Parse(rendered.Manifest, namespace)
	if err != nil {
		return nil, fmt.Errorf("planned manifest of %s/%s: %w", namespace, name, err)
	}
	vd, err := manifest.ValuesDiff(red.Values(rel.Values), red.Values(vals))
	if err != nil {
		return nil, err
	}
	shownBefore, err := red.Manifest(before)
	if err != nil {
		return nil, err
	}
	shownAfter, err := red.Manifest(after)
	if err != nil {
		return nil, err
	}
	res := &Result{Release: rel, Chart: src, Current: current, Values: vals, Rendered: rendered, Before: before, After: after}
	if from, to := rel.Chart+"-"+rel.ChartVersion, rendered.Chart+"-"+rendered.ChartVersion; from != to {
		res.ChartChange = from + " -> " + to
	}
	var diff strings.Builder
	if res.ChartChange != "" {
		fmt.Fprintf(&diff, "chart: %s\n", res.ChartChange)
	}
	if vd != "" || res.ChartChange != "" {
		diff.WriteString(vd)
		diff.WriteString(manifest.Diff(shownBefore, shownAfter))
	}
	res.Diff = diff.String()
	return res, nil
}

// Current returns a release's user values coalesced with the defaults of
// the chart src holds, subcharts included. For a chart without
// dependencies that is rel.Computed; otherwise it takes a render, since
// only the source has the subcharts' defaults.
func Current(ctx context.Context, releases scaling.Releases, rel *scaling.Release, src scaling.ChartSource) (map[string]any, error) {
	return currentFrom(ctx, releases, rel, src, nil, nil)
}

// currentFrom is Current, reusing a render already made with the release's
// own values.
func currentFrom(ctx context.Context, releases scaling.Releases, rel *scaling.Release, src scaling.ChartSource, rendered *scaling.Release, vals map[string]any) (map[string]any, error) {
	if len(rel.Dependencies) == 0 {
		return rel.Computed, nil
	}
	if rendered != nil {
		if same, err := values.Equal(rel.Values, vals); err == nil && same {
			return rendered.Computed, nil
		}
	}
	now, err := releases.Render(ctx, rel.Namespace, rel.Name, rel.Revision, src, rel.Values)
	if err != nil {
		return nil, err
	}
	return now.Computed, nil
}

// Revision renders a revision number for a fingerprint.
func Revision(n int) string { return strconv.Itoa(n) }

// FieldChart is the Step.Field of the step that changes a release's chart.
const FieldChart = "chart"

// ChartStep is the step that upgrades the chart, when the plan does.
func ChartStep(target scaling.ObjectRef, r *Result) (scaling.Step, bool) {
	if r.ChartChange == "" {
		return scaling.Step{}, false
	}
	from, to, _ := strings.Cut(r.ChartChange, " -> ")
	return scaling.Step{Action: "helm upgrade", Object: target, Field: FieldChart, Before: from, After: to,
		Note: "the source holds another chart version (ChartSource.Upgrade): every object the new version changes is in the diff"}, true
}

// ChartPending reports whether a plan upgrades the chart and the release
// does not run the planned version yet.
func ChartPending(plan *scaling.Plan, rel *scaling.Release) bool {
	for _, s := range plan.Steps {
		if s.Field == FieldChart {
			return s.After != rel.Chart+"-"+rel.ChartVersion
		}
	}
	return false
}
