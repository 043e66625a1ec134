package tenants

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
)

// The kinds of a Report's warnings (Warning.Kind).
const (
	// WarnNearLimit: a resource's use is above Options.NearLimit percent
	// of its hard limit.
	WarnNearLimit = "near-limit"
	// WarnQuotaMissing: the tenant's namespace has no ResourceQuota, or
	// lacks one its release renders.
	WarnQuotaMissing = "quota-missing"
	// WarnReleaseMissing: the tenant's namespace holds no release of the
	// tenant's name.
	WarnReleaseMissing = "release-missing"
	// WarnReleaseStatus: the newest revision is not deployed (failed,
	// pending).
	WarnReleaseStatus = "release-status"
	// WarnNamespace: a namespace carries the tenant label but not the
	// tenant's namespace name (prefix + tenant).
	WarnNamespace = "namespace"
)

// releaseReads bounds the release reads a Report makes at once: one per
// tenant, each a list of the release's Secrets in its namespace.
const releaseReads = 8

// Report is every tenant's usage against its quota. It marshals to JSON
// with these field names; String renders it as a table.
type Report struct {
	ObservedAt time.Time `json:"observedAt"`
	// NearLimit is the percentage above which a resource is warned about.
	NearLimit float64        `json:"nearLimit"`
	Tenants   []TenantReport `json:"tenants"`
}

// TenantReport is one tenant.
type TenantReport struct {
	Tenant    string `json:"tenant"`
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Revision and Status are the release's newest revision's; 0 and ""
	// when the release is missing.
	Revision  int             `json:"revision,omitempty"`
	Status    string          `json:"status,omitempty"`
	Resources []ResourceUsage `json:"resources"`
	Warnings  []Warning       `json:"warnings,omitempty"`
}

// ResourceUsage is one resource of one quota: what is used of the hard
// limit (the quota's status.used against its spec.hard).
type ResourceUsage struct {
	Quota    string `json:"quota"`
	Resource string `json:"resource"`
	Used     string `json:"used"`
	Hard     string `json:"hard"`
	// Percent is Used / Hard x 100 (100 when Hard is 0 and something is
	// used).
	Percent float64 `json:"percent"`
}

// Warning is one thing of a tenant worth a look.
type Warning struct {
	Kind     string `json:"kind"`
	Resource string `json:"resource,omitempty"`
	Message  string `json:"message"`
}

// Report lists the tenants (namespaces labelled Options.TenantLabel) with
// each resource of their quotas used against hard, their release's
// revision, and warnings: a resource above Options.NearLimit percent, a
// quota or release missing, a release not deployed. It costs one list of
// the tenant namespaces, one list of every ResourceQuota and one read of
// each tenant's release (Helm keeps a release's revisions in its own
// namespace; reading them across namespaces at once would need list on
// every Secret of the cluster), at most 8 at a time. It reads only; the
// error is non-nil when a list fails or a release that exists cannot be
// read (a missing release is a warning).
func (c *Client) Report(ctx context.Context) (*Report, error) {
	nss, err := c.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: c.opts.TenantLabel})
	if err != nil {
		return nil, fmt.Errorf("listing the tenant namespaces: %w", err)
	}
	qs, err := c.kube.CoreV1().ResourceQuotas(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the ResourceQuotas: %w", err)
	}
	byNS := map[string][]corev1.ResourceQuota{}
	for _, q := range qs.Items {
		byNS[q.Namespace] = append(byNS[q.Namespace], q)
	}
	rep := &Report{ObservedAt: time.Now().UTC(), NearLimit: c.opts.NearLimit, Tenants: make([]TenantReport, 0, len(nss.Items))}
	for _, n := range nss.Items {
		name := n.Labels[c.opts.TenantLabel]
		rep.Tenants = append(rep.Tenants, TenantReport{Tenant: name, Namespace: n.Name, Release: c.releaseName(name)})
	}
	slices.SortFunc(rep.Tenants, func(a, b TenantReport) int {
		return strings.Compare(a.Tenant+"/"+a.Namespace, b.Tenant+"/"+b.Namespace)
	})
	rels := make([]*scaling.Release, len(rep.Tenants))
	errs := make([]error, len(rep.Tenants))
	var wg sync.WaitGroup
	sem := make(chan struct{}, releaseReads)
	for i := range rep.Tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rels[i], errs[i] = c.releases.Last(ctx, rep.Tenants[i].Namespace, rep.Tenants[i].Release)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range rep.Tenants {
		t := &rep.Tenants[i]
		if err := errs[i]; err != nil && !errors.Is(err, scaling.ErrNotFound) {
			return nil, fmt.Errorf("reading tenant %s's release %s/%s: %w", t.Tenant, t.Namespace, t.Release, err)
		}
		c.fill(t, rels[i], byNS[t.Namespace])
	}
	return rep, nil
}

// fill completes one tenant's row from its release (nil: missing) and the
// quotas of its namespace.
func (c *Client) fill(t *TenantReport, rel *scaling.Release, quotas []corev1.ResourceQuota) {
	warn := func(kind, resource, format string, args ...any) {
		t.Warnings = append(t.Warnings, Warning{Kind: kind, Resource: resource, Message: fmt.Sprintf(format, args...)})
	}
	if want := c.opts.NamespacePrefix + t.Tenant; t.Namespace != want {
		warn(WarnNamespace, "", "namespace %s is labelled %s=%s, but tenant %s's namespace is %s: no operation writes into it", t.Namespace, c.opts.TenantLabel, t.Tenant, t.Tenant, want)
	}
	rendered := map[string]bool{}
	switch {
	case rel == nil:
		warn(WarnReleaseMissing, "", "namespace %s holds no release %s", t.Namespace, t.Release)
	default:
		t.Revision, t.Status = rel.Revision, rel.Status
		if rel.Status != "deployed" {
			warn(WarnReleaseStatus, "", "release %s/%s revision %d is %s", t.Namespace, t.Release, rel.Revision, rel.Status)
		}
		if objs, err := manifest.Parse(rel.Manifest, t.Namespace); err == nil {
			for _, o := range objs {
				if o.Obj.GetKind() == "ResourceQuota" && o.Obj.GetNamespace() == t.Namespace {
					rendered[o.Obj.GetName()] = true
				}
			}
		}
	}
	slices.SortFunc(quotas, func(a, b corev1.ResourceQuota) int { return strings.Compare(a.Name, b.Name) })
	live := map[string]bool{}
	for _, q := range quotas {
		live[q.Name] = true
		for _, k := range slices.Sorted(maps.Keys(q.Spec.Hard)) {
			hard, used := q.Spec.Hard[k], q.Status.Used[k]
			u := ResourceUsage{Quota: q.Name, Resource: string(k), Used: used.String(), Hard: hard.String(), Percent: percent(used.AsApproximateFloat64(), hard.AsApproximateFloat64())}
			t.Resources = append(t.Resources, u)
			if u.Percent > c.opts.NearLimit {
				warn(WarnNearLimit, u.Resource, "%s %s of %s used (%.0f %%), above %.0f %%", u.Resource, u.Used, u.Hard, u.Percent, c.opts.NearLimit)
			}
		}
	}
	if t.Resources == nil {
		t.Resources = []ResourceUsage{}
	}
	for _, name := range slices.Sorted(maps.Keys(rendered)) {
		if !live[name] {
			warn(WarnQuotaMissing, "", "release %s renders ResourceQuota %s, which the namespace lacks", t.Release, name)
		}
	}
	if len(quotas) == 0 && len(rendered) == 0 {
		warn(WarnQuotaMissing, "", "namespace %s has no ResourceQuota: the tenant is not isolated", t.Namespace)
	}
}

// percent is used/hard x 100, rounded to a tenth.
func percent(used, hard float64) float64 {
	switch {
	case hard > 0:
		return float64(int64(used/hard*1000+0.5)) / 10
	case used > 0:
		return 100
	}
	return 0
}

// String renders the report as a table, one row per tenant resource, the
// warnings under it.
func (r *Report) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tNAMESPACE\tRELEASE\tREVISION\tQUOTA\tRESOURCE\tUSED\tHARD\tUSE")
	for _, t := range r.Tenants {
		rev := "-"
		if t.Revision > 0 {
			rev = fmt.Sprint(t.Revision)
		}
		if len(t.Resources) == 0 {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\n", t.Tenant, t.Namespace, t.Release, rev)
		}
		for i, u := range t.Resources {
			if i == 0 {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t", t.Tenant, t.Namespace, t.Release, rev)
			} else {
				fmt.Fprint(w, "\t\t\t\t")
			}
			// A quota's name is shown on its first row only.
			name := u.Quota
			if i > 0 && t.Resources[i-1].Quota == u.Quota {
				name = ""
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.1f %%\n", name, u.Resource, u.Used, u.Hard, u.Percent)
		}
	}
	w.Flush()
	var warnings []string
	for _, t := range r.Tenants {
		for _, x := range t.Warnings {
			warnings = append(warnings, fmt.Sprintf("  %s [%s] %s", t.Tenant, x.Kind, x.Message))
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintf(&b, "\nWarnings:\n%s\n", strings.Join(warnings, "\n"))
	}
	return b.String()
}
