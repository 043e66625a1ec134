package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmplan"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/helmwrite"
	"github.com/ironflow/scaling/internal/manifest"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/values"
)

// DefaultVerifyTimeout bounds Verify when ctx has no deadline: a
// switchover takes seconds (CloudNativePG's own tests allow 45 s); a new
// replica's base backup or a volume resize can take minutes, for which
// pass a context with a deadline.
const DefaultVerifyTimeout = 2 * time.Minute

// DefaultMaxVolumeSize is the largest volume ExpandStorage and
// ScaleInstances ask for by default: a Hetzner Cloud Volume's maximum (10
// TB), the platform's storage backend, as nats.DefaultMaxVolumeSize.
const DefaultMaxVolumeSize = "10Ti"

// DefaultValuePrefix is where the reference chart keeps the PostgreSQL
// subchart's values (postgresql.instances, postgresql.persistence.size,
// postgresql.pooler.*).
const DefaultValuePrefix = "postgresql"

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
	// Releases is the Helm seam of the release operations (ExpandStorage,
	// ScaleInstances, ConfigurePooler, Parameters); nil means Helm v3
	// against the cluster, which needs the cluster's REST config. Without
	// either, those operations' Plan and Apply return a
	// *scaling.InvalidInputError naming Options.Releases, and Switchover,
	// which writes no release, works all the same.
	Releases scaling.Releases
	// Chart is where every Helm write takes the chart from, as `helm
	// upgrade RELEASE CHART` does; a request's own Chart overrides it. The
	// zero value reuses the chart stored with the release, which works only
	// for a chart without subcharts: with PostgreSQL as a subchart (the
	// reference chart), a source is required
	// (*scaling.ChartSourceRequiredError).
	Chart scaling.ChartSource
	// TrustedCharts are the sources, besides Chart, that Apply loads a
	// stored plan's chart from: the sources requests name in their own
	// Chart field. A stored plan naming any other source is refused before
	// a request (*scaling.UntrustedChartError); with a Verifier set, a plan
	// whose signature verifies may name any source.
	TrustedCharts []scaling.ChartSource
	// MaxVolumeSize is the largest volume the storage backend provisions;
	// ExpandStorage and ScaleInstances block a size above it
	// (scaling.GuardStorage). Zero means DefaultMaxVolumeSize.
	MaxVolumeSize resource.Quantity
	// Redaction says which values are secret; the zero value redacts the
	// keys scaling.DefaultSensitiveKeys matches and every Secret's data.
	// No plan, diff, step or event carries a redacted value.
	Redaction scaling.Redaction
	// Settings reads pg_settings and SHOW from the instances; Parameters
	// needs it (nil: its Plan is a *scaling.InvalidInputError naming
	// Options.Settings). PSQL runs psql in each instance's postgres
	// container, as `kubectl cnpg psql` does, through a pods/exec runner.
	Settings Settings
}

// Client runs the PostgreSQL operations against one Kubernetes cluster
// whose databases CloudNativePG runs. It is safe for concurrent use.
type Client struct {
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	instances Instances
	settings  Settings
	// releases is nil when the cluster has no REST config and no
	// Options.Releases was given: the release operations then refuse.
	releases scaling.Releases
	opts     Options
	ops      *opkit.Ops
	// red keeps secrets out of plans and events.
	red *redact.Redactor
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
	if err := opkit.VolumeLimit(&opts.MaxVolumeSize, DefaultMaxVolumeSize); err != nil {
		return nil, err
	}
	red, err := opkit.WriteOptions(opts.Chart, opts.TrustedCharts, opts.Redaction)
	if err != nil {
		return nil, err
	}
	client := &Client{kube: c.Kube, dyn: c.Dynamic, instances: opts.Instances, settings: opts.Settings, releases: opts.Releases, opts: opts, red: red}
	if client.instances == nil {
		client.instances = PodProxy{Kube: c.Kube}
	}
	if client.releases == nil && c.Config != nil {
		client.releases = helmrelease.New(c.Config, c.Kube)
	}
	client.ops = client.register()
	return client, nil
}

// register lists this package's operations: how Apply plans each again
// from its stored request (a stored plan is checked against that, never
// trusted), what runs its steps and what verifies it; opkit.Ops does the
// rest.
func (c *Client) register() *opkit.Ops {
	ops := opkit.NewOps("postgres", guardKinds, c.opts.VerifyTimeout)
	ops.RequireSignatures(c.opts.Verifier)
	ops.TrustCharts(append([]scaling.ChartSource{c.opts.Chart}, c.opts.TrustedCharts...)...)
	opkit.Register(ops, OpSwitchover, opkit.Op[switchoverSpec]{Derive: c.deriveSwitchover, Apply: c.applySwitchover, Verify: c.verifySwitchover})
	opkit.Register(ops, OpExpandStorage, opkit.Op[expandSpec]{Derive: c.deriveExpandStorage, Apply: c.applyExpandStorage, Verify: c.verifyExpandStorage,
		Chart: func(s *expandSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpScaleInstances, opkit.Op[instancesSpec]{Derive: c.deriveScaleInstances, Apply: c.applyScaleInstances, Verify: c.verifyScaleInstances,
		Chart: func(s *instancesSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpConfigurePooler, opkit.Op[poolerSpec]{Derive: c.deriveConfigurePooler, Apply: c.applyConfigurePooler, Verify: c.verifyConfigurePooler,
		Chart: func(s *poolerSpec) scaling.ChartSource { return s.Request.Chart }})
	opkit.Register(ops, OpParameters, opkit.Op[parametersSpec]{Derive: c.deriveParameters, Apply: c.applyParameters, Verify: c.verifyParameters,
		Chart: func(s *parametersSpec) scaling.ChartSource { return s.Request.Chart }})
	return ops
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
	GuardInstances:           func() error { return &SingleInstanceError{} },
	GuardInFlight:            func() error { return &InFlightError{} },
	GuardFenced:              func() error { return &UnavailableError{} },
	GuardHibernate:           func() error { return &UnavailableError{} },
	GuardReplica:             func() error { return &UnavailableError{} },
	GuardTarget:              func() error { return &TargetError{} },
	GuardLag:                 func() error { return &LagError{} },
	GuardShrink:              func() error { return &ShrinkError{} },
	GuardExpansion:           func() error { return &NotExpandableError{} },
	GuardPrimaryRemoval:      func() error { return &PrimaryRemovalError{} },
	GuardPoolerBudget:        func() error { return &PoolerBudgetError{} },
	GuardParameters:          func() error { return &ParameterError{} },
	scaling.GuardStorage:     func() error { return &scaling.StorageError{} },
	scaling.GuardBlastRadius: func() error { return &scaling.BlastRadiusError{} },
}

// CloudNativePG's resources.
var (
	clustersGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	poolersGVR  = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}
)

// The release operations' shared part: where the values live, the one
// upgrade, the release's value read back by Verify.

// releaseTarget is the release a request names and where in its values the
// PostgreSQL subchart's live.
type releaseTarget struct {
	Namespace string
	Release   string
	// Prefix is the values prefix ("postgresql"; "" for the subchart
	// installed on its own).
	Prefix string
}

func newReleaseTarget(namespace, release, prefix string, standalone bool) releaseTarget {
	t := releaseTarget{Namespace: namespace, Release: release, Prefix: prefix}
	if !standalone && t.Prefix == "" {
		t.Prefix = DefaultValuePrefix
	}
	return t
}

// value is the value path of a subchart setting under the prefix.
func (t releaseTarget) value(sub string) string {
	if t.Prefix != "" {
		return t.Prefix + "." + sub
	}
	return sub
}

func (t releaseTarget) ref() scaling.ObjectRef { return helmplan.Ref(t.Namespace, t.Release) }

// validateRelease checks what every release request names, as nats does.
func validateRelease(op, namespace, release, prefix string, standalone bool) error {
	bad := func(field string, v any, reason string) error {
		return &scaling.InvalidInputError{Field: op + "." + field, Value: v, Reason: reason}
	}
	switch {
	case namespace == "":
		return bad("Namespace", `""`, "is required")
	case release == "":
		return bad("Release", `""`, "is required")
	case standalone && prefix != "":
		return bad("ValuePrefix", prefix, "a standalone chart's values have no prefix")
	case strings.HasPrefix(prefix, ".") || strings.HasSuffix(prefix, "."):
		return bad("ValuePrefix", prefix, `a value path like "postgresql" or "platform.postgresql", without leading or trailing dots`)
	}
	if prefix != "" {
		if _, err := values.Split(prefix); err != nil {
			return bad("ValuePrefix", prefix, err.Error())
		}
	}
	return nil
}

// needReleases refuses a release operation on a client without Helm.
func (c *Client) needReleases(op string) error {
	if c.releases == nil {
		return &scaling.InvalidInputError{Field: "Options.Releases", Value: nil,
			Reason: op + " writes a Helm release: give Options.Releases, or a *scaling.Cluster with its REST config (scaling.Connect) for Helm v3 against the cluster"}
	}
	return nil
}

// releasePlan is the Helm side of a release operation's plan and the
// CloudNativePG objects the release renders.
type releasePlan struct {
	hp *helmplan.Result
	// before and after are the release's Cluster as deployed and as
	// planned; name is its name.
	before, after *unstructured.Unstructured
	name          string
}

// planRelease reads the release and renders it with sets. A release that
// renders no CloudNativePG Cluster is a *scaling.NotFoundError.
func (c *Client) planRelease(ctx context.Context, t releaseTarget, src scaling.ChartSource, sets []helmplan.Set) (*releasePlan, error) {
	rel, err := helmplan.Last(ctx, c.releases, t.Namespace, t.Release)
	if err != nil {
		return nil, err
	}
	hp, err := helmplan.PlanFrom(ctx, c.releases, rel, src, sets, c.red)
	if err != nil {
		return nil, err
	}
	rp := &releasePlan{hp: hp, before: cnpgObject(hp.Before, "Cluster", ""), after: cnpgObject(hp.After, "Cluster", "")}
	switch {
	case rp.after != nil:
		rp.name = rp.after.GetName()
	case rp.before != nil:
		rp.name = rp.before.GetName()
	default:
		return nil, &scaling.NotFoundError{Object: t.ref(), Detail: "the release renders no CloudNativePG Cluster (is " + t.value("enabled") + " false?)"}
	}
	if rp.after == nil {
		return nil, &scaling.NotFoundError{Object: t.ref(), Detail: "the planned release renders no CloudNativePG Cluster: " + rp.name + " would be deleted"}
	}
	return rp, nil
}

// cnpgObject returns the first CloudNativePG object of kind in a parsed
// manifest (by key order), whose spec.cluster.name is cluster when cluster
// is set (a Pooler's).
func cnpgObject(objs map[string]manifest.Object, kind, cluster string) *unstructured.Unstructured {
	for _, o := range cnpgObjects(objs, kind, cluster) {
		return o
	}
	return nil
}

func cnpgObjects(objs map[string]manifest.Object, kind, cluster string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range manifest.Sorted(objs) {
		if o.Obj.GetKind() != kind || !strings.HasPrefix(o.Obj.GetAPIVersion(), "postgresql.cnpg.io/") {
			continue
		}
		if cluster != "" {
			if n, _, _ := unstructured.NestedString(o.Obj.Object, "spec", "cluster", "name"); n != cluster {
				continue
			}
		}
		out = append(out, o.Obj)
	}
	return out
}

// renderedCluster decodes a rendered Cluster (its spec only matters).
func renderedCluster(u *unstructured.Unstructured) (*apiv1.Cluster, error) {
	var cl apiv1.Cluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cl); err != nil {
		return nil, fmt.Errorf("the rendered CNPG Cluster %s: %w", u.GetName(), err)
	}
	return &cl, nil
}

// valueSteps is one "helm upgrade" step per value path the plan changes,
// with the value the templates see before (deployed) and after (planned),
// secrets redacted; the chart step when the source holds another version.
func (c *Client) valueSteps(target scaling.ObjectRef, hp *helmplan.Result, paths []string, note string) []scaling.Step {
	var steps []scaling.Step
	for _, p := range paths {
		b, _ := values.Get(hp.Current, p)
		a, _ := values.Get(hp.Rendered.Computed, p)
		if bs, as := shortValue(b), shortValue(a); bs != as {
			steps = append(steps, scaling.Step{Action: actionUpgrade, Object: target, Field: p, Before: c.red.Text(p, bs), After: c.red.Text(p, as), Note: note})
		}
	}
	if s, ok := helmplan.ChartStep(target, hp); ok {
		steps = append(steps, s)
	}
	return steps
}

// actionUpgrade is the step that upgrades the release: the one step of a
// release operation that writes; the other steps say what the operator
// does in response.
const actionUpgrade = helmwrite.ActionUpgrade

func shortValue(v any) string {
	if v == nil {
		return "(unset)"
	}
	s := fmt.Sprint(v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// releaseFingerprint records the release's revision and the live
// Cluster's generation: an upgrade or a hand edit of the Cluster's spec
// moves them, a status write does not.
func releaseFingerprint(t releaseTarget, hp *helmplan.Result, cl *apiv1.Cluster) scaling.Fingerprint {
	return scaling.Fingerprint{
		helmplan.FingerprintKey(t.Namespace, t.Release):                                    helmplan.Revision(hp.Release.Revision),
		scaling.FingerprintKey(clusterRef(t.Namespace, cl.Name), scaling.AspectGeneration): fmt.Sprint(cl.Generation),
	}
}

// blastGuard is the blast-radius guard of a release operation that sets
// out to change only the CloudNativePG objects' specs (expected: the
// damages it does set out to make, nil for none).
func blastGuard(hp *helmplan.Result, expected helmplan.Expected) scaling.GuardResult {
	g, _ := helmplan.BlastRadius(hp, expected)
	return g
}

// upgradeRelease runs a derived release plan: its one upgrade sends the
// plan's complete values (helmwrite.Planned, from the revision the plan
// read); the other steps show what the operator does in response and are
// not run.
func (c *Client) upgradeRelease(ctx context.Context, plan *scaling.Plan, t releaseTarget, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Applied, error) {
	w := helmwrite.Write{Namespace: t.Namespace, Release: t.Release, Source: src, Revision: revision, Values: vals}
	return w.ApplyPlan(ctx, c.releases, plan, c.opts.Progress)
}

// releaseValues reads the values the release's newest revision's templates
// see (subchart defaults included), for Verify's check that the plan was
// applied and not rolled back since.
func (c *Client) releaseValues(ctx context.Context, t releaseTarget, src scaling.ChartSource) (*scaling.Release, map[string]any, error) {
	if err := c.needReleases("Verify"); err != nil {
		return nil, nil, err
	}
	rel, err := c.releases.Last(ctx, t.Namespace, t.Release)
	if err != nil {
		return nil, nil, err
	}
	vals, err := helmplan.Current(ctx, c.releases, rel, src)
	if err != nil {
		return nil, nil, err
	}
	return rel, vals, nil
}

// releaseCheck compares the value at path in the newest revision with
// want (compared as text: "3" and 3 are the same count).
func releaseCheck(rel *scaling.Release, vals map[string]any, path string, want any) scaling.Check {
	got, ok := values.Get(vals, path)
	ch := scaling.Check{Name: "release-value " + path, Expected: fmt.Sprint(want), Observed: "unset", ObservedAt: time.Now(), Detail: fmt.Sprintf("revision %d (%s)", rel.Revision, rel.Status)}
	if ok {
		ch.Observed = fmt.Sprint(got)
		ch.Passed = ch.Observed == ch.Expected
	}
	return ch
}

// notApplied ends a Verify whose release does not carry the plan's values:
// the plan was not applied, or was rolled back.
func notApplied(v *scaling.Verification, t releaseTarget, checks []scaling.Check) *scaling.Verification {
	v.Checks = checks
	v.Phase, v.Finished = scaling.Failed, time.Now()
	v.Duration = v.Finished.Sub(v.Started)
	var parts []string
	for _, ch := range checks {
		if !ch.Passed {
			parts = append(parts, fmt.Sprintf("%s is %s, the plan sets %s", strings.TrimPrefix(ch.Name, "release-value "), ch.Observed, ch.Expected))
		}
	}
	v.Reason = fmt.Sprintf("release %s/%s does not carry the plan's values (%s): the plan is not applied, or was rolled back", t.Namespace, t.Release, strings.Join(parts, "; "))
	return v
}

// guardsBlock reports whether any guard blocks.
func guardsBlock(gs []scaling.GuardResult) bool {
	return slices.ContainsFunc(gs, func(g scaling.GuardResult) bool { return g.Outcome == scaling.Block })
}
