// Package nats operates a NATS JetStream cluster deployed with Helm the way
// the runbook's NATS sections do by hand (`nats server report jetstream`,
// `helm upgrade --set nats.config.cluster.replicas=N`, `nats server cluster
// peer-remove`), as typed operations that keep the meta group's quorum.
//
// Each operation has its own file: ScaleCluster (scale_cluster.go),
// ExpandStorage (expand_storage.go) and the read-only Inspect (report.go).
// Apply and Verify take any plan made by this package.
//
// JetStream is read and changed through a connection in the system account
// (Options.System): without it the servers do not answer the monitoring and
// meta requests, which this package reports as a *SystemAccountError rather
// than a timeout. Stream replicas can only be changed from the account that
// owns the stream, so lowering or raising them needs Options.Accounts.
//
// The package links nats.go and jsm.go's API types, never nats-server.
package nats

import (
	"context"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/redact"
)

// Defaults of Options.
const (
	DefaultVerifyTimeout  = 5 * time.Minute
	DefaultRequestTimeout = 5 * time.Second
	// DefaultStepTimeout bounds each waiting step of an Apply (a server
	// leaving, the meta group shrinking, an evacuation finishing) when ctx has
	// no deadline of its own.
	DefaultStepTimeout = 3 * time.Minute
	// DefaultSettleTimeout bounds how long Apply waits, between two steps,
	// for the guards to pass again on what the earlier steps left: a server
	// leaving or restarting costs the cluster seconds of elections and
	// catch-up, which is no reason to stop; a staying server that died does
	// not come back in that time, and the guard that sees it stops the run.
	DefaultSettleTimeout = 30 * time.Second
	// DefaultMaxVolumeSize is the largest volume ExpandStorage asks for by
	// default: a Hetzner Cloud Volume's maximum (10 TB), the platform's
	// storage backend. A larger claim is accepted by the API server and then
	// never resized.
	DefaultMaxVolumeSize = "10Ti"
)

// Options configure a Client. Only System is required; the zero value of
// every other field means its default.
type Options struct {
	// System is a connection in the system account.
	System *natsgo.Conn
	// Accounts are connections in the accounts that own streams, keyed by
	// account name (for example "APP", or "$G" for a server without
	// accounts). A plan that lowers or raises a stream's replicas needs the
	// stream's account here.
	Accounts map[string]*natsgo.Conn
	// Releases is the Helm seam; nil means Helm v3 against the cluster.
	Releases scaling.Releases
	// Progress receives step and check events.
	Progress scaling.Progress
	// VerifyTimeout bounds Verify when ctx has no deadline.
	VerifyTimeout time.Duration
	// RequestTimeout bounds each NATS request.
	RequestTimeout time.Duration
	// StepTimeout bounds each waiting step of an Apply.
	StepTimeout time.Duration
	// SettleTimeout bounds the wait between two steps for the guards to
	// pass again (DefaultSettleTimeout).
	SettleTimeout time.Duration
	// Verifier, when set, makes Apply refuse any plan none of whose
	// signatures verifies with it (*scaling.SignatureError), before a
	// request: only plans an approval system signed (Plan.Sign) run.
	Verifier scaling.Verifier
	// Chart is where every Helm write takes the chart from, as `helm
	// upgrade RELEASE CHART` does; a request's own Chart overrides it. The
	// zero value reuses the chart stored with the release, which works only
	// for a chart without subcharts: with the official NATS chart as a
	// subchart, a source is required (*scaling.ChartSourceRequiredError).
	Chart scaling.ChartSource
	// TrustedCharts are the sources, besides Chart, that Apply loads a
	// stored plan's chart from: the sources requests name in their own
	// Chart field. A stored plan naming any other source is refused before
	// a request (*scaling.UntrustedChartError), so an edited plan cannot
	// make Apply fetch a chart from where the editor chose; with a Verifier
	// set, a plan whose signature verifies may name any source.
	TrustedCharts []scaling.ChartSource
	// MaxVolumeSize is the largest volume the storage backend provisions;
	// ExpandStorage blocks a size above it (scaling.GuardStorage). Zero
	// means DefaultMaxVolumeSize.
	MaxVolumeSize resource.Quantity
	// Redaction says which values are secret; the zero value redacts the
	// keys scaling.DefaultSensitiveKeys matches and every Secret's data.
	// No plan, diff, step or event carries a redacted value.
	Redaction scaling.Redaction
}

// Client runs the NATS operations against one Kubernetes cluster and one
// NATS cluster. It is safe for concurrent use.
type Client struct {
	kube     kubernetes.Interface
	releases scaling.Releases
	sys      *natsgo.Conn
	opts     Options
	ops      *opkit.Ops
	// red keeps secrets out of plans and events.
	red *redact.Redactor
}

// New returns a Client. It validates the options and reads nothing.
func New(c *scaling.Cluster, opts Options) (*Client, error) {
	if c == nil || c.Kube == nil {
		return nil, &scaling.InvalidInputError{Field: "cluster", Value: nil, Reason: "a connected *scaling.Cluster with Kube set is required"}
	}
	if opts.System == nil {
		return nil, &scaling.InvalidInputError{Field: "Options.System", Value: nil, Reason: "a connection in the system account is required"}
	}
	for name, nc := range opts.Accounts {
		if name == "" || nc == nil {
			return nil, &scaling.InvalidInputError{Field: "Options.Accounts", Value: name, Reason: "every entry needs an account name and a connection"}
		}
	}
	for _, d := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{{"VerifyTimeout", &opts.VerifyTimeout, DefaultVerifyTimeout}, {"RequestTimeout", &opts.RequestTimeout, DefaultRequestTimeout}, {"StepTimeout", &opts.StepTimeout, DefaultStepTimeout}, {"SettleTimeout", &opts.SettleTimeout, DefaultSettleTimeout}} {
		if *d.v < 0 {
			return nil, &scaling.InvalidInputError{Field: "Options." + d.field, Value: *d.v, Reason: "must not be negative"}
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if err := opkit.VolumeLimit(&opts.MaxVolumeSize, DefaultMaxVolumeSize); err != nil {
		return nil, err
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
	client := &Client{kube: c.Kube, releases: rels, sys: opts.System, opts: opts, red: red}
	client.ops = client.register()
	return client, nil
}

var _ scaling.Operator = (*Client)(nil)

// register lists this package's operations: how Apply plans each again
// from its stored request (a stored plan is checked against that, never
// trusted), what runs its steps and what verifies it; opkit.Ops does the
// rest.
func (c *Client) register() *opkit.Ops {
	ops := opkit.NewOps("nats", guardKinds, c.opts.VerifyTimeout)
	ops.RequireSignatures(c.opts.Verifier)
	ops.TrustCharts(append([]scaling.ChartSource{c.opts.Chart}, c.opts.TrustedCharts...)...)
	opkit.Register(ops, OpScaleCluster, opkit.Op[scaleClusterSpec]{Derive: c.deriveScaleCluster, Apply: c.applyScaleCluster, Verify: c.verifyScaleCluster, Chart: func(s *scaleClusterSpec) scaling.ChartSource { return s.Target.Chart }})
	opkit.Register(ops, OpExpandStorage, opkit.Op[expandSpec]{Derive: c.deriveExpandStorage, Apply: c.applyExpandStorage, Verify: c.verifyExpandStorage, Chart: func(s *expandSpec) scaling.ChartSource { return s.Target.Chart }})
	return ops
}

// Operations implements scaling.Operator: the plans this package makes.
func (c *Client) Operations() []string { return c.ops.Operations() }

// Apply runs a plan made by this package. A plan with a blocking guard is a
// *scaling.GuardBlockedError whose causes (errors.As) are this package's
// typed guard errors; live state that drifted since planning is a
// *scaling.StalePlanError; a plan it cannot run is a
// *scaling.InvalidPlanError. In each case nothing is changed. A plan whose
// target state already holds returns Applied.Changed == false.
func (c *Client) Apply(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
	return c.ops.Apply(ctx, plan)
}

// Verify watches the outcome of an applied plan until it holds, fails
// beyond recovery (a lost quorum: errors.As on the Verification's Err finds
// the *QuorumLostError), or the deadline (ctx's, else
// Options.VerifyTimeout) passes. The error is non-nil only when Verify
// could not watch at all; an outcome that does not hold is a Verification
// with a Phase other than Succeeded.
func (c *Client) Verify(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
	return c.ops.Verify(ctx, plan)
}

// guardKinds registers each blocking guard's typed error, so a stored
// plan's causes decode into them (opkit.Refuse): a new guard adds one entry.
var guardKinds = opkit.Kinds{
	GuardQuorum:              func() error { return &QuorumError{} },
	scaling.GuardStorage:     func() error { return &scaling.StorageError{} },
	GuardHealth:              func() error { return &UnhealthyError{} },
	GuardReplicas:            func() error { return &StreamReplicasError{} },
	GuardData:                func() error { return &DataOnLeavingServersError{} },
	GuardAccounts:            func() error { return &AccountConnectionError{} },
	GuardConfigRoll:          func() error { return &ConfigRollError{} },
	GuardShrink:              func() error { return &ShrinkError{} },
	GuardExpansion:           func() error { return &NotExpandableError{} },
	GuardResync:              func() error { return &UnreplicatedError{} },
	scaling.GuardBlastRadius: func() error { return &scaling.BlastRadiusError{} },
	scaling.GuardCapacity:    func() error { return &scaling.CapacityError{} },
}

// blocks reports whether any guard blocks.
func blocks(gs []scaling.GuardResult) bool {
	for _, g := range gs {
		if g.Outcome == scaling.Block {
			return true
		}
	}
	return false
}
