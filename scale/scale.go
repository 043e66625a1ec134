// Package scale changes how many pods a workload runs, the way the runbook's
// "Scale horizontally" section does by hand with `helm upgrade --set
// replicaCount=N`, but as a Plan that can be reviewed, an Apply that refuses
// stale or unsafe plans, and a Verify that watches the pods come up.
//
// Each operation has its own file: Replicas (replicas.go), Down (down.go),
// Autoscale (autoscale.go), RolloutRestart (restart.go), Template
// (template.go), Resources (resources.go).
// Apply and Verify take any plan made by this package.
package scale

import (
	"context"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/redact"
)

// DefaultVerifyTimeout bounds Verify when its context has no deadline.
const DefaultVerifyTimeout = 5 * time.Minute

// Options configure a Client. The zero value uses Helm v3 with Secret
// storage on the cluster, drops progress events and verifies for at most
// DefaultVerifyTimeout.
type Options struct {
	// Releases is the Helm seam; nil means Helm v3 against the cluster.
	Releases scaling.Releases
	// Progress receives step and check events.
	Progress scaling.Progress
	// VerifyTimeout bounds Verify when ctx has no deadline.
	VerifyTimeout time.Duration
	// Verifier, when set, makes Apply refuse any plan none of whose
	// signatures verifies with it (*scaling.SignatureError), before a
	// request: only plans an approval system signed (Plan.Sign) run.
	Verifier scaling.Verifier
	// Chart is where every Helm write takes the chart from, as `helm
	// upgrade RELEASE CHART` does; a request's own Chart overrides it. The
	// zero value reuses the chart stored with the release, which Helm allows
	// only for a chart without subcharts (its record keeps none): a release
	// with dependencies and no source is a *scaling.ChartSourceRequiredError.
	Chart scaling.ChartSource
	// TrustedCharts are the sources, besides Chart, that Apply loads a
	// stored plan's chart from: the sources requests name in their own
	// Chart field. A stored plan naming any other source is refused before
	// a request (*scaling.UntrustedChartError), so an edited plan cannot
	// make Apply fetch a chart from where the editor chose; with a Verifier
	// set, a plan whose signature verifies may name any source.
	TrustedCharts []scaling.ChartSource
	// Redaction says which values are secret; the zero value redacts the
	// keys scaling.DefaultSensitiveKeys matches and every Secret's data.
	// No plan, diff, step or event carries a redacted value.
	Redaction scaling.Redaction
	// ScaleOut says which settings of the app mean state per instance or
	// realtime clients, for the scale-out guards of Replicas and Autoscale
	// (scaleout.go); the zero value is the Fluxbase guide's settings.
	ScaleOut ScaleOutRules
}

// Client runs the scale operations against one cluster. It is safe for
// concurrent use.
type Client struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	releases scaling.Releases
	opts     Options
	ops      *opkit.Ops
	// red keeps secrets out of plans and events.
	red *redact.Redactor
}

// New returns a Client for the cluster.
func New(c *scaling.Cluster, opts Options) (*Client, error) {
	if c == nil || c.Kube == nil {
		return nil, &scaling.InvalidInputError{Field: "cluster", Value: nil, Reason: "a connected *scaling.Cluster with Kube set is required"}
	}
	if opts.VerifyTimeout < 0 {
		return nil, &scaling.InvalidInputError{Field: "Options.VerifyTimeout", Value: opts.VerifyTimeout, Reason: "must not be negative"}
	}
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = DefaultVerifyTimeout
	}
	scaleOut, err := opts.ScaleOut.withDefaults()
	if err != nil {
		return nil, err
	}
	opts.ScaleOut = scaleOut
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
	client := &Client{kube: c.Kube, dyn: c.Dynamic, releases: rels, opts: opts, red: red}
	client.ops = client.register()
	return client, nil
}

var _ scaling.Operator = (*Client)(nil)

// register lists this package's operations: how Apply plans each again
// from its stored request (a stored plan is checked against that, never
// trusted), what runs its steps and what verifies it; opkit.Ops does the
// rest.
func (c *Client) register() *opkit.Ops {
	ops := opkit.NewOps("scale", guardKinds, c.opts.VerifyTimeout)
	ops.RequireSignatures(c.opts.Verifier)
	ops.TrustCharts(append([]scaling.ChartSource{c.opts.Chart}, c.opts.TrustedCharts...)...)
	opkit.Register(ops, OpReplicas, opkit.Op[replicasSpec]{Derive: c.deriveReplicas, Apply: c.applyReplicas, Verify: c.verifyReplicas, Chart: func(s *replicasSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpDown, opkit.Op[replicasSpec]{Derive: c.deriveReplicas, Apply: c.applyReplicas, Verify: c.verifyReplicas, Chart: func(s *replicasSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpAutoscale, opkit.Op[autoscaleSpec]{Derive: c.deriveAutoscale, Apply: c.applyAutoscale, Verify: c.verifyAutoscale, Chart: func(s *autoscaleSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpRolloutRestart, opkit.Op[restartSpec]{Derive: c.deriveRestart, Apply: c.applyRestart, Verify: c.verifyRestart})
	opkit.Register(ops, OpTemplate, opkit.Op[templateSpec]{Derive: c.deriveTemplate, Apply: c.applyTemplate, Verify: c.verifyTemplate, Chart: func(s *templateSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpResources, opkit.Op[resourcesSpec]{Derive: c.deriveResources, Apply: c.applyResources, Verify: c.verifyResources, Chart: func(s *resourcesSpec) scaling.ChartSource { return s.Request.Chart }})
	return ops
}

// Operations implements scaling.Operator: the plans this package makes.
func (c *Client) Operations() []string { return c.ops.Operations() }

// Apply runs a plan made by this package's Plan functions. It returns a
// *scaling.GuardBlockedError for a plan with a blocking guard (its causes
// are this package's typed guard errors, through errors.As), a
// *scaling.StalePlanError when live state drifted since planning and a
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
