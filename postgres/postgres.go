package postgres

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
)

// DefaultVerifyTimeout bounds Verify when ctx has no deadline: a
// switchover takes seconds (CloudNativePG's own tests allow 45 s).
const DefaultVerifyTimeout = 2 * time.Minute

// Options configures a Client. The zero value means defaults.
type Options struct {
	// Progress receives step and check events.
	Progress scaling.Progress
	// VerifyTimeout bounds Verify when ctx has no deadline.
	VerifyTimeout time.Duration
	// Verifier, when set, makes Apply refuse any plan none of whose
	// signatures verifies with it (*scaling.SignatureError), before a
	// request.
	Verifier scaling.Verifier
	// Instances reads the instance managers' status (positions, role);
	// nil reads it through the API server's pod proxy (PodProxy).
	Instances Instances
}

// Client runs the PostgreSQL operations against one Kubernetes cluster
// whose databases CloudNativePG runs. It is safe for concurrent use.
type Client struct {
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	instances Instances
	opts      Options
	ops       *opkit.Ops
}

// New returns a Client. It validates the options and reads nothing.
func New(c *scaling.Cluster, opts Options) (*Client, error) {
	if c == nil || c.Kube == nil || c.Dynamic == nil {
		return nil, &scaling.InvalidInputError{Field: "cluster", Value: nil, Reason: "a connected *scaling.Cluster with Kube and Dynamic set is required (CloudNativePG's resources are read through the dynamic client)"}
	}
	if opts.VerifyTimeout < 0 {
		return nil, &scaling.InvalidInputError{Field: "Options.VerifyTimeout", Value: opts.VerifyTimeout, Reason: "must not be negative"}
	}
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = DefaultVerifyTimeout
	}
	client := &Client{kube: c.Kube, dyn: c.Dynamic, instances: opts.Instances, opts: opts}
	if client.instances == nil {
		client.instances = PodProxy{Kube: c.Kube}
	}
	client.ops = opkit.NewOps("postgres", guardKinds, opts.VerifyTimeout)
	client.ops.RequireSignatures(opts.Verifier)
	opkit.Register(client.ops, OpSwitchover, opkit.Op[switchoverSpec]{Derive: client.deriveSwitchover, Apply: client.applySwitchover, Verify: client.verifySwitchover})
	return client, nil
}

var _ scaling.Operator = (*Client)(nil)

// Operations implements scaling.Operator: the plans this package makes.
func (c *Client) Operations() []string { return c.ops.Operations() }

// Apply runs a plan made by this package. It plans again from the stored
// request on live state and runs that plan only when it is the stored one:
// a blocked plan is a *scaling.GuardBlockedError whose causes are this
// package's typed guard errors, moved state a *scaling.StalePlanError, an
// edited plan a *scaling.PlanMismatchError; in each case nothing is
// written. A plan whose target state already holds returns Changed false.
func (c *Client) Apply(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
	return c.ops.Apply(ctx, plan)
}

// Verify watches until the plan's outcome holds or the deadline passes;
// see the operation's Plan function for what it checks.
func (c *Client) Verify(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
	return c.ops.Verify(ctx, plan)
}

// guardKinds registers each blocking guard's typed error, so a stored
// plan's causes decode into them.
var guardKinds = opkit.Kinds{
	GuardInstances: func() error { return &SingleInstanceError{} },
	GuardInFlight:  func() error { return &InFlightError{} },
	GuardFenced:    func() error { return &UnavailableError{} },
	GuardHibernate: func() error { return &UnavailableError{} },
	GuardReplica:   func() error { return &UnavailableError{} },
	GuardTarget:    func() error { return &TargetError{} },
	GuardLag:       func() error { return &LagError{} },
}

// CloudNativePG's resources.
var (
	clustersGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	poolersGVR  = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}
)
