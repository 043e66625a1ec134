package nodes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/verify"
)

// OpDestroy is the Plan.Operation of PlanDestroy's plans.
const OpDestroy = "nodes.Destroy"

// ActionTerraformDestroy is a Destroy plan's step.
const ActionTerraformDestroy = "terraform destroy"

// What a destroyed resource is, as a Destroy plan lists it.
const (
	KindServer       = "server"
	KindVolume       = "volume"
	KindLoadBalancer = "load balancer"
	KindNetwork      = "network"
	KindOther        = "other"
)

// HetznerKinds says what each Hetzner Cloud resource type is, for a
// Destroy plan's list of what is lost.
var HetznerKinds = map[string]string{
	"hcloud_server":                KindServer,
	"hcloud_volume":                KindVolume,
	"hcloud_volume_attachment":     KindVolume,
	"hcloud_load_balancer":         KindLoadBalancer,
	"hcloud_load_balancer_service": KindLoadBalancer,
	"hcloud_load_balancer_target":  KindLoadBalancer,
	"hcloud_network":               KindNetwork,
	"hcloud_network_subnet":        KindNetwork,
	"hcloud_floating_ip":           KindNetwork,
	"hcloud_primary_ip":            KindNetwork,
}

// Destroy asks to destroy everything a Terraform directory manages, the
// runbook's "Option B: destroy the entire cluster".
type Destroy struct {
	// Dir is the Terraform working directory.
	Dir string `json:"dir"`
	// ConfirmBackups says the caller has checked that every database has
	// a recent backup outside the cluster: without it the plan blocks.
	ConfirmBackups bool `json:"confirmBackups,omitempty"`
	// Kinds say what a resource is, by resource type ("hcloud_server") or
	// by address without its index ("module.workers.hcloud_server.this");
	// an address wins over a type. Nil means HetznerKinds.
	Kinds map[string]string `json:"kinds,omitempty"`
}

func (r Destroy) validate() error {
	for k, v := range r.Kinds {
		if k == "" || v == "" {
			return &scaling.InvalidInputError{Field: "Destroy.Kinds", Value: k + "=" + v, Reason: "needs a resource type or address and a kind"}
		}
	}
	return nil
}

// Lost is one resource a destroy removes.
type Lost struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Kind    string `json:"kind"`
}

type destroySpec struct {
	Request  Destroy         `json:"request"`
	Dir      string          `json:"dir"`
	PlanFile string          `json:"planFile,omitempty"`
	Lost     []Lost          `json:"lost"`
	Backups  []ClusterBackup `json:"backups,omitempty"`
	Causes   opkit.Causes    `json:"causes,omitempty"`
}

// PlanDestroy runs terraform plan -destroy -out and returns a plan listing
// what is lost (servers, volumes, load balancers, by address), with the
// CloudNativePG Clusters of the cluster and whether each has a backup
// method and when its last backup succeeded. It blocks (GuardBackups,
// *BackupsUnconfirmedError) unless ConfirmBackups; confirmed, a cluster
// without a backup method still warns. The plan is a no-op when the state
// holds no resource. Errors are those of PlanAddWorker.
//
// Apply refuses the plan, writing nothing, when the state, the tfvars or
// the saved plan file changed since planning, then applies exactly the
// saved destroy plan. Verify reads the state until it holds no resource.
func (c *Client) PlanDestroy(ctx context.Context, req Destroy) (*scaling.Plan, error) {
	plan, _, err := c.planDestroy(ctx, req, nil)
	return plan, err
}

func (c *Client) planDestroy(ctx context.Context, req Destroy, stored *destroySpec) (*scaling.Plan, *destroySpec, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	dir, err := workdir("Destroy.Dir", req.Dir)
	if err != nil {
		return nil, nil, err
	}
	tf, err := c.terraformFor(dir)
	if err != nil {
		return nil, nil, err
	}
	var state tfState
	if err := initialised(ctx, tf, func() (err error) { state, err = readState(ctx, tf); return err }); err != nil {
		return nil, nil, err
	}
	ref := tfDirRef(dir)
	if len(state.Resources) == 0 {
		plan := &scaling.Plan{Version: scaling.PlanVersion, Operation: OpDestroy, Target: ref, NoOp: true, CreatedAt: time.Now().UTC(),
			Summary:     "The state holds no resource: nothing to destroy.",
			Fingerprint: scaling.Fingerprint{scaling.FingerprintKey(ref, AspectState): state.version()}}
		spec := &destroySpec{Request: req, Dir: dir}
		if plan.Spec, err = planspec.Encode(spec); err != nil {
			return nil, nil, err
		}
		return plan, spec, nil
	}
	spec := &destroySpec{Request: req, Dir: dir}
	if stored != nil {
		spec.PlanFile = stored.PlanFile
		if err := storedPlanFile(dir, spec.PlanFile); err != nil {
			return nil, nil, err
		}
	} else if spec.PlanFile, err = c.makePlan(ctx, tf, dir, nil, true); err != nil {
		return nil, nil, err
	}
	tfPlan, err := tf.ShowPlanFile(ctx, spec.PlanFile)
	if err != nil {
		return nil, nil, classifyTerraformError("show", err)
	}
	sum := summarise(tfPlan)
	kinds := req.Kinds
	if kinds == nil {
		kinds = HetznerKinds
	}
	for _, ch := range sum.Changes {
		if ch.Action != "delete" {
			return nil, nil, &TerraformError{Command: "plan -destroy", Err: fmt.Errorf("the destroy plan %ss %s", ch.Action, ch.Address)}
		}
		spec.Lost = append(spec.Lost, Lost{Address: ch.Address, Type: ch.Type, Kind: kindOf(kinds, ch)})
	}
	if spec.Backups, err = c.clusterBackups(ctx); err != nil {
		return nil, nil, err
	}
	planDigest, err := fileDigest(spec.PlanFile)
	if err != nil {
		return nil, nil, err
	}
	tfvarsDigest, err := fileDigest(filepath.Join(dir, DefaultTFVars))
	if err != nil {
		return nil, nil, err
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpDestroy, Target: ref, CreatedAt: time.Now().UTC(),
		Guards: destroyGuards(req, spec),
		Fingerprint: scaling.Fingerprint{
			scaling.FingerprintKey(ref, AspectTFVars):   tfvarsDigest,
			scaling.FingerprintKey(ref, AspectState):    state.version(),
			scaling.FingerprintKey(ref, AspectPlanFile): planDigest,
		},
		Steps: []scaling.Step{{Action: ActionTerraformDestroy, Object: scaling.ObjectRef{Kind: "TerraformPlan", Name: spec.PlanFile},
			Field: "resources", Before: fmt.Sprintf("%d resource(s)", len(state.Resources)), After: "none",
			Note: "exactly the saved destroy plan: Terraform refuses it if the state moved since"}},
		Summary: fmt.Sprintf("Destroy everything %s manages: %s.", dir, countKinds(spec.Lost)),
	}
	var b strings.Builder
	for _, l := range spec.Lost {
		fmt.Fprintf(&b, "  - %s (%s) will be destroyed\n", l.Address, l.Kind)
	}
	fmt.Fprintf(&b, "Terraform plan: %s.\n", sum)
	plan.Diff = b.String()
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

var indexSuffix = regexp.MustCompile(`\[[^\]]*\]$`)

func kindOf(kinds map[string]string, ch ResourceChange) string {
	if k, ok := kinds[indexSuffix.ReplaceAllString(ch.Address, "")]; ok {
		return k
	}
	if k, ok := kinds[ch.Type]; ok {
		return k
	}
	return KindOther
}

func countKinds(lost []Lost) string {
	counts := map[string]int{}
	for _, l := range lost {
		counts[l.Kind]++
	}
	var parts []string
	for _, k := range []string{KindServer, KindVolume, KindLoadBalancer, KindNetwork, KindOther} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s(s)", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// clusterBackups reads every CloudNativePG Cluster's backup method and
// last successful backup. A cluster without the CRDs has none to report.
func (c *Client) clusterBackups(ctx context.Context) ([]ClusterBackup, error) {
	list, err := c.dyn.Resource(clustersGVR).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the CloudNativePG Clusters: %w", err)
	}
	var out []ClusterBackup
	for i := range list.Items {
		out = append(out, backupOf(&list.Items[i]))
	}
	return out, nil
}

// backupOf reads spec.backup (barmanObjectStore or volumeSnapshot), the
// barman-cloud plugin of CNPG 1.26+, and status.lastSuccessfulBackup.
func backupOf(u *unstructured.Unstructured) ClusterBackup {
	b := ClusterBackup{Namespace: u.GetNamespace(), Name: u.GetName()}
	if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "backup", "barmanObjectStore"); ok {
		b.Method = "barmanObjectStore"
	} else if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "backup", "volumeSnapshot"); ok {
		b.Method = "volumeSnapshot"
	}
	if plugins, ok, _ := unstructured.NestedSlice(u.Object, "spec", "plugins"); ok && b.Method == "" {
		for _, p := range plugins {
			m, _ := p.(map[string]any)
			name, _ := m["name"].(string)
			if wal, _ := m["isWALArchiver"].(bool); wal || strings.Contains(name, "barman") {
				b.Method = "plugin " + name
				break
			}
		}
	}
	b.LastSuccessful, _, _ = unstructured.NestedString(u.Object, "status", "lastSuccessfulBackup")
	return b
}

func destroyGuards(req Destroy, spec *destroySpec) []scaling.GuardResult {
	var described []string
	var without []string
	for _, b := range spec.Backups {
		described = append(described, b.String())
		if b.Method == "" {
			without = append(without, b.Namespace+"/"+b.Name)
		}
	}
	dbs := "no CloudNativePG cluster found"
	if len(described) > 0 {
		dbs = strings.Join(described, "; ")
	}
	switch {
	case !req.ConfirmBackups:
		e := &BackupsUnconfirmedError{Clusters: spec.Backups}
		return []scaling.GuardResult{{Name: GuardBackups, Outcome: scaling.Block, Reason: e.Error(), Cause: e,
			Remedy: "check each database's last backup (kubectl cnpg backup, the object store), then plan again with ConfirmBackups"}}
	case len(without) > 0:
		return []scaling.GuardResult{{Name: GuardBackups, Outcome: scaling.Warn,
			Reason: "backups confirmed, but " + strings.Join(without, ", ") + " has no backup method configured: " + dbs,
			Remedy: "make sure their data is saved elsewhere (pg_dump) before applying"}}
	}
	return []scaling.GuardResult{{Name: GuardBackups, Outcome: scaling.Pass, Reason: "backups confirmed: " + dbs}}
}

func (c *Client) deriveDestroy(ctx context.Context, spec *destroySpec) (*scaling.Plan, *destroySpec, error) {
	return c.planDestroy(ctx, spec.Request, spec)
}

func (c *Client) applyDestroy(ctx context.Context, plan *scaling.Plan, spec *destroySpec) (*scaling.Applied, error) {
	tf, err := c.terraformFor(spec.Dir)
	if err != nil {
		return nil, err
	}
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress, StepTimeout: c.opts.StepTimeout}
	return run.Apply(ctx, func(ctx context.Context, _ int, s scaling.Step) (bool, error) {
		if s.Action != ActionTerraformDestroy {
			return false, &scaling.InvalidPlanError{Reason: "unknown step " + s.Action}
		}
		if err := tf.Apply(ctx, spec.PlanFile); err != nil {
			return false, classifyTerraformError("apply (destroy)", err)
		}
		_ = os.Remove(spec.PlanFile)
		return true, nil
	})
}

// verifyDestroy reads the state: nothing else changes it, so one read
// after the apply is the outcome (there is nothing to watch).
func (c *Client) verifyDestroy(ctx context.Context, plan *scaling.Plan, spec *destroySpec) (*scaling.Verification, error) {
	v := &scaling.Verification{Operation: plan.Operation, Target: plan.Target, Started: time.Now()}
	tf, err := c.terraformFor(spec.Dir)
	if err != nil {
		return nil, err
	}
	st, err := readState(ctx, tf)
	if err != nil {
		return verify.Conclude(ctx, v, err, "", "deadline passed reading the state"), nil
	}
	v.Checks = []scaling.Check{{Name: "state-empty", Expected: "no resource in the state", Observed: fmt.Sprintf("%d resource(s): %s", len(st.Resources), orNone(strings.Join(st.Resources, ", "))),
		Passed: len(st.Resources) == 0, ObservedAt: time.Now()}}
	verify.NewEmitter(c.opts.Progress, plan.Operation).Emit(v.Checks)
	if !verify.Passed(v.Checks) {
		return verify.Conclude(ctx, v, &TerraformError{Command: "destroy", Err: fmt.Errorf("the state still holds %s", strings.Join(st.Resources, ", "))}, "", ""), nil
	}
	return verify.Conclude(ctx, v, nil, "", ""), nil
}
