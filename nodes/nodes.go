// Package nodes runs the node operations of the runbook:
//
//   - Diagnose: why pods pend, each node's allocatable, requests and usage,
//     and how many more workers of a server type would let every pending
//     pod schedule (read-only);
//   - AddWorker: raise worker_count (and optionally worker_type) in
//     terraform.tfvars, keeping every other byte, plan and apply with
//     Terraform (terraform or tofu, through terraform-exec), and watch the
//     new nodes turn Ready and the pending pods schedule;
//   - Destroy: terraform plan -destroy listing what is lost, blocked until
//     the caller confirms backups (each CloudNativePG cluster's backup
//     method and last backup are shown);
//   - Drain: move the CloudNativePG primaries off a node (a switchover),
//     cordon it and evict its pods through the Eviction API, as kubectl
//     drain does with --ignore-daemonsets, with guards kubectl lacks.
package nodes

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/postgres"
)

// DefaultVerifyTimeout bounds Verify when ctx has no deadline.
const DefaultVerifyTimeout = 5 * time.Minute

// DefaultStepTimeout bounds each Apply step (a switchover, the evictions
// of one pod retried while a budget refuses them) when ctx has no
// deadline.
const DefaultStepTimeout = 5 * time.Minute

// DefaultEvictionRetry is how long Apply waits before retrying an
// eviction a PodDisruptionBudget refused (429), as kubectl drain's 5 s.
const DefaultEvictionRetry = 5 * time.Second

// Options configures a Client. The zero value means defaults.
type Options struct {
	// Progress receives step and check events.
	Progress scaling.Progress
	// VerifyTimeout bounds Verify when ctx has no deadline.
	VerifyTimeout time.Duration
	// StepTimeout bounds each Apply step when ctx has no deadline.
	StepTimeout time.Duration
	// EvictionRetry is the wait between refused evictions.
	EvictionRetry time.Duration
	// Verifier, when set, makes Apply refuse unsigned plans.
	Verifier scaling.Verifier
	// Postgres configures the postgres client the switchovers are
	// delegated to (its Progress defaults to this Progress).
	Postgres postgres.Options
	// Redaction says which tfvars values a plan's diff never shows; the
	// zero value redacts scaling.DefaultSensitiveKeys (hcloud_token...).
	Redaction scaling.Redaction
	// Terraform is the terraform or tofu binary AddWorker and Destroy
	// drive: a path or a command name on PATH. Empty means tofu, else
	// terraform, on PATH.
	Terraform string
	// TerraformEnv are environment variables for Terraform on top of this
	// process's own (HCLOUD_TOKEN, a backend's credentials). Their values
	// never enter a plan, an event or an error. Terraform's own control
	// variables (TF_LOG, TF_VAR_*, TF_CLI_ARGS...) are refused: set
	// variables in the tfvars file, which the plan shows.
	TerraformEnv map[string]string
}

// Client runs the node operations against one Kubernetes cluster. It is
// safe for concurrent use.
type Client struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
	pg   *postgres.Client
	opts Options
	ops  *opkit.Ops
	// newTerraform opens a Terraform directory; nil means the binary
	// Options.Terraform names (tests put a fake here).
	newTerraform func(dir string) (terraform, error)
	red          *redact.Redactor
}

// New returns a Client. It validates the options and reads nothing.
func New(c *scaling.Cluster, opts Options) (*Client, error) {
	if c == nil || c.Kube == nil || c.Dynamic == nil {
		return nil, &scaling.InvalidInputError{Field: "cluster", Value: nil, Reason: "a connected *scaling.Cluster with Kube and Dynamic set is required (CloudNativePG's Clusters are read through the dynamic client)"}
	}
	for _, d := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{{"Options.VerifyTimeout", &opts.VerifyTimeout, DefaultVerifyTimeout}, {"Options.StepTimeout", &opts.StepTimeout, DefaultStepTimeout}, {"Options.EvictionRetry", &opts.EvictionRetry, DefaultEvictionRetry}} {
		if *d.v < 0 {
			return nil, &scaling.InvalidInputError{Field: d.field, Value: *d.v, Reason: "must not be negative"}
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if bad := tfexec.ProhibitedEnv(maps.Clone(opts.TerraformEnv)); len(bad) > 0 {
		slices.Sort(bad)
		return nil, &scaling.InvalidInputError{Field: "Options.TerraformEnv", Value: strings.Join(bad, ","), Reason: "Terraform's own control variables cannot be set here: terraform-exec sets them, and a TF_VAR_ would change the plan without showing in it; set variables in the tfvars file"}
	}
	red, err := redact.New(opts.Redaction)
	if err != nil {
		return nil, err
	}
	pgOpts := opts.Postgres
	if pgOpts.Progress == nil {
		pgOpts.Progress = opts.Progress
	}
	if pgOpts.Verifier == nil {
		pgOpts.Verifier = opts.Verifier
	}
	pg, err := postgres.New(c, pgOpts)
	if err != nil {
		return nil, err
	}
	client := &Client{kube: c.Kube, dyn: c.Dynamic, pg: pg, opts: opts, red: red}
	client.ops = client.register()
	return client, nil
}

func (c *Client) register() *opkit.Ops {
	ops := opkit.NewOps("nodes", guardKinds, c.opts.VerifyTimeout)
	ops.RequireSignatures(c.opts.Verifier)
	opkit.Register(ops, OpDrain, opkit.Op[drainSpec]{Derive: c.deriveDrain, Apply: c.applyDrain, Verify: c.verifyDrain})
	c.registerTerraform(ops)
	return ops
}

var _ scaling.Operator = (*Client)(nil)

// Operations implements scaling.Operator: the plans this package makes.
func (c *Client) Operations() []string { return c.ops.Operations() }

// Apply runs a plan made by this package. It plans again from the stored
// request on live state and runs that plan only when it is the stored one
// (opkit.Check): a blocked plan is a *scaling.GuardBlockedError with this
// package's typed causes, moved state a *scaling.StalePlanError, an edited
// plan a *scaling.PlanMismatchError; in each case nothing is written.
func (c *Client) Apply(ctx context.Context, plan *scaling.Plan) (*scaling.Applied, error) {
	return c.ops.Apply(ctx, plan)
}

// Verify watches until the plan's outcome holds or the deadline passes.
func (c *Client) Verify(ctx context.Context, plan *scaling.Plan) (*scaling.Verification, error) {
	return c.ops.Verify(ctx, plan)
}

// guardKinds registers each blocking guard's typed error, so a stored
// plan's causes decode into them.
var guardKinds = opkit.Kinds{
	GuardSingleInstance:   func() error { return &postgres.SingleInstanceError{} },
	GuardSwitchover:       func() error { return &SwitchoverBlockedError{} },
	GuardDisruptionBudget: func() error { return &DisruptionBudgetError{} },
	GuardUnmanaged:        func() error { return &UnmanagedPodsError{} },
}

var clustersGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
