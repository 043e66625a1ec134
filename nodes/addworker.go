package nodes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/opkit"
	"github.com/ironflow/scaling/internal/planspec"
	"github.com/ironflow/scaling/internal/redact"
	"github.com/ironflow/scaling/internal/tfvars"
)

// OpAddWorker is the Plan.Operation of PlanAddWorker's plans.
const OpAddWorker = "nodes.AddWorker"

// The steps of an AddWorker plan, in order.
const (
	ActionEditTFVars     = "edit tfvars"
	ActionTerraformApply = "terraform apply"
)

// Defaults of an AddWorker request.
const (
	DefaultTFVars        = "terraform.tfvars"
	DefaultCountVariable = "worker_count"
	DefaultTypeVariable  = "worker_type"
)

// AddWorker asks for more worker nodes, the runbook's "Add a worker node"
// steps 3-6: raise worker_count (and optionally set worker_type) in
// terraform.tfvars, plan, apply, and watch the nodes join.
type AddWorker struct {
	// Dir is the Terraform working directory (deploy/terraform/hetzner).
	Dir string `json:"dir"`
	// TFVars is the variables file, relative to Dir; default
	// terraform.tfvars.
	TFVars string `json:"tfvars,omitempty"`
	// Count is the worker count wanted, at least the current one.
	Count int `json:"count"`
	// Type, when set, is the server type (worker_type) wanted. Changing
	// it replaces the existing workers in most configurations: the plan
	// says which, and blocks unless AcceptReplacement.
	Type string `json:"type,omitempty"`
	// CountVariable and TypeVariable name the variables; default
	// worker_count and worker_type.
	CountVariable string `json:"countVariable,omitempty"`
	TypeVariable  string `json:"typeVariable,omitempty"`
	// Note appends "# was <old>" to each edited line, so the file says
	// what it held before.
	Note bool `json:"note,omitempty"`
	// AcceptReplacement lets a plan that replaces existing workers go
	// ahead. Terraform replaces them in one apply, up to its parallelism
	// at a time: that is not a rolling replacement, so accept it only for
	// workers whose pods can all be down at once.
	AcceptReplacement bool `json:"acceptReplacement,omitempty"`
	// NodeSelector selects the worker pool's Nodes, for Verify (e.g.
	// "node.kubernetes.io/instance-type=cpx32"); empty means every node.
	NodeSelector string `json:"nodeSelector,omitempty"`
	// PendingNamespace and PendingSelector select the pending pods Verify
	// waits for; empty means every pod pending when planned.
	PendingNamespace string `json:"pendingNamespace,omitempty"`
	PendingSelector  string `json:"pendingSelector,omitempty"`
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func (r AddWorker) withDefaults() AddWorker {
	if r.TFVars == "" {
		r.TFVars = DefaultTFVars
	}
	if r.CountVariable == "" {
		r.CountVariable = DefaultCountVariable
	}
	if r.TypeVariable == "" {
		r.TypeVariable = DefaultTypeVariable
	}
	return r
}

func (r AddWorker) validate() error {
	bad := func(field string, v any, reason string) error {
		return &scaling.InvalidInputError{Field: "AddWorker." + field, Value: v, Reason: reason}
	}
	switch {
	case r.Count < 1:
		return bad("Count", r.Count, "must be at least 1")
	case r.Count > 1000:
		return bad("Count", r.Count, "is more workers than one plan should add")
	case filepath.IsAbs(r.TFVars) || strings.Contains(filepath.ToSlash(filepath.Clean(r.TFVars)), ".."):
		return bad("TFVars", r.TFVars, "must be a file inside Dir")
	case !identifier.MatchString(r.CountVariable):
		return bad("CountVariable", r.CountVariable, "is not a Terraform variable name")
	case !identifier.MatchString(r.TypeVariable):
		return bad("TypeVariable", r.TypeVariable, "is not a Terraform variable name")
	case r.Type != "" && !identifier.MatchString(r.Type):
		return bad("Type", r.Type, "is not a server type name")
	}
	for field, sel := range map[string]string{"NodeSelector": r.NodeSelector, "PendingSelector": r.PendingSelector} {
		if _, err := labels.Parse(sel); err != nil {
			return bad(field, sel, err.Error())
		}
	}
	return nil
}

type addSpec struct {
	Request AddWorker `json:"request"`
	// Dir is the absolute working directory; TFVarsPath the file edited.
	Dir        string `json:"dir"`
	TFVarsPath string `json:"tfvarsPath"`
	// PlanFile is the saved Terraform plan Apply applies.
	PlanFile string `json:"planFile,omitempty"`
	// Current and CurrentType are the values before the edit.
	Current     int    `json:"current"`
	CurrentType string `json:"currentType,omitempty"`
	// Edited is the digest of the tfvars after the edit: the file holds
	// it once applied.
	Edited    string           `json:"edited"`
	Terraform TerraformSummary `json:"terraform"`
	// PoolBefore are the pool's nodes when planned; Pending the pods that
	// pended, as namespace/name.
	PoolBefore []string     `json:"poolBefore,omitempty"`
	Pending    []string     `json:"pending,omitempty"`
	Causes     opkit.Causes `json:"causes,omitempty"`

	// edited is the new tfvars content, in memory only: Apply writes what
	// it computed from the file just now, never bytes from a stored plan.
	edited []byte
}

// PlanAddWorker edits the tfvars in memory, runs terraform init (in a
// directory never initialised) and terraform plan -out with the edited
// values, and returns a plan showing the tfvars diff and the Terraform
// plan's changes by address. The tfvars file is not written while
// planning: the edited values reach Terraform through a var file that
// overrides it, removed once the plan is saved.
//
// Invalid input is a *scaling.InvalidInputError and an undeclared variable
// a *VariableMissingError, before Terraform runs; a tfvars file that is
// missing, malformed or not literal is a *TFVarsError; a held state lock a
// *StateLockedError; no binary a *TerraformNotFoundError; another
// Terraform failure a *TerraformError. Guards: a count below the current
// one blocks (GuardWorkerCount), a destroy or replacement of existing
// resources blocks (GuardReplacement), other changes in the Terraform plan
// warn (GuardOtherChanges). The plan is a no-op when the tfvars already
// hold the values and Terraform plans no change.
//
// Apply refuses the plan, writing nothing, when the tfvars file, the state
// (lineage and serial) or the saved plan file changed since planning; it
// then writes the tfvars file (atomically, keeping every other byte) and
// applies exactly the saved plan, whose own staleness check Terraform
// keeps. The tfvars are written first: were the apply run first and the
// write then fail, the next terraform plan would remove the new workers.
// Applying an applied plan is a no-op. Verify watches until the new nodes
// have registered and are Ready, then until the pods that pended are
// scheduled; its default deadline (DefaultVerifyTimeout, 5 min) allows
// for a Talos node's bootstrap of about 2 minutes.
func (c *Client) PlanAddWorker(ctx context.Context, req AddWorker) (*scaling.Plan, error) {
	plan, _, err := c.planAddWorker(ctx, req, nil)
	return plan, err
}

// planAddWorker plans a request; with stored set (Apply's derivation) it
// reads the stored plan's saved Terraform plan instead of making one.
func (c *Client) planAddWorker(ctx context.Context, req AddWorker, stored *addSpec) (*scaling.Plan, *addSpec, error) {
	req = req.withDefaults()
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	dir, err := workdir("AddWorker.Dir", req.Dir)
	if err != nil {
		return nil, nil, err
	}
	spec := &addSpec{Request: req, Dir: dir, TFVarsPath: filepath.Join(dir, req.TFVars)}
	src, err := os.ReadFile(spec.TFVarsPath)
	if err != nil {
		return nil, nil, &TFVarsError{File: spec.TFVarsPath, Reason: "cannot be read: " + err.Error(), Err: err}
	}
	vars, err := declaredVariables(dir)
	if err != nil {
		return nil, nil, err
	}
	current, err := currentCount(spec.TFVarsPath, src, req.CountVariable, vars)
	if err != nil {
		return nil, nil, err
	}
	spec.Current = current
	sets := []tfvars.Set{{Name: req.CountVariable, Value: cty.NumberIntVal(int64(req.Count))}}
	if req.Note && req.Count != current {
		sets[0].Note = "was " + strconv.Itoa(current)
	}
	if req.Count == current {
		sets = nil
	}
	if req.Type != "" {
		cur, err := currentString(spec.TFVarsPath, src, req.TypeVariable, vars)
		if err != nil {
			return nil, nil, err
		}
		spec.CurrentType = cur
		if cur != req.Type {
			s := tfvars.Set{Name: req.TypeVariable, Value: cty.StringVal(req.Type)}
			if req.Note {
				s.Note = "was " + cur
			}
			sets = append(sets, s)
		}
	}
	edited := src
	if len(sets) > 0 {
		if edited, err = tfvars.Edit(src, spec.TFVarsPath, sets...); err != nil {
			return nil, nil, tfvarsError(spec.TFVarsPath, err)
		}
	}
	spec.edited, spec.Edited = edited, digest(edited)

	tf, err := c.terraformFor(dir)
	if err != nil {
		return nil, nil, err
	}
	state, tfPlan, planFile, applied, err := c.terraformPlan(ctx, tf, dir, stored, edited, false)
	if err != nil {
		return nil, nil, err
	}
	if applied {
		return c.appliedPlan(OpAddWorker, dir, "the tfvars hold the planned values and the state holds every resource the plan creates"), stored, nil
	}
	spec.PlanFile = planFile
	spec.Terraform = summarise(tfPlan)
	type planned struct {
		name string
		want cty.Value
	}
	checks := []planned{{req.CountVariable, cty.NumberIntVal(int64(req.Count))}}
	if req.Type != "" {
		checks = append(checks, planned{req.TypeVariable, cty.StringVal(req.Type)})
	}
	for _, ch := range checks {
		got, ok := checkPlannedValue(tfPlan, ch.name, ch.want)
		switch {
		case ok:
		case stored != nil:
			// The saved Terraform plan would apply another value than
			// the stored request asks for: one of the two was edited.
			return nil, nil, &scaling.PlanMismatchError{Operation: OpAddWorker, Differences: []scaling.Difference{
				{Field: "saved Terraform plan's " + ch.name, Planned: render(ch.want), Derived: got}}}
		default:
			return nil, nil, &TerraformError{Command: "plan", Err: fmt.Errorf("the saved plan sets %s = %s, not %s: another variable source (TF_CLI_ARGS, an *.auto.tfvars file) overrides the tfvars file", ch.name, got, render(ch.want))}
		}
	}
	if err := c.readPool(ctx, spec, stored); err != nil {
		return nil, nil, err
	}

	ref := tfDirRef(dir)
	planDigest, err := fileDigest(planFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the saved Terraform plan: %w", err)
	}
	plan := &scaling.Plan{
		Version: scaling.PlanVersion, Operation: OpAddWorker, Target: ref, CreatedAt: time.Now().UTC(),
		Guards: addWorkerGuards(req, spec),
		Fingerprint: scaling.Fingerprint{
			scaling.FingerprintKey(ref, AspectTFVars):   digest(src),
			scaling.FingerprintKey(ref, AspectState):    state.version(),
			scaling.FingerprintKey(ref, AspectPlanFile): planDigest,
		},
	}
	tfvarsChanged := !slices.Equal(edited, src)
	if tfvarsChanged {
		plan.Steps = append(plan.Steps, scaling.Step{Action: ActionEditTFVars, Object: scaling.ObjectRef{Kind: "TFVarsFile", Name: spec.TFVarsPath},
			Field: req.CountVariable, Before: strconv.Itoa(current), After: strconv.Itoa(req.Count),
			Note: "written before the apply, atomically, every other byte kept: the file must say what the infrastructure is"})
		if req.Type != "" && spec.CurrentType != req.Type {
			plan.Steps = append(plan.Steps, scaling.Step{Action: ActionEditTFVars, Object: scaling.ObjectRef{Kind: "TFVarsFile", Name: spec.TFVarsPath},
				Field: req.TypeVariable, Before: spec.CurrentType, After: req.Type, Note: "in the same write"})
		}
	}
	if !spec.Terraform.Empty() {
		plan.Steps = append(plan.Steps, scaling.Step{Action: ActionTerraformApply, Object: scaling.ObjectRef{Kind: "TerraformPlan", Name: planFile},
			Field: "resources", Before: fmt.Sprintf("%d in the state", len(state.Resources)), After: spec.Terraform.String(),
			Note: "exactly the saved plan: Terraform refuses it if the state moved since"})
	}
	plan.NoOp = len(plan.Steps) == 0
	if plan.NoOp {
		plan.Summary = fmt.Sprintf("%s already sets %s = %d and Terraform plans no change: nothing to do.", req.TFVars, req.CountVariable, req.Count)
		_ = os.Remove(planFile) // nothing will apply it
	} else {
		plan.Summary = fmt.Sprintf("Workers %d -> %d in %s: %s.", current, req.Count, dir, spec.Terraform)
	}
	plan.Diff = tfvarsDiff(c.red, req.TFVars, src, edited) + spec.Terraform.lines()
	if spec.Causes, err = opkit.CausesOf(plan.Guards); err != nil {
		return nil, nil, err
	}
	if plan.Spec, err = planspec.Encode(spec); err != nil {
		return nil, nil, err
	}
	return plan, spec, nil
}

// terraformPlan reads the state and makes (or, for a stored plan, reads
// back) the saved Terraform plan. applied reports a stored plan whose
// outcome holds: the tfvars hold its edit and the state every address it
// creates.
func (c *Client) terraformPlan(ctx context.Context, tf terraform, dir string, stored *addSpec, edited []byte, destroy bool) (st tfState, p *tfjson.Plan, planFile string, applied bool, err error) {
	if stored == nil {
		if st, planFile, err = c.stateAndPlan(ctx, tf, dir, edited, destroy); err != nil {
			return
		}
	} else {
		if err = initialised(ctx, tf, func() error { st, err = readState(ctx, tf); return err }); err != nil {
			return
		}
		planFile = stored.PlanFile
		_, gone := os.Stat(planFile)
		// Applied: the tfvars hold the edit and the state what the plan
		// created, or (a plan that only replaces) the plan file Apply
		// removes after a successful apply is gone.
		if stored.Edited == digest(edited) && (len(stored.Terraform.Add) > 0 && containsAll(st.Resources, stored.Terraform.Add) ||
			len(stored.Terraform.Add) == 0 && errors.Is(gone, os.ErrNotExist)) {
			applied = true
			return
		}
		if err = storedPlanFile(dir, planFile); err != nil {
			return
		}
	}
	if p, err = tf.ShowPlanFile(ctx, planFile); err != nil {
		err = classifyTerraformError("show", err)
	}
	return
}

// makePlan runs terraform plan -out into PlanDir, the edited tfvars given
// as a var file (which Terraform reads after terraform.tfvars, so its
// values win) and removed afterwards.
func (c *Client) makePlan(ctx context.Context, tf terraform, dir string, edited []byte, destroy bool) (string, error) {
	pd := filepath.Join(dir, PlanDir)
	if err := os.MkdirAll(pd, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", pd, err)
	}
	id := newPlanID()
	varFile := ""
	if edited != nil {
		varFile = filepath.Join(pd, id+".tfvars")
		if err := os.WriteFile(varFile, edited, 0o600); err != nil {
			return "", err
		}
		defer os.Remove(varFile)
	}
	planFile := filepath.Join(pd, id+".tfplan")
	if err := tf.Plan(ctx, planFile, varFile, destroy); err != nil {
		_ = os.Remove(planFile)
		return "", classifyTerraformError("plan", err)
	}
	_ = os.Chmod(planFile, 0o600)
	return planFile, nil
}

func newPlanID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// storedPlanFile checks a stored plan's saved Terraform plan: one of this
// directory's PlanDir (a stored plan cannot point Apply at another file),
// and still there.
func storedPlanFile(dir, file string) error {
	rel, err := filepath.Rel(filepath.Join(dir, PlanDir), file)
	if err != nil || strings.Contains(rel, string(filepath.Separator)) || rel == ".." || !strings.HasSuffix(rel, ".tfplan") {
		return &scaling.InvalidPlanError{Reason: "the saved Terraform plan " + file + " is not in " + filepath.Join(dir, PlanDir)}
	}
	if _, err := os.Stat(file); err != nil {
		return &scaling.InvalidPlanError{Reason: "the saved Terraform plan " + file + " is gone: plan again"}
	}
	return nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// appliedPlan is the derived plan of a stored plan that was applied: a
// no-op, which opkit.Check answers with Changed false.
func (c *Client) appliedPlan(op, dir, why string) *scaling.Plan {
	return &scaling.Plan{Version: scaling.PlanVersion, Operation: op, Target: tfDirRef(dir), NoOp: true, CreatedAt: time.Now().UTC(), Summary: "Applied already: " + why + "."}
}

// checkPlannedValue proves the saved plan was made with the value the
// tfvars edit sets (got is the plan's value): a var file that did not win
// (a -var in TF_CLI_ARGS, an auto.tfvars loaded later) would otherwise
// apply something else than the diff shows.
func checkPlannedValue(p *tfjson.Plan, name string, want cty.Value) (got string, ok bool) {
	v, present := p.Variables[name]
	if !present || v == nil {
		return "(no value)", false
	}
	got = fmt.Sprint(v.Value)
	return got, got == render(want)
}

// render shows a cty primitive as Terraform's plan JSON holds it.
func render(v cty.Value) string {
	if v.Type() == cty.Number {
		i, _ := v.AsBigFloat().Int(new(big.Int))
		return i.String()
	}
	return v.AsString()
}

func currentCount(file string, src []byte, name string, vars map[string]declaredVariable) (int, error) {
	v, err := currentValue(file, src, name, vars)
	if err != nil {
		return 0, err
	}
	if v.Type() != cty.Number {
		return 0, &TFVarsError{File: file, Variable: name, Reason: "is " + v.Type().FriendlyName() + ", not a number"}
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, &TFVarsError{File: file, Variable: name, Reason: "is not a whole number"}
	}
	i, _ := bf.Int64()
	return int(i), nil
}

func currentString(file string, src []byte, name string, vars map[string]declaredVariable) (string, error) {
	v, err := currentValue(file, src, name, vars)
	if err != nil {
		return "", err
	}
	if v.Type() != cty.String {
		return "", &TFVarsError{File: file, Variable: name, Reason: "is " + v.Type().FriendlyName() + ", not a string"}
	}
	return v.AsString(), nil
}

// currentValue is the variable's value as Terraform would take it: the
// tfvars literal, else the declared default.
func currentValue(file string, src []byte, name string, vars map[string]declaredVariable) (cty.Value, error) {
	decl, ok := vars[name]
	if !ok {
		return cty.NilVal, &VariableMissingError{Dir: filepath.Dir(file), Variable: name, Declared: variableNames(vars)}
	}
	v, err := tfvars.Lookup(src, file, name)
	var te *tfvars.Error
	switch {
	case err == nil:
	case errors.As(err, &te) && te.Kind == tfvars.KindMissing:
		if decl.Default == nil || decl.Default.IsNull() {
			return cty.NilVal, &TFVarsError{File: file, Variable: name, Reason: "is not set, and the variable has no default"}
		}
		v = *decl.Default
	default:
		return cty.NilVal, tfvarsError(file, err)
	}
	if v.IsNull() || !v.IsKnown() {
		return cty.NilVal, &TFVarsError{File: file, Variable: name, Reason: "is null"}
	}
	return v, nil
}

func tfvarsError(file string, err error) error {
	e := &TFVarsError{File: file, Reason: err.Error(), Err: err}
	var te *tfvars.Error
	if errors.As(err, &te) {
		e.Variable, e.Line, e.Column, e.Reason = te.Name, te.Line, te.Column, te.Detail
	}
	return e
}

// tfvarsDiff is the unified diff of the tfvars edit, each line whose key
// is secret (hcloud_token = "...") shown redacted, context included.
func tfvarsDiff(red *redact.Redactor, name string, before, after []byte) string {
	if slices.Equal(before, after) {
		return ""
	}
	s, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(redactTFVars(red, string(before))), B: difflib.SplitLines(redactTFVars(red, string(after))),
		FromFile: name, ToFile: name + " (planned)", Context: 3,
	})
	return s
}

var tfvarsLine = regexp.MustCompile(`^(\s*)([A-Za-z_][A-Za-z0-9_-]*)(\s*=\s*)(.*)$`)

// redactTFVars replaces the value of each top-level line whose key is
// secret. A multi-line secret (a heredoc) is redacted from its first line
// to its end marker.
func redactTFVars(red *redact.Redactor, src string) string {
	lines := strings.SplitAfter(src, "\n")
	heredocEnd := ""
	for i, l := range lines {
		if heredocEnd != "" {
			if strings.TrimSpace(l) == heredocEnd {
				heredocEnd = ""
			} else {
				lines[i] = "  (sensitive)\n"
			}
			continue
		}
		m := tfvarsLine.FindStringSubmatch(strings.TrimRight(l, "\r\n"))
		if m == nil || !red.SensitiveKey(m[2]) {
			continue
		}
		if v := strings.TrimSpace(m[4]); strings.HasPrefix(v, "<<") {
			heredocEnd = strings.TrimPrefix(strings.TrimPrefix(v, "<<"), "-")
		}
		lines[i] = m[1] + m[2] + m[3] + redact.Placeholder("tfvars."+m[2], m[4]) + l[len(strings.TrimRight(l, "\r\n")):]
	}
	return strings.Join(lines, "")
}

// readPool records the pool's nodes and the pending pods, for Verify.
// A derived plan keeps the stored plan's record: nodes and pods come and
// go without anything a person approved changing.
func (c *Client) readPool(ctx context.Context, spec *addSpec, stored *addSpec) error {
	if stored != nil {
		spec.PoolBefore, spec.Pending = stored.PoolBefore, stored.Pending
		return nil
	}
	req := spec.Request
	nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: req.NodeSelector})
	if err != nil {
		return fmt.Errorf("listing the worker pool's nodes: %w", err)
	}
	sel, _ := labels.Parse(req.NodeSelector)
	for _, n := range nodes.Items {
		if sel.Matches(labels.Set(n.Labels)) { // a fake ignores selectors
			spec.PoolBefore = append(spec.PoolBefore, n.Name)
		}
	}
	slices.Sort(spec.PoolBefore)
	pods, err := c.kube.CoreV1().Pods(req.PendingNamespace).List(ctx, metav1.ListOptions{LabelSelector: req.PendingSelector, FieldSelector: "spec.nodeName="})
	if err != nil {
		return fmt.Errorf("listing the pending pods: %w", err)
	}
	psel, _ := labels.Parse(req.PendingSelector)
	for _, p := range pods.Items {
		if unscheduled(&p) && psel.Matches(labels.Set(p.Labels)) {
			spec.Pending = append(spec.Pending, key(p.Namespace, p.Name))
		}
	}
	slices.Sort(spec.Pending)
	return nil
}

func unscheduled(p *corev1.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodPending
}

func addWorkerGuards(req AddWorker, spec *addSpec) []scaling.GuardResult {
	var gs []scaling.GuardResult
	if req.Count < spec.Current {
		e := &RemovingWorkersError{Variable: req.CountVariable, Current: spec.Current, Requested: req.Count}
		gs = append(gs, scaling.GuardResult{Name: GuardWorkerCount, Outcome: scaling.Block, Reason: e.Error(), Cause: e,
			Remedy: "drain the workers to remove (nodes.Drain), then lower " + req.CountVariable + " by hand and review terraform plan"})
	} else {
		gs = append(gs, scaling.GuardResult{Name: GuardWorkerCount, Outcome: scaling.Pass,
			Reason: fmt.Sprintf("%s %d -> %d adds %d worker(s)", req.CountVariable, spec.Current, req.Count, req.Count-spec.Current)})
	}
	tf := spec.Terraform
	change := ""
	if req.Type != "" && spec.CurrentType != req.Type {
		change = spec.CurrentType + " -> " + req.Type
	}
	switch {
	case len(tf.Destroy) > 0 || (len(tf.Replace) > 0 && !req.AcceptReplacement):
		e := &ReplacementError{Replace: tf.Replace, Destroy: tf.Destroy, TypeChange: change}
		remedy := "adding workers must not touch existing resources: find what changed in the configuration (terraform plan)"
		if len(tf.Destroy) == 0 {
			remedy = "Terraform would replace these in one apply, not one at a time: drain and replace each worker in turn (nodes.Drain, then terraform apply -replace), add a second pool for the new type, or set AcceptReplacement when their pods may all be down at once"
		}
		gs = append(gs, scaling.GuardResult{Name: GuardReplacement, Outcome: scaling.Block, Reason: e.Error(), Cause: e, Remedy: remedy})
	case len(tf.Replace) > 0:
		gs = append(gs, scaling.GuardResult{Name: GuardReplacement, Outcome: scaling.Warn,
			Reason: "accepted: Terraform replaces " + strings.Join(tf.Replace, ", ") + " in one apply (server type " + change + "): their pods are down until the new servers join",
			Remedy: "drain them first (nodes.Drain) so their pods move before the servers go"})
	default:
		gs = append(gs, scaling.GuardResult{Name: GuardReplacement, Outcome: scaling.Pass, Reason: "no existing resource is destroyed or replaced"})
	}
	if want := req.Count - spec.Current; len(tf.Change) > 0 || (want >= 0 && len(tf.Add) > want+len(tf.Replace)) {
		gs = append(gs, scaling.GuardResult{Name: GuardOtherChanges, Outcome: scaling.Warn,
			Reason: fmt.Sprintf("the Terraform plan does more than add %d worker(s): %s; applying the saved plan applies all of it", want, tf),
			Remedy: "read the Terraform changes in the diff; apply other pending changes on their own first"})
	}
	return gs
}

// deriveAddWorker plans a stored AddWorker again from the live files and
// state, reading back its saved Terraform plan. The derived spec carries
// the bytes to write, computed from the file just now.
func (c *Client) deriveAddWorker(ctx context.Context, spec *addSpec) (*scaling.Plan, *addSpec, error) {
	return c.planAddWorker(ctx, spec.Request, spec)
}

// applyAddWorker writes the tfvars and applies the saved plan.
func (c *Client) applyAddWorker(ctx context.Context, plan *scaling.Plan, spec *addSpec) (*scaling.Applied, error) {
	tf, err := c.terraformFor(spec.Dir)
	if err != nil {
		return nil, err
	}
	planned := plan.Fingerprint[scaling.FingerprintKey(plan.Target, AspectTFVars)]
	wrote := false
	run := opkit.Run{Plan: plan, Progress: c.opts.Progress, StepTimeout: c.opts.StepTimeout,
		Acts: func(_ int, s scaling.Step) bool { return s.Action == ActionTerraformApply || !wrote },
	}
	return run.Apply(ctx, func(ctx context.Context, _ int, s scaling.Step) (bool, error) {
		switch s.Action {
		case ActionEditTFVars:
			wrote = true
			// Checked again right before the write: Check compared the
			// file a moment ago, an editor may have saved it since.
			if now, err := fileDigest(spec.TFVarsPath); err != nil || now != planned {
				return false, &scaling.StalePlanError{Operation: plan.Operation, Drift: []scaling.Drift{{Key: scaling.FingerprintKey(plan.Target, AspectTFVars), Planned: planned, Live: now}}}
			}
			if err := writeFileAtomic(spec.TFVarsPath, spec.edited); err != nil {
				return false, fmt.Errorf("writing %s: %w", spec.TFVarsPath, err)
			}
			return true, nil
		case ActionTerraformApply:
			if err := tf.Apply(ctx, spec.PlanFile); err != nil {
				return false, classifyTerraformError("apply", err)
			}
			// The saved plan holds every variable in clear text, and
			// Terraform would refuse it now anyway (stale).
			_ = os.Remove(spec.PlanFile)
			return true, nil
		}
		return false, &scaling.InvalidPlanError{Reason: "unknown step " + s.Action}
	})
}
