package testenv

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Terraform fixtures live in internal/testenv/terraform/<name>. The one
// there, hetzner, stands in for a deploy/terraform/hetzner directory (Talos on
// Hetzner Cloud) without any provider: its servers, volumes and load balancer
// are builtin terraform_data resources, so init, plan and apply run offline
// with Terraform >= 1.4 or OpenTofu >= 1.6, and each worker's provisioners
// register (and at destroy delete) a KWOK node in this environment's control
// plane, which turns Ready after a simulated boot. Its variables, resource
// addresses and outputs are described in its .tf files.
//
// A test copies the fixture (TerraformFixture), finds the binary
// (TerraformBinary) and runs it in the copy with the environment of
// TerraformEnv:
//
//	bin, err := testenv.TerraformBinary(ctx)
//	dir := testenv.TerraformFixture(t, "hetzner", testenv.WithClusterName("add-worker"))
//	tf, _ := tfexec.NewTerraform(dir, bin)
//	_ = tf.SetEnv(env.TerraformEnv(2 * time.Second))

// TerraformBinary returns the path of terraform or tofu to drive: runs
// build/tofu.sh (which may build OpenTofu, ~12 min cold, cached by version)
// under ctx. The script prefers $SCALING_TERRAFORM, then tofu or terraform on
// PATH.
func TerraformBinary(ctx context.Context) (string, error) {
	bin, err := runBuildScript(ctx, "tofu.sh", "finding or building terraform")
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("internal/testenv/build/tofu.sh printed %q, not an executable", bin)
	}
	return bin, nil
}

// TerraformFixtureDir is the folder of the fixture name in the repository.
// Tests must not run Terraform there (TerraformFixture copies it).
func TerraformFixtureDir(name string) string {
	return filepath.Join(RepoRoot(), "internal", "testenv", "terraform", name)
}

// FixtureOption changes a copied fixture's terraform.tfvars.
type FixtureOption func(*fixtureOptions)

type fixtureOptions struct {
	vars [][2]string // name, HCL value, in order
}

// WithClusterName sets cluster_name in the copy's terraform.tfvars. Tests of
// one package share a control plane, and the workers' node names
// ("<cluster_name>-worker-<n>") are cluster-scoped: each test that applies
// the fixture should name its cluster uniquely (a name must be a DNS label
// of at most 40 characters, as the fixture's validation demands).
//
// It rewrites the tfvars line rather than setting TF_VAR_cluster_name:
// terraform-exec's SetEnv refuses TF_VAR_* variables, a value in
// terraform.tfvars wins over the environment anyway, and an SDK that reads
// the tfvars sees the same name Terraform uses.
func WithClusterName(name string) FixtureOption {
	return WithTFVar("cluster_name", strconv.Quote(name))
}

// WithTFVar sets the variable name to value, an HCL expression (`3`,
// `"cpx42"`), in the copy's terraform.tfvars: it replaces the value of the
// line `name = ...`, keeping its comment, or appends such a line when there
// is none. Only one-line assignments can be replaced.
func WithTFVar(name, value string) FixtureOption {
	return func(o *fixtureOptions) { o.vars = append(o.vars, [2]string{name, value}) }
}

// clusterName is what the fixture's validation accepts.
var clusterName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)

// TerraformFixture copies the fixture folder (internal/testenv/terraform/<name>)
// into t.TempDir() and returns the copy's path (tests edit its tfvars and
// hold its state). Options rewrite the copy's terraform.tfvars. Anything
// Terraform leaves in the source folder (.terraform, state, a lock file) is
// not copied.
func TerraformFixture(t testing.TB, name string, opts ...FixtureOption) string {
	t.Helper()
	var o fixtureOptions
	for _, opt := range opts {
		opt(&o)
	}
	src := TerraformFixtureDir(name)
	dst := filepath.Join(t.TempDir(), name)
	if err := copyFixture(src, dst); err != nil {
		t.Fatalf("copying terraform fixture %s: %v", name, err)
	}
	if len(o.vars) == 0 {
		return dst
	}
	tfvars := filepath.Join(dst, "terraform.tfvars")
	for _, v := range o.vars {
		if v[0] == "cluster_name" {
			if s, err := strconv.Unquote(v[1]); err == nil && !clusterName.MatchString(s) {
				t.Fatalf("terraform fixture %s: cluster name %q is not a DNS label of at most 40 characters", name, s)
			}
		}
		if err := setTFVar(tfvars, v[0], v[1]); err != nil {
			t.Fatalf("terraform fixture %s: %v", name, err)
		}
	}
	return dst
}

func copyFixture(src, dst string) error {
	if st, err := os.Stat(src); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a folder", src)
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		base := d.Name()
		if rel != "." && (base == ".terraform" || base == ".terraform.lock.hcl" ||
			strings.HasSuffix(base, ".tfstate") || strings.HasSuffix(base, ".tfstate.backup") || strings.HasSuffix(base, ".tfplan")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// setTFVar replaces the value of the one-line assignment of name in the tfvars
// file (keeping a trailing # comment), or appends one.
func setTFVar(path, name, value string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	line := regexp.MustCompile(`(?m)^([ \t]*` + regexp.QuoteMeta(name) + `[ \t]*=[ \t]*)(.*?)([ \t]*(?:#.*|//.*)?)$`)
	matches := line.FindAllSubmatchIndex(data, -1)
	switch len(matches) {
	case 0:
		if len(data) > 0 && data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		data = append(data, []byte(name+" = "+value+"\n")...)
	case 1:
		m := matches[0]
		old := strings.TrimSpace(string(data[m[4]:m[5]]))
		if old == "" || strings.HasSuffix(old, "{") || strings.HasSuffix(old, "[") || strings.HasPrefix(old, "<<") {
			return fmt.Errorf("%s: %s is not a one-line assignment", path, name)
		}
		var b []byte
		b = append(b, data[:m[4]]...)
		b = append(b, value...)
		b = append(b, data[m[5]:]...)
		data = b
	default:
		return fmt.Errorf("%s: %s is assigned %d times", path, name, len(matches))
	}
	return os.WriteFile(path, data, 0o644)
}

// TerraformEnv returns the environment variables the fixture's provisioners
// need on this env: KUBECTL (e.BinDir/kubectl), KUBECONFIG (e.Kubeconfig),
// WORKER_BOOT_SECONDS (bootDelay, rounded up to whole seconds; 0 makes
// workers Ready at once). As a map[string]string (terraform-exec's SetEnv
// takes one).
//
// The map is the whole environment to run Terraform with, since SetEnv
// replaces the process environment rather than adding to it: this process's
// environment (PATH, HOME, ...) without any TF_* variable (terraform-exec
// refuses TF_VAR_*, TF_LOG, TF_CLI_ARGS and others, and the host's
// TF_CLI_CONFIG_FILE or TF_VAR_* have no business in a test), plus the three
// variables above and CHECKPOINT_DISABLE=1 (no version check over the
// network). For os/exec, turn it into KEY=VALUE strings.
func (e *Env) TerraformEnv(bootDelay time.Duration) map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" || strings.HasPrefix(k, "TF_") {
			continue
		}
		env[k] = v
	}
	secs := 0
	if bootDelay > 0 {
		secs = int(math.Ceil(bootDelay.Seconds()))
	}
	env["KUBECTL"] = filepath.Join(e.BinDir, "kubectl")
	env["KUBECONFIG"] = e.Kubeconfig
	env["WORKER_BOOT_SECONDS"] = strconv.Itoa(secs)
	env["CHECKPOINT_DISABLE"] = "1"
	return env
}
