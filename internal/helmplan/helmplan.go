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
	// Values are the complete user values to upgrade with.
	Values map[string]any
	// Rendered is the chart rendered with Values.
	Rendered *scaling.Release
	// Before and After are the deployed and planned manifests by object.
	Before, After map[string]manifest.Object
	// Diff shows the values diff then the manifest diff ("" when equal).
	Diff string
}

// Changed reports whether the planned values differ from the deployed ones.
func (r *Result) Changed() bool { return r.Diff != "" }

// Ref names the release.
func Ref(namespace, name string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "HelmRelease", Namespace: namespace, Name: name}
}

// FingerprintKey is the fingerprint key of a release's revision.
func FingerprintKey(namespace, name string) string {
	return Ref(namespace, name).String() + " revision"
}

// Plan reads the release, applies sets on top of its user values (the
// semantics of --reuse-values --set, computed here so the plan shows exactly
// what Apply will send) and renders the result. A release in a pending state
// is a *scaling.ReleasePendingError.
func Plan(ctx context.Context, releases scaling.Releases, namespace, name string, sets []Set) (*Result, error) {
	rel, err := Last(ctx, releases, namespace, name)
	if err != nil {
		return nil, err
	}
	return PlanFrom(ctx, releases, rel, sets)
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
	return rel, nil
}

// PlanFrom is Plan for a release the caller has already read with Last, when
// the sets depend on its values.
func PlanFrom(ctx context.Context, releases scaling.Releases, rel *scaling.Release, sets []Set) (*Result, error) {
	namespace, name := rel.Namespace, rel.Name
	vals := values.Copy(rel.Values)
	for _, s := range sets {
		if err := values.Set(vals, s.Path, s.Value); err != nil {
			return nil, &scaling.InvalidInputError{Field: "value path", Value: s.Path, Reason: err.Error()}
		}
	}
	rendered, err := releases.Render(ctx, namespace, name, rel.Revision, vals)
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
	vd, err := manifest.ValuesDiff(rel.Values, vals)
	if err != nil {
		return nil, err
	}
	var diff strings.Builder
	if vd != "" {
		diff.WriteString(vd)
		diff.WriteString(manifest.Diff(before, after))
	}
	return &Result{Release: rel, Values: vals, Rendered: rendered, Before: before, After: after, Diff: diff.String()}, nil
}

// Revision renders a revision number for a fingerprint.
func Revision(n int) string { return strconv.Itoa(n) }
