package scaling

import "context"

// Release is a Helm release as the operations see it. It does not expose
// Helm's own types, so a move from Helm v3 to v4 changes one adapter, not
// every operation.
type Release struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// Status is Helm's status string: deployed, failed, pending-upgrade, ...
	Status       string `json:"status"`
	Chart        string `json:"chart"`
	ChartVersion string `json:"chartVersion"`
	// ChartDigest is the content digest of the chart a Render loaded from
	// its source (see ChartSource.Digest); empty for stored charts.
	ChartDigest string `json:"chartDigest,omitempty"`
	// Dependencies are the subcharts the chart declares (Chart.yaml).
	Dependencies []string `json:"dependencies,omitempty"`
	// Values are the user-supplied values (`helm get values`).
	Values map[string]any `json:"values,omitempty"`
	// Computed are the user values coalesced with the chart's defaults
	// (`helm get values --all`): what the templates see.
	Computed map[string]any `json:"computed,omitempty"`
	// Manifest is the rendered manifest (`helm get manifest`).
	Manifest string `json:"manifest,omitempty"`
}

// Pending reports whether another operation is at work on the release (a
// pending-* status, or an uninstall in progress), in which Helm refuses any
// upgrade.
func (r *Release) Pending() bool {
	switch r.Status {
	case "pending-install", "pending-upgrade", "pending-rollback", "uninstalling":
		return true
	}
	return false
}

// Releases is the seam to Helm. The operations compute the complete set of
// user values themselves, so implementations never merge values: Render and
// Upgrade take exactly the values to use (the behaviour of
// `helm upgrade --reset-values -f all-values.yaml`), which makes the plan
// independent of Helm's --reuse-values quirks.
type Releases interface {
	// Last returns the newest revision of a release, whatever its status,
	// or a *NotFoundError.
	Last(ctx context.Context, namespace, name string) (*Release, error)
	// Render renders the chart of source (the zero source: the chart stored
	// with revision) with values exactly as `helm upgrade` would against
	// this cluster: dependency processing (conditions, tags, import-values),
	// subchart defaults in Computed, the cluster's capabilities. It writes
	// nothing and sends no request beyond reading the release history.
	// The result has no Revision. A zero source on a chart with dependencies
	// is a *ChartSourceRequiredError, a source holding another chart or
	// version than revision's a *ChartMismatchError (unless source.Upgrade).
	Render(ctx context.Context, namespace, name string, revision int, source ChartSource, values map[string]any) (*Release, error)
	// Upgrade upgrades the release from revision to a new revision of the
	// source's chart, with values as the complete user values. It refuses
	// as Render does, and with a *ChartChangedError when source.Digest is
	// set and the chart's content differs, before writing anything. It does
	// not wait for workloads; Verify does.
	Upgrade(ctx context.Context, namespace, name string, revision int, source ChartSource, values map[string]any) (*Release, error)
}
