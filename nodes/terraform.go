package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/ironflow/scaling"
)

// PlanDir is the folder, inside a Terraform working directory, where the
// node operations keep the Terraform plan files their plans apply. A saved
// Terraform plan holds every variable's value in clear text (an
// hcloud_token among them), so the folder is 0700 and the files 0600, and
// a scaling.Plan records only their paths and digests.
const PlanDir = ".scaling-plans"

// terraform is what the node operations need of one Terraform working
// directory: the seam unit tests replace with a fake.
type terraform interface {
	// Init runs terraform init (no upgrade, no input).
	Init(ctx context.Context) error
	// Plan saves a plan to out, reading varFile after terraform.tfvars
	// (so its values win) when set; destroy plans a destroy.
	Plan(ctx context.Context, out, varFile string, destroy bool) error
	// ShowPlanFile reads a saved plan as JSON.
	ShowPlanFile(ctx context.Context, path string) (*tfjson.Plan, error)
	// Apply applies a saved plan: Terraform refuses it when the state
	// moved since (a stale plan).
	Apply(ctx context.Context, planFile string) error
	// StatePull returns the state as JSON, "" when there is none yet.
	StatePull(ctx context.Context) (string, error)
}

// execTerraform drives a terraform or tofu binary through terraform-exec.
type execTerraform struct{ tf *tfexec.Terraform }

func (e execTerraform) Init(ctx context.Context) error {
	return e.tf.Init(ctx, tfexec.Upgrade(false))
}

func (e execTerraform) Plan(ctx context.Context, out, varFile string, destroy bool) error {
	// Lock timeout 0: a lock someone holds is reported at once as a
	// *StateLockedError rather than waited on behind the caller's back.
	opts := []tfexec.PlanOption{tfexec.Out(out), tfexec.Destroy(destroy), tfexec.LockTimeout("0s")}
	if varFile != "" {
		opts = append(opts, tfexec.VarFile(varFile))
	}
	_, err := e.tf.Plan(ctx, opts...)
	return err
}

func (e execTerraform) ShowPlanFile(ctx context.Context, path string) (*tfjson.Plan, error) {
	return e.tf.ShowPlanFile(ctx, path)
}

func (e execTerraform) Apply(ctx context.Context, planFile string) error {
	return e.tf.Apply(ctx, tfexec.DirOrPlan(planFile), tfexec.LockTimeout("0s"))
}

func (e execTerraform) StatePull(ctx context.Context) (string, error) {
	return e.tf.StatePull(ctx)
}

// terraformFor opens a working directory with the configured binary.
func (c *Client) terraformFor(dir string) (terraform, error) {
	if c.newTerraform != nil {
		return c.newTerraform(dir)
	}
	bin, err := findTerraform(c.opts.Terraform)
	if err != nil {
		return nil, err
	}
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		return nil, fmt.Errorf("opening Terraform directory %s: %w", dir, err)
	}
	// terraform-exec replaces the whole environment when given one: the
	// process's own (PATH, HOME, cloud credentials) stays, the caller's
	// variables go on top.
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range c.opts.TerraformEnv {
		env[k] = v
	}
	if err := tf.SetEnv(tfexec.CleanEnv(env)); err != nil {
		return nil, fmt.Errorf("setting Terraform's environment: %w", err)
	}
	return execTerraform{tf}, nil
}

// findTerraform resolves Options.Terraform: a path or a command name, or,
// when empty, tofu then terraform on PATH.
func findTerraform(name string) (string, error) {
	tried := []string{"tofu", "terraform"}
	if name != "" {
		tried = []string{name}
	}
	for _, n := range tried {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", &TerraformNotFoundError{Tried: tried}
}

// tfState is what a plan records of a Terraform state: its identity and
// version, and the resource instances it holds.
type tfState struct {
	Lineage   string
	Serial    int64
	Resources []string
}

// version renders lineage and serial for a fingerprint: a new serial is a
// state someone wrote (an apply, an import), a new lineage another state.
func (s tfState) version() string {
	if s.Lineage == "" {
		return "no state"
	}
	return s.Lineage + " serial " + strconv.FormatInt(s.Serial, 10)
}

func readState(ctx context.Context, tf terraform) (tfState, error) {
	raw, err := tf.StatePull(ctx)
	if err != nil {
		return tfState{}, classifyTerraformError("state pull", err)
	}
	if strings.TrimSpace(raw) == "" {
		return tfState{}, nil
	}
	var doc struct {
		Lineage   string `json:"lineage"`
		Serial    int64  `json:"serial"`
		Resources []struct {
			Module    string `json:"module"`
			Mode      string `json:"mode"`
			Type      string `json:"type"`
			Name      string `json:"name"`
			Instances []struct {
				IndexKey any `json:"index_key"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return tfState{}, fmt.Errorf("reading the Terraform state: %w", err)
	}
	st := tfState{Lineage: doc.Lineage, Serial: doc.Serial}
	for _, r := range doc.Resources {
		if r.Mode != "managed" {
			continue
		}
		base := r.Type + "." + r.Name
		if r.Module != "" {
			base = r.Module + "." + base
		}
		for _, in := range r.Instances {
			switch k := in.IndexKey.(type) {
			case nil:
				st.Resources = append(st.Resources, base)
			case float64:
				st.Resources = append(st.Resources, base+"["+strconv.FormatFloat(k, 'f', -1, 64)+"]")
			case string:
				st.Resources = append(st.Resources, base+"["+strconv.Quote(k)+"]")
			}
		}
	}
	slices.Sort(st.Resources)
	return st, nil
}

// needsInit matches Terraform's and OpenTofu's words for a directory that
// must be initialised first (a new backend, a missing provider or module,
// a changed lock file).
var needsInit = regexp.MustCompile(`(?i)initialization required|(terraform|tofu) init|not installed|inconsistent dependency lock file`)

// initialised runs fn and, when Terraform says the directory needs init,
// runs terraform init once and fn again: an initialised directory (the
// common case) pays for no init, and one never initialised is initialised
// as Terraform itself advises. Init never upgrades what someone chose.
func initialised(ctx context.Context, tf terraform, fn func() error) error {
	err := fn()
	if err == nil || !needsInit.MatchString(err.Error()) {
		return err
	}
	if ierr := tf.Init(ctx); ierr != nil {
		return classifyTerraformError("init", ierr)
	}
	return fn()
}

// stateAndPlan reads the state while Terraform plans: state pull takes
// no lock, and a state written in between makes the saved plan stale,
// which Terraform's apply refuses.
func (c *Client) stateAndPlan(ctx context.Context, tf terraform, dir string, edited []byte, destroy bool) (st tfState, planFile string, err error) {
	err = initialised(ctx, tf, func() error {
		var serr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			st, serr = readState(ctx, tf)
		}()
		var perr error
		planFile, perr = c.makePlan(ctx, tf, dir, edited, destroy)
		<-done
		if perr != nil {
			return perr
		}
		if serr != nil {
			_ = os.Remove(planFile)
		}
		return serr
	})
	return st, planFile, err
}

// ResourceChange is one resource instance a Terraform plan changes.
type ResourceChange struct {
	// Address is the instance's address, e.g. "hcloud_server.worker[2]".
	Address string `json:"address"`
	// Type is the resource type, e.g. "hcloud_server".
	Type string `json:"type"`
	// Action is create, update, replace, delete or read.
	Action string `json:"action"`
	// Replacing lists the attributes that force a replacement, when
	// Terraform names them (a server_type change, say).
	Replacing []string `json:"replacing,omitempty"`
}

// TerraformSummary is what a Terraform plan does, by address.
type TerraformSummary struct {
	Add     []string `json:"add,omitempty"`
	Change  []string `json:"change,omitempty"`
	Replace []string `json:"replace,omitempty"`
	Destroy []string `json:"destroy,omitempty"`
	// Changes are every changing instance in address order.
	Changes []ResourceChange `json:"changes,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (s TerraformSummary) Empty() bool { return len(s.Changes) == 0 }

// String renders the summary as terraform plan's last line does.
func (s TerraformSummary) String() string {
	return fmt.Sprintf("%d to add, %d to change, %d to replace, %d to destroy", len(s.Add), len(s.Change), len(s.Replace), len(s.Destroy))
}

// lines renders each change as terraform plan's per-resource headline.
func (s TerraformSummary) lines() string {
	var b strings.Builder
	for _, ch := range s.Changes {
		switch ch.Action {
		case "create":
			fmt.Fprintf(&b, "  + %s will be created\n", ch.Address)
		case "update":
			fmt.Fprintf(&b, "  ~ %s will be updated in-place\n", ch.Address)
		case "replace":
			fmt.Fprintf(&b, "-/+ %s must be replaced", ch.Address)
			if len(ch.Replacing) > 0 {
				fmt.Fprintf(&b, " (forced by %s)", strings.Join(ch.Replacing, ", "))
			}
			b.WriteString("\n")
		case "delete":
			fmt.Fprintf(&b, "  - %s will be destroyed\n", ch.Address)
		}
	}
	fmt.Fprintf(&b, "Terraform plan: %s.\n", s)
	return b.String()
}

// summarise reads a saved plan's resource changes. No-op and read
// changes are left out: they change nothing.
func summarise(p *tfjson.Plan) TerraformSummary {
	var s TerraformSummary
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		a := rc.Change.Actions
		ch := ResourceChange{Address: rc.Address, Type: rc.Type}
		switch {
		case a.Create():
			ch.Action = "create"
			s.Add = append(s.Add, rc.Address)
		case a.Update():
			ch.Action = "update"
			s.Change = append(s.Change, rc.Address)
		case a.Replace():
			ch.Action = "replace"
			s.Replace = append(s.Replace, rc.Address)
			for _, path := range rc.Change.ReplacePaths {
				ch.Replacing = append(ch.Replacing, renderPath(path))
			}
		case a.Delete():
			ch.Action = "delete"
			s.Destroy = append(s.Destroy, rc.Address)
		default:
			continue
		}
		s.Changes = append(s.Changes, ch)
	}
	slices.SortFunc(s.Changes, func(a, b ResourceChange) int { return strings.Compare(a.Address, b.Address) })
	for _, l := range []*[]string{&s.Add, &s.Change, &s.Replace, &s.Destroy} {
		slices.Sort(*l)
	}
	return s
}

// renderPath renders a replace path ([]any of keys and indexes) dotted.
func renderPath(path any) string {
	steps, ok := path.([]any)
	if !ok {
		return fmt.Sprint(path)
	}
	var b strings.Builder
	for i, st := range steps {
		switch v := st.(type) {
		case string:
			if i > 0 {
				b.WriteString(".")
			}
			b.WriteString(v)
		default:
			fmt.Fprintf(&b, "[%v]", v)
		}
	}
	return b.String()
}

// fileDigest is a file's content digest for a fingerprint ("absent" when
// it does not exist).
func fileDigest(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	return digest(data), nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writeFileAtomic replaces path with data through a temporary file in the
// same folder and a rename, keeping the file's mode: a crash leaves the old
// file or the new one, never half of each.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

var lockField = regexp.MustCompile(`(?m)^\s*(ID|Path|Operation|Who|Created):\s*(.*)$`)

// classifyTerraformError turns Terraform's refusals that callers act on
// into typed errors: a held state lock, a stale saved plan.
func classifyTerraformError(command string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Error acquiring the state lock"):
		e := &StateLockedError{Command: command}
		for _, m := range lockField.FindAllStringSubmatch(msg, -1) {
			v := strings.TrimSpace(m[2])
			switch m[1] {
			case "ID":
				e.ID = v
			case "Path":
				e.Path = v
			case "Operation":
				e.Operation = v
			case "Who":
				e.Who = v
			case "Created":
				e.Created = v
			}
		}
		return e
	case strings.Contains(msg, "Saved plan is stale"):
		return &TerraformError{Command: command, Err: err, Stale: true}
	}
	return &TerraformError{Command: command, Err: err}
}

// workdir resolves a request's Terraform directory to an absolute,
// existing folder.
func workdir(field, dir string) (string, error) {
	if dir == "" {
		return "", &scaling.InvalidInputError{Field: field, Value: `""`, Reason: "is required: the Terraform working directory"}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", &scaling.InvalidInputError{Field: field, Value: dir, Reason: err.Error()}
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.IsDir() {
		return "", &scaling.InvalidInputError{Field: field, Value: dir, Reason: "is not a folder"}
	}
	return abs, nil
}

// tfDirRef names a Terraform working directory as a plan's target.
func tfDirRef(dir string) scaling.ObjectRef {
	return scaling.ObjectRef{Kind: "TerraformDirectory", Name: dir}
}

// Fingerprint aspects of a Terraform working directory.
const (
	AspectTFVars   = "tfvars"   // the tfvars file's content digest
	AspectState    = "state"    // the state's lineage and serial
	AspectPlanFile = "planfile" // the saved Terraform plan's digest
)
