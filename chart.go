package scaling

import (
	"errors"
	"fmt"
	"strings"
)

// ChartSource says where the chart of a Helm write comes from, the way
// `helm upgrade RELEASE CHART [--repo URL] [--version V]` takes it. Helm's
// stored release keeps no subcharts (a chart's dependencies are not
// serialised into the release record), so upgrading a release with
// dependencies from the stored chart would delete every subchart's objects:
// such a release needs a source.
//
// The zero value means "the chart stored with the deployed revision", which
// is accepted only for a chart that declares no dependencies; otherwise
// Plan and Apply return a *ChartSourceRequiredError and write nothing.
type ChartSource struct {
	// Ref is a chart folder, a chart archive (.tgz), an OCI reference
	// ("oci://registry.example/charts/ironflow"), or a chart name in RepoURL.
	Ref string `json:"ref,omitempty"`
	// RepoURL is a chart repository (`--repo`); Ref is then the chart name.
	RepoURL string `json:"repoURL,omitempty"`
	// Version is the chart version or constraint (`--version`); empty means
	// the newest for a repository or OCI reference, and whatever a folder or
	// archive holds.
	Version string `json:"version,omitempty"`
	// Upgrade allows a chart whose name or version differs from the deployed
	// revision's: the plan then says so in a step and in its diff. Without it
	// such a source is a *ChartMismatchError, so a scale never upgrades the
	// chart by accident.
	Upgrade bool `json:"upgrade,omitempty"`
	// Digest is the sha256 of the chart's content (every file of the chart
	// and its subcharts) as Plan loaded it. Plan sets it; Apply refuses a
	// chart whose content changed since planning (a *ChartChangedError,
	// which is a stale plan). Leave it empty in requests.
	Digest string `json:"digest,omitempty"`
}

// IsZero reports whether the source is unset (use the stored chart).
func (s ChartSource) IsZero() bool { return s.Ref == "" && s.RepoURL == "" }

// String renders the source as a helm command line would name it.
func (s ChartSource) String() string {
	if s.IsZero() {
		return "the stored chart"
	}
	var b strings.Builder
	b.WriteString(s.Ref)
	if s.RepoURL != "" {
		b.WriteString(" --repo " + s.RepoURL)
	}
	if s.Version != "" {
		b.WriteString(" --version " + s.Version)
	}
	return b.String()
}

// Or returns s, or def when s is unset: a request's source overrides the
// client's.
func (s ChartSource) Or(def ChartSource) ChartSource {
	if s.IsZero() {
		return def
	}
	return s
}

// For is the source a request's Helm write takes: s (the request's field
// named field) when set, else def (the client's), after checking s's shape.
func (s ChartSource) For(field string, def ChartSource) (ChartSource, error) {
	if err := s.Validate(field); err != nil {
		return ChartSource{}, err
	}
	return s.Or(def), nil
}

// Validate checks the source's shape without loading it.
func (s ChartSource) Validate(field string) error {
	switch {
	case s.IsZero() && (s.Version != "" || s.Upgrade || s.Digest != ""):
		return &InvalidInputError{Field: field, Value: s, Reason: "Version, Upgrade and Digest need a Ref"}
	case s.RepoURL != "" && s.Ref == "":
		return &InvalidInputError{Field: field + ".Ref", Value: `""`, Reason: "the chart's name in RepoURL is required"}
	case s.RepoURL != "" && strings.HasPrefix(s.Ref, "oci://"):
		return &InvalidInputError{Field: field + ".RepoURL", Value: s.RepoURL, Reason: "an OCI reference takes no repository URL"}
	}
	return nil
}

// SameLocation reports whether s and o load from the same place: the same
// Ref, RepoURL and Version. Digest and Upgrade are what a plan records about
// the chart, not where it comes from.
func (s ChartSource) SameLocation(o ChartSource) bool {
	return s.Ref == o.Ref && s.RepoURL == o.RepoURL && s.Version == o.Version
}

// ErrChartSource: the chart to upgrade with is missing, differs from the
// deployed one, or cannot be loaded; nothing was changed.
var ErrChartSource = errors.New("scaling: chart source")

// ChartSourceRequiredError: the release's chart declares dependencies
// (subcharts), which Helm's stored release does not keep, and no chart
// source was given. Upgrading from the stored chart would delete every
// subchart's objects.
type ChartSourceRequiredError struct {
	Namespace, Release string
	// Chart is the deployed chart as name-version.
	Chart string
	// Dependencies are the subcharts the chart declares.
	Dependencies []string
}

func (e *ChartSourceRequiredError) Error() string {
	return fmt.Sprintf("helm release %s/%s: chart %s has subcharts (%s) that Helm's stored release does not keep; give the chart source (Options.Chart or the request's Chart: a folder, archive, OCI reference or repository chart) or the upgrade would delete them",
		e.Namespace, e.Release, e.Chart, strings.Join(e.Dependencies, ", "))
}

// Is reports ErrChartSource.
func (e *ChartSourceRequiredError) Is(target error) bool { return target == ErrChartSource }

// ChartMismatchError: the source holds another chart, or another version,
// than the deployed revision, and ChartSource.Upgrade was not set.
type ChartMismatchError struct {
	Namespace, Release string
	// Deployed and Source are name-version.
	Deployed, Source string
}

func (e *ChartMismatchError) Error() string {
	return fmt.Sprintf("helm release %s/%s runs chart %s but the source holds %s; set ChartSource.Upgrade to upgrade the chart, or point the source at %s",
		e.Namespace, e.Release, e.Deployed, e.Source, e.Deployed)
}

// Is reports ErrChartSource.
func (e *ChartMismatchError) Is(target error) bool { return target == ErrChartSource }

// ChartLoadError: the source could not be located or loaded (a missing
// folder, an unreachable repository, a malformed chart).
type ChartLoadError struct {
	Source ChartSource
	Err    error
}

func (e *ChartLoadError) Error() string {
	return fmt.Sprintf("loading chart %s: %v", e.Source, e.Err)
}

// Is reports ErrChartSource.
func (e *ChartLoadError) Is(target error) bool { return target == ErrChartSource }

// Unwrap returns the cause.
func (e *ChartLoadError) Unwrap() error { return e.Err }

// ChartChangedError: the chart's content differs from what the plan was
// rendered from (the folder was edited, a tag moved). It is a stale plan.
type ChartChangedError struct {
	Source           ChartSource
	Planned, Current string
}

func (e *ChartChangedError) Error() string {
	return fmt.Sprintf("chart %s changed since planning (digest %s, now %s): plan again", e.Source, short(e.Planned), short(e.Current))
}

// Is reports ErrStalePlan and ErrChartSource.
func (e *ChartChangedError) Is(target error) bool {
	return target == ErrStalePlan || target == ErrChartSource
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// GuardBlastRadius names the guard every Helm write carries: it blocks when
// the upgrade would delete or replace objects the operation did not set out
// to change.
const GuardBlastRadius = "blast-radius"

// ObjectDamage is an object an upgrade would destroy: delete (the planned
// manifest no longer has it) or replace (a field the API server will not
// update in place changed, so the object must be deleted and created again;
// `helm upgrade` then fails, and `--force` deletes it).
type ObjectDamage struct {
	Object ObjectRef `json:"object"`
	// Action is "delete" or "replace".
	Action string `json:"action"`
	// Fields are the immutable fields that changed, for a replace.
	Fields []string `json:"fields,omitempty"`
}

func (d ObjectDamage) String() string {
	if d.Action == "replace" {
		return fmt.Sprintf("replace %s (%s changed, which the API server does not update in place)", d.Object, strings.Join(d.Fields, ", "))
	}
	return "delete " + d.Object.String()
}

// BlastRadiusError is the typed cause of a blocking blast-radius guard.
type BlastRadiusError struct {
	Namespace, Release string
	Damages            []ObjectDamage
}

func (e *BlastRadiusError) Error() string {
	parts := make([]string, len(e.Damages))
	for i, d := range e.Damages {
		parts[i] = d.String()
	}
	return fmt.Sprintf("helm release %s/%s: the upgrade would %s", e.Namespace, e.Release, strings.Join(parts, "; "))
}

// Is reports ErrGuardBlocked.
func (e *BlastRadiusError) Is(target error) bool { return target == ErrGuardBlocked }

// UntrustedChartError: a stored plan names a chart source the applying
// client was not given (its Options.Chart or Options.TrustedCharts), and
// the plan is not signed for a Verifier the client has. A stored plan is
// data: Apply loads charts only from sources the program itself names, so
// an edited plan cannot make it fetch and deploy a chart from a place of
// the editor's choosing. Nothing was requested or changed.
type UntrustedChartError struct {
	Operation string
	// Source is the source the plan names.
	Source ChartSource
	// Trusted are the sources the client loads from.
	Trusted []ChartSource
}

func (e *UntrustedChartError) Error() string {
	names := make([]string, 0, len(e.Trusted))
	for _, t := range e.Trusted {
		names = append(names, t.String())
	}
	trusted := "none besides the stored chart"
	if len(names) > 0 {
		trusted = strings.Join(names, "; ")
	}
	return fmt.Sprintf("%s: the plan loads its chart from %s, which this client does not trust (trusted: %s); list it in Options.TrustedCharts, or sign plans and set Options.Verifier",
		e.Operation, e.Source, trusted)
}

// Is reports ErrChartSource and ErrPlanMismatch: the plan carries a source
// this client would not use.
func (e *UntrustedChartError) Is(target error) bool {
	return target == ErrChartSource || target == ErrPlanMismatch
}
