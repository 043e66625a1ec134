// Package tenants runs the runbook's multi-tenant operations: one release of
// the chart per tenant, each in its own namespace (tenant-<name>, labelled
// ironflow.io/tenant=<name>), installed with values-multi-tenant.yaml and
// the tenant's own values (ingress.host, ...).
//
// UpdateQuota (update_quota.go) changes a tenant's ResourceQuota through its
// release, keeping every other value of the tenant: the runbook's long
// `helm upgrade -f values-multi-tenant.yaml --set ...` line, where a
// forgotten --set silently resets a value. Report (report.go) shows every
// tenant's usage against its quota. Every operation resolves its tenant
// with the same ownership rules (tenant.go): one tenant's operation never
// writes another tenant's objects.
//
// Apply and Verify take any plan made by this package.
package tenants

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/postgres"
	"github.com/ironflow/scaling/scale"
)

// Defaults of Options.
const (
	// DefaultVerifyTimeout bounds Verify when its context has no deadline.
	DefaultVerifyTimeout = 2 * time.Minute
	// DefaultNamespacePrefix makes tenant acme's namespace tenant-acme.
	DefaultNamespacePrefix = "tenant-"
	// DefaultTenantLabel is the namespace label naming its tenant.
	DefaultTenantLabel = "ironflow.io/tenant"
	// DefaultNearLimit is the percentage of a quota's hard limit above
	// which Report warns.
	DefaultNearLimit = 80
)

// Options configure a Client. The zero value uses Helm v3 with Secret
// storage on the cluster, tenant namespaces tenant-<name> labelled
// ironflow.io/tenant=<name> holding a release named after the tenant (as
// the runbook's `helm install acme ... -n tenant-acme`), drops progress
// events and verifies for at most DefaultVerifyTimeout.
type Options struct {
	// Releases is the Helm seam; nil means Helm v3 against the cluster.
	Releases scaling.Releases
	// NamespacePrefix makes a tenant's namespace: prefix + tenant name;
	// default "tenant-".
	NamespacePrefix string
	// TenantLabel is the label a tenant's namespace carries, with the
	// tenant's name as its value; default "ironflow.io/tenant". A namespace
	// without it is no tenant's, and no operation writes into it.
	TenantLabel string
	// ReleaseName names a tenant's release in its namespace; nil means the
	// tenant's name.
	ReleaseName func(tenant string) string
	// NearLimit is the percentage of a hard limit above which Report warns;
	// 0 means DefaultNearLimit.
	NearLimit float64
	// Progress receives step and check events.
	Progress scaling.Progress
	// VerifyTimeout bounds Verify when ctx has no deadline.
	VerifyTimeout time.Duration
	// Verifier, when set, makes Apply refuse any plan none of whose
	// signatures verifies with it (*scaling.SignatureError), before a
	// request.
	Verifier scaling.Verifier
	// Chart is where every Helm write takes the chart from, as `helm
	// upgrade RELEASE CHART` does; a request's own Chart overrides it. The
	// reference chart has subcharts, so its releases need a source (Helm's
	// stored release keeps none): without one, Plan returns a
	// *scaling.ChartSourceRequiredError.
	Chart scaling.ChartSource
	// TrustedCharts are the sources, besides Chart, that Apply loads a
	// stored plan's chart from (*scaling.UntrustedChartError otherwise).
	TrustedCharts []scaling.ChartSource
	// Redaction says which values are secret; the zero value redacts the
	// keys scaling.DefaultSensitiveKeys matches and every Secret's data.
	Redaction scaling.Redaction
	// NATS gives the client of a tenant's own NATS cluster (its system
	// account connection, see nats.Options), for Storage of the NATS
	// volume; nil means Storage grows PostgreSQL volumes only. It is
	// called at each Plan, Apply and Verify of such a plan.
	NATS func(tenant string) (*nats.Client, error)
}

// Client runs the tenant operations against one cluster. It is safe for
// concurrent use.
type Client struct {
	kube     kubernetes.Interface
	releases scaling.Releases
	opts     Options
	ops      *opkit.Ops
	red      *redact.Redactor
	// scale and postgres run the changes a tenant's Resources and Storage
	// plans wrap (postgres is nil without a dynamic client): one
	// implementation of each, with the tenant's guards around it.
	scale    *scale.Client
	postgres *postgres.Client
}

// New returns a Client for the cluster. Invalid options are a
// *scaling.InvalidInputError, before any request.
func New(c *scaling.Cluster, opts Options) (*Client, error) {
	if c == nil || c.Kube == nil {
		return nil, &scaling.InvalidInputError{Field: "cluster", Value: nil, Reason: "a connected *scaling.Cluster with Kube set is required"}
	}
	switch {
	case opts.VerifyTimeout < 0:
		return nil, &scaling.InvalidInputError{Field: "Options.VerifyTimeout", Value: opts.VerifyTimeout, Reason: "must not be negative"}
	case opts.NearLimit < 0 || opts.NearLimit > 100:
		return nil, &scaling.InvalidInputError{Field: "Options.NearLimit", Value: opts.NearLimit, Reason: "must be a percentage, 0 (the default) to 100"}
	}
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = DefaultVerifyTimeout
	}
	if opts.NamespacePrefix == "" {
		opts.NamespacePrefix = DefaultNamespacePrefix
	}
	if opts.TenantLabel == "" {
		opts.TenantLabel = DefaultTenantLabel
	}
	if opts.NearLimit == 0 {
		opts.NearLimit = DefaultNearLimit
	}
	if errs := validation.IsQualifiedName(opts.TenantLabel); len(errs) > 0 {
		return nil, &scaling.InvalidInputError{Field: "Options.TenantLabel", Value: opts.TenantLabel, Reason: errs[0]}
	}
	if errs := validation.IsDNS1123Label(opts.NamespacePrefix + "x"); len(errs) > 0 {
		return nil, &scaling.InvalidInputError{Field: "Options.NamespacePrefix", Value: opts.NamespacePrefix, Reason: "prefix + tenant name must be a namespace name: " + errs[0]}
	}
	red, err := opkit.WriteOptions(opts.Chart, opts.TrustedCharts, opts.Redaction)
	if err != nil {
		return nil, err
	}
	rels := opts.Releases
	if rels == nil {
		if c.Config == nil {
			return nil, &scaling.InvalidInputError{Field: "Options.Releases", Value: nil, Reason: "required when the cluster has no REST config"}
		}
		rels = helmrelease.New(c.Config, c.Kube)
	}
	client := &Client{kube: c.Kube, releases: rels, opts: opts, red: red}
	if client.scale, err = scale.New(c, scale.Options{Releases: rels, Progress: opts.Progress, VerifyTimeout: opts.VerifyTimeout,
		Chart: opts.Chart, TrustedCharts: opts.TrustedCharts, Redaction: opts.Redaction}); err != nil {
		return nil, err
	}
	if c.Dynamic != nil {
		if client.postgres, err = postgres.New(c, postgres.Options{Releases: rels, Progress: opts.Progress, VerifyTimeout: opts.VerifyTimeout,
			Chart: opts.Chart, TrustedCharts: opts.TrustedCharts, Redaction: opts.Redaction}); err != nil {
			return nil, err
		}
	}
	client.ops = client.register()
	return client, nil
}

var _ scaling.Operator = (*Client)(nil)

// register lists this package's operations: how Apply plans each again
// from its stored request (a stored plan is checked against that, never
// trusted), what runs its steps and what verifies it; opkit.Ops does the
// rest.
func (c *Client) register() *opkit.Ops {
	ops := opkit.NewOps("tenants", guardKinds, c.opts.VerifyTimeout)
	ops.RequireSignatures(c.opts.Verifier)
	ops.TrustCharts(append([]scaling.ChartSource{c.opts.Chart}, c.opts.TrustedCharts...)...)
	opkit.Register(ops, OpUpdateQuota, opkit.Op[quotaSpec]{Derive: c.deriveUpdateQuota, Apply: c.applyUpdateQuota, Verify: c.verifyUpdateQuota,
		Chart: func(s *quotaSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpResources, opkit.Op[wrappedSpec[Resources]]{Derive: c.deriveResources, Apply: c.applyResources, Verify: c.verifyResources,
		Chart: func(s *wrappedSpec[Resources]) scaling.ChartSource { return s.Request.Chart },
		Kinds: func(*wrappedSpec[Resources]) opkit.Kinds { return scaleKinds }})
	opkit.Register(ops, OpStorage, opkit.Op[wrappedSpec[Storage]]{Derive: c.deriveStorage, Apply: c.applyStorage, Verify: c.verifyStorage,
		Chart: func(s *wrappedSpec[Storage]) scaling.ChartSource { return s.Request.Chart },
		Kinds: func(s *wrappedSpec[Storage]) opkit.Kinds { return storageKinds[s.Request.Volume] }})
	return ops
}

// Operations implements scaling.Operator: the plans this package makes.
func (c *Client) Operations() []string { return c.ops.Operations() }

// Apply runs a plan made by this package's Plan functions. It plans again
// from the plan's request on live state and runs that derived plan only
// when it is the stored one: a *scaling.GuardBlockedError for a blocking
// guard (its causes are this package's typed errors, through errors.As), a
// *scaling.StalePlanError when live state drifted since planning, a
// *scaling.PlanMismatchError for an edited plan and a
// *scaling.InvalidPlanError for a plan it cannot run; in each case nothing
// is written. A plan whose target state already holds returns
// Applied.Changed == false after read-only requests.
func (c *Client) Apply(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
	return c.ops.Apply(ctx, plan)
}

// Verify watches the outcome of an applied plan until it holds, something
// overrides it, or the deadline (ctx's, else Options.VerifyTimeout) passes.
// The error is non-nil only when Verify could not watch at all; an outcome
// that does not hold is a Verification with a Phase other than Succeeded.
func (c *Client) Verify(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
	return c.ops.Verify(ctx, plan)
}

// releaseName is the name of a tenant's release.
func (c *Client) releaseName(tenant string) string {
	if c.opts.ReleaseName != nil {
		return c.opts.ReleaseName(tenant)
	}
	return tenant
}
