package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.Run(m, testenv.Options{CNPG: true})
	if pluginDir != "" {
		_ = os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

// pluginDir holds the built plugin, removed when the tests end.
var pluginDir string

const release = "ironflow"

// plugin is the kubectl-scaling binary, built once per test run as a user
// builds it (go build, no race detector), so the tests run the program a
// user runs, as a subprocess.
var plugin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kubectl-scaling-")
	if err != nil {
		return "", err
	}
	pluginDir = dir
	bin := filepath.Join(dir, "kubectl-scaling")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// userEnv is one namespace with a release of the reference chart installed
// by real Helm, and the plugin pointed at it with kubectl's flags.
type userEnv struct {
	t        testing.TB
	env      *testenv.Env
	ns       string
	dir      string
	releases *helmrelease.Client
	// environ, when set, is the plugin's environment.
	environ []string
}

func newUserEnv(t testing.TB, vals map[string]any) *userEnv {
	t.Helper()
	env := testenv.Shared()
	require.NotNil(t, env, "TestMain starts the control plane")
	u := &userEnv{t: t, env: env, ns: env.Namespace(t), dir: t.TempDir()}
	u.releases = helmrelease.New(env.RESTConfig(), env.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := u.releases.Install(ctx, u.ns, release, testenv.ChartPath("ironflow"), vals, time.Minute)
	require.NoError(t, err)
	return u
}

// appOnly is the reference chart with the app clustered at n replicas and
// its NATS and PostgreSQL parts off (their commands have their own tests).
func appOnly(n int) map[string]any {
	return map[string]any{"replicaCount": n, "cluster": map[string]any{"enabled": true},
		"nats": map[string]any{"enabled": false}, "postgresql": map[string]any{"enabled": false}}
}

// ran is one run of the plugin.
type ran struct {
	code           int
	stdout, stderr string
}

func (r ran) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// run runs `kubectl scaling ARGS` with the kubeconfig, namespace and chart a
// user would pass, stdin not a terminal.
func (u *userEnv) run(args ...string) ran {
	u.t.Helper()
	return u.runRaw(append(args, u.flags()...)...)
}

// flags are the kubeconfig, namespace and chart a user passes.
func (u *userEnv) flags() []string {
	return []string{"--kubeconfig", u.env.Kubeconfig, "-n", u.ns, "--chart", testenv.ChartPath("ironflow")}
}

// runRaw runs `kubectl scaling ARGS` with exactly these arguments.
func (u *userEnv) runRaw(args ...string) ran {
	u.t.Helper()
	bin, err := plugin()
	require.NoError(u.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = u.dir, u.environ
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		u.t.Fatalf("running %v: %v", args, err)
	}
	return ran{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func (u *userEnv) revision() int {
	u.t.Helper()
	rel, err := u.releases.Last(context.Background(), u.ns, release)
	require.NoError(u.t, err)
	return rel.Revision
}

func (u *userEnv) readyPods() int {
	u.t.Helper()
	n, err := u.env.ReadyPods(context.Background(), u.ns, "app.kubernetes.io/name=ironflow")
	require.NoError(u.t, err)
	return n
}

func (u *userEnv) path(name string) string { return filepath.Join(u.dir, name) }

// The runbook's first procedure the Terraform way, as a script runs it:
// plan and save, review, apply the saved plan, verify it; then apply it
// again (nothing changes) and verify again.
func TestE2EReplicasPlanSaveApplyVerify(t *testing.T) {
	u := newUserEnv(t, appOnly(3))

	planned := u.run("replicas", release, "5", "--out", "scale.json")
	require.Equal(t, exitOK, planned.code, planned)
	assert.Contains(t, planned.stdout, "replicaCount: 3 -> 5", "the plan shows the change")
	assert.Contains(t, planned.stderr, "kubectl scaling apply "+u.path("scale.json")[len(u.dir)+1:])
	assert.Equal(t, 1, u.revision(), "planning and saving write nothing")
	info, err := os.Stat(u.path("scale.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "a plan is readable only by its owner")

	shown := u.run("show", "scale.json", "-o", "json")
	require.Equal(t, exitOK, shown.code, shown)
	plan, err := scaling.Decode([]byte(shown.stdout))
	require.NoError(t, err, "show -o json is a plan the SDK reads back")
	assert.Equal(t, "scale.Replicas", plan.Operation)
	require.NotEmpty(t, plan.Steps)
	assert.Equal(t, "5", plan.Steps[len(plan.Steps)-1].After)

	unapproved := u.run("apply", "scale.json")
	assert.Equal(t, exitFailed, unapproved.code, "no terminal and no --auto-approve is not done: %s", unapproved)
	assert.Contains(t, unapproved.stderr, "not applied")
	assert.Equal(t, 1, u.revision(), "nothing is written without approval")

	applied := u.run("apply", "scale.json", "--auto-approve")
	require.Equal(t, exitOK, applied.code, applied)
	assert.Equal(t, 2, u.revision())
	assert.Equal(t, 5, u.readyPods(), "exit 0 means the pods are Ready")
	assert.Contains(t, applied.stdout, "Succeeded", "the verification is printed")
	assert.Regexp(t, `(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z Applying step 1/\d+ .*: started$`, applied.stderr, "not a terminal: timestamped progress lines")
	assert.Regexp(t, `(?m)Verifying check pods-ready: 5 Ready of 5 .*ok$`, applied.stderr, "the checks as Verify observed them")

	again := u.run("apply", "scale.json", "--auto-approve")
	require.Equal(t, exitOK, again.code, again)
	assert.Contains(t, again.stderr, "Nothing to change")
	assert.Equal(t, 2, u.revision(), "an applied plan applied again writes nothing")

	// Shell completion (what cobra's completion scripts call) offers the
	// namespace's releases, then the size templates.
	completed := u.runRaw(append(u.flags(), "__complete", "replicas", "")...)
	require.Equal(t, exitOK, completed.code, completed)
	assert.Equal(t, []string{release, ":4"}, strings.Fields(completed.stdout), "the release, and no file names")
	completed = u.runRaw(append(u.flags(), "__complete", "template", release, "")...)
	assert.Equal(t, []string{"small", "medium", "large", "xl", "enterprise", ":4"}, strings.Fields(completed.stdout))

	verified := u.run("verify", "scale.json", "-o", "json")
	require.Equal(t, exitOK, verified.code, verified)
	var v scaling.Verification
	require.NoError(t, json.Unmarshal([]byte(verified.stdout), &v))
	assert.Equal(t, scaling.Succeeded, v.Phase)
}

// A plan a guard blocks exits 2 with the guard's reason and advice, whether
// it is applied on the spot or saved; nothing is written or saved.
func TestE2EBlockedPlanExits2WithAdvice(t *testing.T) {
	u := newUserEnv(t, map[string]any{"replicaCount": 1, "cluster": map[string]any{"enabled": false},
		"nats": map[string]any{"enabled": false}, "postgresql": map[string]any{"enabled": false}})

	blocked := u.run("replicas", release, "3", "--auto-approve")
	require.Equal(t, exitBlocked, blocked.code, blocked)
	assert.Contains(t, blocked.stdout, "clustering", "the plan names the guard")
	assert.Contains(t, blocked.stdout, "->", "and its advice")

	saved := u.run("replicas", release, "3", "--out", "blocked.json", "-o", "json")
	require.Equal(t, exitBlocked, saved.code, saved)
	assert.Contains(t, saved.stderr, "[block] clustering", "with -o json the guards are on stderr")
	_, err := os.Stat(u.path("blocked.json"))
	assert.True(t, os.IsNotExist(err), "a blocked plan is not saved")
	plan, err := scaling.Decode([]byte(saved.stdout))
	require.NoError(t, err)
	assert.NotEmpty(t, plan.Blocking())
	assert.Equal(t, 1, u.revision(), "nothing was written")
}

// A saved plan whose release changed since exits 3 and writes nothing.
func TestE2EStalePlanExits3(t *testing.T) {
	u := newUserEnv(t, appOnly(3))
	require.Equal(t, exitOK, u.run("replicas", release, "5", "--out", "five.json").code)
	other := u.run("replicas", release, "4", "--auto-approve", "-q")
	require.Equal(t, exitOK, other.code, other)
	require.Equal(t, 2, u.revision())

	stale := u.run("apply", "five.json", "--auto-approve")
	require.Equal(t, exitStale, stale.code, stale)
	assert.Contains(t, stale.stderr, "stale")
	assert.Contains(t, stale.stderr, "Plan again")
	assert.Equal(t, 2, u.revision(), "a stale plan writes nothing")
	assert.Equal(t, 4, u.readyPods())
}

// -o json on a run that applies is one document: the plan, what Apply did,
// what Verify saw.
func TestE2EApplyJSONDocument(t *testing.T) {
	u := newUserEnv(t, appOnly(2))
	out := u.run("replicas", release, "3", "--auto-approve", "-o", "json")
	require.Equal(t, exitOK, out.code, out)
	var doc struct {
		Plan         json.RawMessage      `json:"plan"`
		Applied      scaling.Applied      `json:"applied"`
		Verification scaling.Verification `json:"verification"`
	}
	require.NoError(t, json.Unmarshal([]byte(out.stdout), &doc), out.stdout)
	plan, err := scaling.Decode(doc.Plan)
	require.NoError(t, err)
	assert.Equal(t, "scale.Replicas", plan.Operation)
	assert.True(t, doc.Applied.Changed)
	assert.Equal(t, scaling.Succeeded, doc.Verification.Phase)
	assert.Equal(t, 3, u.readyPods())
}

// Verify of a plan that was saved and never applied fails (the release does
// not carry the value): exit 4.
func TestE2EVerifyOfUnappliedPlanExits4(t *testing.T) {
	u := newUserEnv(t, appOnly(2))
	require.Equal(t, exitOK, u.run("replicas", release, "4", "--out", "four.json").code)
	v := u.run("verify", "four.json", "--timeout", "3s")
	require.Equal(t, exitVerify, v.code, v)
	assert.Contains(t, v.stderr, "verification")
	assert.Equal(t, 1, u.revision())
}

// Bad input is exit 1 with the field named, before any request.
func TestE2EBadInputExits1(t *testing.T) {
	u := newUserEnv(t, appOnly(1))
	for _, args := range [][]string{
		{"replicas", release, "five"},
		{"replicas", "pod/x", "2"},
		{"resources", release, "--requests", "cpu=lots"},
		{"template", release, "huge"},
		{"apply", "missing.json", "--auto-approve"},
		{"replicas", release, "2", "--out", "x.json", "--auto-approve"},
		{"replicas", release, "2", "-o", "xml"},
	} {
		r := u.run(args...)
		assert.Equal(t, exitFailed, r.code, "%v: %s", args, r)
		assert.Contains(t, r.stderr, "Error: ", "%v", args)
	}
	assert.Equal(t, 1, u.revision())
}
