package nodes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
)

// The unit tests of AddWorker and Destroy drive a real terraform or tofu
// (the one `make test` finds or builds) on nodes/testdata/terraform/plain,
// a configuration of builtin resources that plans and applies offline, and
// a fake clientset for the cluster side.

const secretToken = "hc-secret-token-do-not-show"

func terraformBin(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	bin, err := testenv.TerraformBinary(ctx)
	require.NoError(t, err, "the Terraform binary")
	return bin
}

type tfFixture struct {
	dir, bin string
	kube     *k8sfake.Clientset
	dyn      *dynamicfake.FakeDynamicClient
	c        *nodes.Client
}

// newTFFixture copies the plain configuration and applies it as it is
// (2 workers), as the infrastructure a user has before adding a worker.
func newTFFixture(t *testing.T, objs ...kruntime.Object) *tfFixture {
	t.Helper()
	f := &tfFixture{dir: t.TempDir(), bin: terraformBin(t)}
	src := filepath.Join("testdata", "terraform", "plain")
	for _, name := range []string{"main.tf", "terraform.tfvars"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, name), data, 0o644))
	}
	f.tf(t, "init", "-input=false")
	f.tf(t, "apply", "-auto-approve", "-input=false")
	f.kube = k8sfake.NewClientset(objs...)
	f.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(), map[schema.GroupVersionResource]string{
		clustersGVR: "ClusterList", {Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}: "PoolerList"})
	var err error
	f.c, err = nodes.New(&scaling.Cluster{Kube: f.kube, Dynamic: f.dyn}, nodes.Options{Terraform: f.bin, VerifyTimeout: 20 * time.Second})
	require.NoError(t, err)
	return f
}

func (f *tfFixture) tf(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(f.bin, args...)
	cmd.Dir = f.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v: %s%s", f.bin, args, out, stderr.String())
	return string(out)
}

func (f *tfFixture) tfvars(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "terraform.tfvars"))
	require.NoError(t, err)
	return data
}

// state is the state's serial and resource addresses.
func (f *tfFixture) state(t *testing.T) (int64, []string) {
	t.Helper()
	var doc struct {
		Serial    int64 `json:"serial"`
		Resources []struct {
			Type, Name string
			Instances  []struct {
				IndexKey any `json:"index_key"`
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(f.tf(t, "state", "pull")), &doc))
	var addrs []string
	for _, r := range doc.Resources {
		for _, in := range r.Instances {
			a := r.Type + "." + r.Name
			if in.IndexKey != nil {
				a += "[" + jsonString(in.IndexKey) + "]"
			}
			addrs = append(addrs, a)
		}
	}
	return doc.Serial, addrs
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAddWorkerPlansOneAddAppliesItAndReapplyingChangesNothing(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	before := f.tfvars(t)
	serial, _ := f.state(t)

	plan, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3, Note: true})
	require.NoError(t, err)
	assert.False(t, plan.NoOp)
	assert.Empty(t, plan.Blocking())
	assert.Equal(t, before, f.tfvars(t), "planning does not write the tfvars")
	s, _ := f.state(t)
	assert.Equal(t, serial, s, "planning does not write the state")

	require.Len(t, plan.Steps, 2)
	assert.Equal(t, nodes.ActionEditTFVars, plan.Steps[0].Action)
	assert.Equal(t, "worker_count", plan.Steps[0].Field)
	assert.Equal(t, "2", plan.Steps[0].Before)
	assert.Equal(t, "3", plan.Steps[0].After)
	assert.Equal(t, nodes.ActionTerraformApply, plan.Steps[1].Action)
	assert.Equal(t, "1 to add, 0 to change, 0 to replace, 0 to destroy", plan.Steps[1].After)
	assert.Contains(t, plan.Diff, "-worker_count = 2  # keep >= 2 for HA")
	assert.Contains(t, plan.Diff, "+worker_count = 3  # was 2; keep >= 2 for HA")
	assert.Contains(t, plan.Diff, "+ terraform_data.worker[2] will be created")

	data, err := json.Marshal(plan)
	require.NoError(t, err)
	assert.NotContains(t, string(data)+plan.String(), secretToken, "the token is in the diff's context and must be redacted")
	assert.Contains(t, plan.Diff, `hcloud_token = (sensitive sha256:`)

	stored := roundTrip(t, plan)
	res, err := f.c.Apply(ctx, stored)
	require.NoError(t, err)
	assert.True(t, res.Changed)
	after := f.tfvars(t)
	assert.Equal(t, strings.Replace(string(before), "worker_count = 2  # keep >= 2 for HA", "worker_count = 3  # was 2; keep >= 2 for HA", 1), string(after),
		"every other byte of the tfvars is kept")
	_, addrs := f.state(t)
	assert.Contains(t, addrs, "terraform_data.worker[2]")
	assert.NoFileExists(t, strings.TrimSpace(plan.Steps[1].Object.Name), "the saved plan (secrets in clear) is removed once applied")

	serial, _ = f.state(t)
	again, err := f.c.Apply(ctx, stored)
	require.NoError(t, err)
	assert.False(t, again.Changed, again.Reason)
	assert.Equal(t, after, f.tfvars(t))
	s, _ = f.state(t)
	assert.Equal(t, serial, s, "re-applying writes nothing")

	// Planning again now is a no-op.
	noop, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3})
	require.NoError(t, err)
	assert.True(t, noop.NoOp, noop.String())
}

func TestAddWorkerRefusesAPlanWhoseTFVarsChangedWithZeroWrites(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	plan, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3})
	require.NoError(t, err)
	// Someone edits the file between plan and apply.
	edited := append(f.tfvars(t), []byte("location = \"nbg1\"\n")...)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "terraform.tfvars"), edited, 0o644))
	serial, _ := f.state(t)

	_, err = f.c.Apply(ctx, roundTrip(t, plan))
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale)
	assert.Contains(t, stale.Drift[0].Key, "tfvars")
	assert.Equal(t, edited, f.tfvars(t), "the file is the user's, untouched")
	s, _ := f.state(t)
	assert.Equal(t, serial, s, "Terraform did not apply")
}

func TestAddWorkerRefusesAPlanWhoseStateMovedWithZeroWrites(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	plan, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3})
	require.NoError(t, err)
	before := f.tfvars(t)
	f.tf(t, "apply", "-auto-approve", "-input=false", "-replace=terraform_data.load_balancer")
	serial, _ := f.state(t)

	_, err = f.c.Apply(ctx, roundTrip(t, plan))
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale)
	assert.Contains(t, stale.Drift[0].Key, "state")
	assert.Equal(t, before, f.tfvars(t))
	s, _ := f.state(t)
	assert.Equal(t, serial, s)
}

func TestAddWorkerRefusesAnEditedPlanWithZeroWrites(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	plan, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3})
	require.NoError(t, err)
	before := f.tfvars(t)
	serial, _ := f.state(t)

	edits := map[string]func(p *scaling.Plan){
		"count raised in the spec": func(p *scaling.Plan) {
			p.Spec = json.RawMessage(strings.Replace(string(p.Spec), `"count":3`, `"count":9`, 1))
		},
		"plan file elsewhere": func(p *scaling.Plan) {
			p.Spec = json.RawMessage(strings.Replace(string(p.Spec), nodes.PlanDir, "..", 1))
		},
		"step shown differently": func(p *scaling.Plan) { p.Steps[0].After = "4" },
		"guards edited":          func(p *scaling.Plan) { p.Guards = nil },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			p := roundTrip(t, plan)
			edit(p)
			_, err := f.c.Apply(ctx, p)
			require.Error(t, err)
			assert.True(t, errors.Is(err, scaling.ErrPlanMismatch) || errors.Is(err, scaling.ErrInvalidPlan) || errors.Is(err, scaling.ErrStalePlan), "%v", err)
			assert.Equal(t, before, f.tfvars(t))
			s, _ := f.state(t)
			assert.Equal(t, serial, s)
		})
	}

	// The saved Terraform plan replaced by another one.
	other, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 5})
	require.NoError(t, err)
	data, err := os.ReadFile(other.Steps[1].Object.Name)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(plan.Steps[1].Object.Name, data, 0o600))
	_, err = f.c.Apply(ctx, roundTrip(t, plan))
	require.ErrorIs(t, err, scaling.ErrPlanMismatch)
	assert.Contains(t, err.Error(), "saved Terraform plan's worker_count")
	assert.Equal(t, before, f.tfvars(t))
	s, _ := f.state(t)
	assert.Equal(t, serial, s)
}

func TestAddWorkerBlocksAServerTypeChangeAsAReplacement(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	plan, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3, Type: "cpx42"})
	require.NoError(t, err)
	g, ok := plan.Guard(nodes.GuardReplacement)
	require.True(t, ok)
	assert.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "terraform_data.worker[0]")
	assert.Contains(t, g.Reason, "terraform_data.worker[1]")
	assert.Contains(t, g.Reason, "cpx32 -> cpx42")
	assert.Contains(t, g.Remedy, "not one at a time")
	assert.Contains(t, plan.Diff, `+worker_type  = "cpx42"`)

	before := f.tfvars(t)
	serial, _ := f.state(t)
	_, err = f.c.Apply(ctx, roundTrip(t, plan))
	var blocked *scaling.GuardBlockedError
	require.ErrorAs(t, err, &blocked)
	var repl *nodes.ReplacementError
	require.ErrorAs(t, err, &repl)
	assert.Equal(t, []string{"terraform_data.worker[0]", "terraform_data.worker[1]"}, repl.Replace)
	assert.Equal(t, before, f.tfvars(t))
	s, _ := f.state(t)
	assert.Equal(t, serial, s)

	accepted, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3, Type: "cpx42", AcceptReplacement: true})
	require.NoError(t, err)
	g, _ = accepted.Guard(nodes.GuardReplacement)
	assert.Equal(t, scaling.Warn, g.Outcome, g.Reason)
}

func TestAddWorkerBlocksACountBelowTheCurrentOne(t *testing.T) {
	f := newTFFixture(t)
	plan, err := f.c.PlanAddWorker(context.Background(), nodes.AddWorker{Dir: f.dir, Count: 1})
	require.NoError(t, err)
	g, _ := plan.Guard(nodes.GuardWorkerCount)
	assert.Equal(t, scaling.Block, g.Outcome)
	_, err = f.c.Apply(context.Background(), roundTrip(t, plan))
	var rm *nodes.RemovingWorkersError
	require.ErrorAs(t, err, &rm)
	assert.Equal(t, 2, rm.Current)
	assert.Equal(t, 1, rm.Requested)
}

func TestAddWorkerBadInputIsTypedAndRunsNothing(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	before := f.tfvars(t)
	cases := map[string]struct {
		req  nodes.AddWorker
		want error
	}{
		"no count":          {nodes.AddWorker{Dir: f.dir}, scaling.ErrInvalidInput},
		"no dir":            {nodes.AddWorker{Count: 3}, scaling.ErrInvalidInput},
		"tfvars outside":    {nodes.AddWorker{Dir: f.dir, Count: 3, TFVars: "../x.tfvars"}, scaling.ErrInvalidInput},
		"bad selector":      {nodes.AddWorker{Dir: f.dir, Count: 3, NodeSelector: "a in (b"}, scaling.ErrInvalidInput},
		"undeclared":        {nodes.AddWorker{Dir: f.dir, Count: 3, CountVariable: "workers"}, nodes.ErrVariableMissing},
		"missing tfvars":    {nodes.AddWorker{Dir: f.dir, Count: 3, TFVars: "prod.tfvars"}, nodes.ErrTFVars},
		"type not a string": {nodes.AddWorker{Dir: f.dir, Count: 3, Type: "cpx42", TypeVariable: "worker_count"}, nodes.ErrTFVars},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.c.PlanAddWorker(ctx, tc.req)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, before, f.tfvars(t))
			assert.NoDirExists(t, filepath.Join(f.dir, nodes.PlanDir), "Terraform did not plan")
		})
	}

	_, err := nodes.New(&scaling.Cluster{Kube: f.kube, Dynamic: f.dyn}, nodes.Options{TerraformEnv: map[string]string{"TF_VAR_worker_count": "9"}})
	require.ErrorIs(t, err, scaling.ErrInvalidInput)
	c, err := nodes.New(&scaling.Cluster{Kube: f.kube, Dynamic: f.dyn}, nodes.Options{Terraform: "no-such-terraform"})
	require.NoError(t, err)
	_, err = c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3})
	require.ErrorIs(t, err, nodes.ErrTerraformNotFound)
}

func TestAddWorkerRefusesANonLiteralTFVarsUntouched(t *testing.T) {
	f := newTFFixture(t)
	path := filepath.Join(f.dir, "terraform.tfvars")
	bad := bytes.Replace(f.tfvars(t), []byte("worker_count = 2"), []byte("worker_count = var.n"), 1)
	require.NoError(t, os.WriteFile(path, bad, 0o644))
	_, err := f.c.PlanAddWorker(context.Background(), nodes.AddWorker{Dir: f.dir, Count: 3})
	var te *nodes.TFVarsError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "worker_count", te.Variable)
	assert.Positive(t, te.Line)
	assert.Equal(t, bad, f.tfvars(t))
}

func TestAddWorkerReportsAHeldStateLock(t *testing.T) {
	f := newTFFixture(t)
	// Another run holds the lock: an apply whose new worker takes 20 s.
	cmd := exec.Command(f.bin, "apply", "-auto-approve", "-input=false", "-var", "worker_count=3", "-var", "hold_seconds=20")
	cmd.Dir = f.dir
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lockInfo := filepath.Join(f.dir, ".terraform.tfstate.lock.info")
	require.Eventually(t, func() bool { _, err := os.Stat(lockInfo); return err == nil }, 15*time.Second, 50*time.Millisecond, "the other run took the lock")

	_, err := f.c.PlanAddWorker(context.Background(), nodes.AddWorker{Dir: f.dir, Count: 3})
	var locked *nodes.StateLockedError
	require.ErrorAs(t, err, &locked, "%v", err)
	assert.NotEmpty(t, locked.ID)
	assert.Contains(t, locked.Operation, "Apply")
}

func TestAddWorkerVerifyWaitsForTheNewNodeAndThePendingPods(t *testing.T) {
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns, Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: "0/2 nodes are available: 2 Insufficient cpu."}}}}
	old := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "prod-worker-1", Labels: map[string]string{"pool": "workers"}}}
	f := newTFFixture(t, pending, old)
	ctx := context.Background()
	plan, err := f.c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3, NodeSelector: "pool=workers", PendingNamespace: ns, PendingSelector: "app=web"})
	require.NoError(t, err)
	_, err = f.c.Apply(ctx, roundTrip(t, plan))
	require.NoError(t, err)

	// Deadline with nothing joined: TimedOut naming what pends and why.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	v, err := f.c.Verify(short, plan)
	cancel()
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Contains(t, v.Reason, "Insufficient cpu")

	go func() {
		time.Sleep(100 * time.Millisecond)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "prod-worker-3", Labels: map[string]string{"pool": "workers"}}}
		n, _ = f.kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		time.Sleep(100 * time.Millisecond)
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		_, _ = f.kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		p := pending.DeepCopy()
		p.Spec.NodeName = "prod-worker-3"
		p.Status.Phase = corev1.PodRunning
		_, _ = f.kube.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
	}()
	v, err = f.c.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
	c, _ := v.Check("nodes-registered")
	assert.Contains(t, c.Observed, "prod-worker-3")
}

func TestDestroyBlocksUntilBackupsAreConfirmedAndEmptiesTheState(t *testing.T) {
	f := newTFFixture(t)
	ctx := context.Background()
	cl := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg", "namespace": ns},
		"spec":     map[string]any{"instances": int64(3), "backup": map[string]any{"barmanObjectStore": map[string]any{"destinationPath": "s3://backups/pg"}}},
		"status":   map[string]any{"lastSuccessfulBackup": "2026-12-01T03:00:00Z"}}}
	bare := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "scratch", "namespace": ns}, "spec": map[string]any{"instances": int64(1)}}}
	for _, u := range []*unstructured.Unstructured{cl, bare} {
		_, err := f.dyn.Resource(clustersGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	kinds := map[string]string{"terraform_data.worker": nodes.KindServer, "terraform_data.control_plane": nodes.KindServer,
		"terraform_data.volume": nodes.KindVolume, "terraform_data.load_balancer": nodes.KindLoadBalancer}
	_, before := f.state(t)

	plan, err := f.c.PlanDestroy(ctx, nodes.Destroy{Dir: f.dir, Kinds: kinds})
	require.NoError(t, err)
	g, _ := plan.Guard(nodes.GuardBackups)
	assert.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "app/pg: barmanObjectStore, last successful backup 2026-12-01T03:00:00Z")
	assert.Contains(t, g.Reason, "app/scratch: no backup method, last successful backup never")
	assert.Contains(t, plan.Summary, "3 server(s), 1 volume(s), 1 load balancer(s)")
	assert.Contains(t, plan.Diff, "- terraform_data.volume[0] (volume) will be destroyed")
	_, err = f.c.Apply(ctx, roundTrip(t, plan))
	var unconfirmed *nodes.BackupsUnconfirmedError
	require.ErrorAs(t, err, &unconfirmed)
	assert.Len(t, unconfirmed.Clusters, 2)
	_, now := f.state(t)
	assert.Equal(t, before, now, "nothing destroyed")

	plan, err = f.c.PlanDestroy(ctx, nodes.Destroy{Dir: f.dir, Kinds: kinds, ConfirmBackups: true})
	require.NoError(t, err)
	g, _ = plan.Guard(nodes.GuardBackups)
	assert.Equal(t, scaling.Warn, g.Outcome, "confirmed, but scratch has no backup method")
	res, err := f.c.Apply(ctx, roundTrip(t, plan))
	require.NoError(t, err)
	assert.True(t, res.Changed)
	v, err := f.c.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
	_, now = f.state(t)
	assert.Empty(t, now)

	again, err := f.c.Apply(ctx, roundTrip(t, plan))
	require.NoError(t, err)
	assert.False(t, again.Changed)
}

// A directory never initialised, with a local module Terraform refuses to
// plan without init: PlanAddWorker initialises it, as terraform plan's own
// error advises, and plans.
func TestAddWorkerInitialisesADirectoryThatNeedsIt(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("testdata", "terraform", "plain")
	for _, name := range []string{"main.tf", "terraform.tfvars"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "modules", "dns"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules", "dns", "main.tf"), []byte("resource \"terraform_data\" \"record\" {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dns.tf"), []byte("module \"dns\" {\n  source = \"./modules/dns\"\n}\n"), 0o644))
	c, err := nodes.New(&scaling.Cluster{Kube: k8sfake.NewClientset(), Dynamic: dynamicfake.NewSimpleDynamicClient(kruntime.NewScheme())}, nodes.Options{Terraform: terraformBin(t)})
	require.NoError(t, err)
	plan, err := c.PlanAddWorker(context.Background(), nodes.AddWorker{Dir: dir, Count: 3})
	require.NoError(t, err)
	assert.DirExists(t, filepath.Join(dir, ".terraform", "modules"), "initialised")
	assert.Contains(t, plan.Diff, "+ module.dns.terraform_data.record will be created")
	g, _ := plan.Guard(nodes.GuardOtherChanges)
	assert.Equal(t, scaling.Warn, g.Outcome, "the plan creates more than the worker: %s", g.Reason)
}
