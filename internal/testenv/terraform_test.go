package testenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

const poolLabel = "scaling.ironflow.dev/pool"

// terraform runs the fixture's binary in a fixture copy, as the SDK will
// (through terraform-exec), with the environment of Env.TerraformEnv.
type terraform struct {
	t   *testing.T
	bin string
	dir string
	env map[string]string
}

func newTerraform(t *testing.T, dir string, env map[string]string) *terraform {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin, err := TerraformBinary(ctx)
	require.NoError(t, err)
	return &terraform{t: t, bin: bin, dir: dir, env: env}
}

func (tf *terraform) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf.bin, args...)
	cmd.Dir = tf.dir
	for k, v := range tf.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a command that must succeed and returns its output and duration.
func (tf *terraform) must(args ...string) (string, time.Duration) {
	tf.t.Helper()
	start := time.Now()
	out, err := tf.run(args...)
	require.NoError(tf.t, err, "%s %s:\n%s", filepath.Base(tf.bin), strings.Join(args, " "), out)
	return out, time.Since(start)
}

// setVar edits the copy's terraform.tfvars, as an operator would.
func (tf *terraform) setVar(name, value string) {
	tf.t.Helper()
	require.NoError(tf.t, setTFVar(filepath.Join(tf.dir, "terraform.tfvars"), name, value))
}

type planChange struct {
	Address string
	Actions []string
	Replace [][]any
}

// plan saves a plan and returns its resource changes other than no-ops, by
// address.
func (tf *terraform) plan() map[string]planChange {
	tf.t.Helper()
	tf.must("plan", "-input=false", "-no-color", "-out=tfplan")
	out, _ := tf.must("show", "-json", "tfplan")
	var p struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions      []string `json:"actions"`
				ReplacePaths [][]any  `json:"replace_paths"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	require.NoError(tf.t, json.Unmarshal([]byte(out), &p), out)
	changes := map[string]planChange{}
	for _, rc := range p.ResourceChanges {
		if slices.Equal(rc.Change.Actions, []string{"no-op"}) {
			continue
		}
		changes[rc.Address] = planChange{rc.Address, rc.Change.Actions, rc.Change.ReplacePaths}
	}
	return changes
}

// nodeRecorder watches the nodes of a pool and remembers when each was
// first seen, first Ready, first Ready without taints (schedulable), and
// deleted.
type nodeRecorder struct {
	mu      sync.Mutex
	changed chan struct{}
	nodes   map[string]*recordedNode
}

type recordedNode struct {
	node                    *corev1.Node
	seen, ready, untainted  time.Time
	readyBeforeFirstSeenAdd bool
	deleted                 bool
}

func recordNodes(t *testing.T, env *Env, pool string) *nodeRecorder {
	r := &nodeRecorder{changed: make(chan struct{}), nodes: map[string]*recordedNode{}}
	f := informers.NewSharedInformerFactoryWithOptions(env.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = poolLabel + "=" + pool
	}))
	inf := f.Core().V1().Nodes().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.update(obj, false) },
		UpdateFunc: func(_, obj any) { r.update(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			r.update(obj, true)
		},
	})
	require.NoError(t, err)
	stop := make(chan struct{})
	f.Start(stop)
	t.Cleanup(func() { close(stop); f.Shutdown() })
	require.True(t, cache.WaitForCacheSync(stop, inf.HasSynced))
	return r
}

func (r *nodeRecorder) update(obj any, deleted bool) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rn := r.nodes[n.Name]
	if rn == nil || (rn.deleted && !deleted) {
		// A name seen again after a delete is a new node (a replacement).
		rn = &recordedNode{seen: now, readyBeforeFirstSeenAdd: ready(n.Status.Conditions)}
		r.nodes[n.Name] = rn
	}
	rn.node, rn.deleted = n, deleted
	if !deleted && ready(n.Status.Conditions) {
		if rn.ready.IsZero() {
			rn.ready = now
		}
		if rn.untainted.IsZero() && !hasNotReadyTaint(n) && !n.Spec.Unschedulable {
			rn.untainted = now
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// hasNotReadyTaint reports the taints the node lifecycle controller manages
// for the Ready condition (and the fixture registers with).
func hasNotReadyTaint(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return true
		}
	}
	return false
}

// wait blocks until cond holds for the recorded nodes, or timeout.
func (r *nodeRecorder) wait(t *testing.T, what string, timeout time.Duration, cond func(map[string]*recordedNode) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ok, ch := cond(r.nodes), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			r.mu.Lock()
			var states []string
			for name, rn := range r.nodes {
				states = append(states, name+": "+describeNode(rn))
			}
			r.mu.Unlock()
			t.Fatalf("timed out after %s waiting for %s; nodes: %s\n%s", timeout, what, strings.Join(states, "; "), Shared().LogTail("kwok", 15))
		}
	}
}

func (r *nodeRecorder) get(name string) recordedNode {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn := r.nodes[name]; rn != nil {
		return *rn
	}
	return recordedNode{}
}

func describeNode(rn *recordedNode) string {
	if rn.deleted {
		return "deleted"
	}
	var taints []string
	for _, t := range rn.node.Spec.Taints {
		taints = append(taints, t.Key+":"+string(t.Effect))
	}
	return "ready=" + boolString(ready(rn.node.Status.Conditions)) + " taints=" + strings.Join(taints, ",")
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func live(names ...string) func(map[string]*recordedNode) bool {
	return func(m map[string]*recordedNode) bool {
		for _, n := range names {
			if rn := m[n]; rn == nil || rn.deleted || rn.untainted.IsZero() {
				return false
			}
		}
		return true
	}
}

// deleteClusterNodes removes what the fixture's workers put in the cluster,
// whatever state a failed test left Terraform in.
func deleteClusterNodes(t *testing.T, env *Env, cluster string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: poolLabel + "=" + cluster + "-workers"})
	if err == nil {
		for _, n := range nodes.Items {
			_ = env.Client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})
		}
	}
	leases, err := env.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, l := range leases.Items {
			if strings.HasPrefix(l.Name, cluster+"-worker-") {
				_ = env.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, l.Name, metav1.DeleteOptions{})
			}
		}
	}
}

// uniqueCluster is a cluster name unique to this run: node names are
// cluster-scoped and the package's tests share a control plane.
func uniqueCluster(prefix string) string { return prefix + "-" + randomHex(3) }

// The fixture's whole life with the real binary: a worker added by apply
// registers NotReady and turns Ready after the simulated boot, with its
// type's capacity and labels; one more worker plans as exactly one create;
// a new server type plans as replacements (and applies as new nodes of the
// new size); destroy deletes the nodes.
func TestTerraformFixtureWorkersBecomeNodes(t *testing.T) {
	env := Shared()
	require.NotNil(t, env)
	const boot = 5 * time.Second
	cluster := uniqueCluster("tf")
	pool := cluster + "-workers"
	dir := TerraformFixture(t, "hetzner", WithClusterName(cluster), WithTFVar("worker_count", "1"))
	t.Cleanup(func() { deleteClusterNodes(t, env, cluster) })
	tf := newTerraform(t, dir, env.TerraformEnv(boot))
	version, _ := tf.must("version")
	t.Logf("binary %s: %s", tf.bin, strings.SplitN(version, "\n", 2)[0])
	rec := recordNodes(t, env, pool)
	ctx := ctxT(t)
	w1, w2 := cluster+"-worker-1", cluster+"-worker-2"

	_, initTime := tf.must("init", "-input=false", "-no-color")
	var made []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tf") && e.Name() != "terraform.tfvars" {
			made = append(made, e.Name())
		}
	}
	t.Logf("init: %s, created %v", initTime.Round(time.Millisecond), made)

	_, applyTime := tf.must("apply", "-auto-approve", "-input=false", "-no-color")
	applyEnd := time.Now()

	// Registered by the provisioner during apply, and not Ready yet: the boot
	// has not ended when apply returns.
	n, err := env.Client.CoreV1().Nodes().Get(ctx, w1, metav1.GetOptions{})
	require.NoError(t, err, "node registered by apply")
	assert.False(t, ready(n.Status.Conditions), "NotReady right after apply")
	assert.True(t, hasNotReadyTaint(n), "not-ready taint while booting: %v", n.Spec.Taints)
	want := map[string]string{
		"node.kubernetes.io/instance-type": "cpx32",
		"kubernetes.io/hostname":           w1,
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"type":                             "kwok",
		"topology.kubernetes.io/zone":      "fsn1",
		poolLabel:                          pool,
	}
	for k, v := range want {
		assert.Equal(t, v, n.Labels[k], "label %s", k)
	}
	assert.Equal(t, "fake", n.Annotations["kwok.x-k8s.io/node"])
	lease, err := env.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, w1, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "talos-boot", *lease.Spec.HolderIdentity, "the boot holds the node's lease")

	// KWOK takes the lease when the boot's expires, retrying every ~10 s
	// (--node-lease-duration-seconds=40 / 4); the controller manager then
	// lifts the not-ready taints (its monitor runs every 5 s).
	rec.wait(t, w1+" Ready and untainted", boot+30*time.Second, live(w1))
	r1 := rec.get(w1)
	assert.False(t, r1.readyBeforeFirstSeenAdd, "first seen NotReady")
	created := r1.node.CreationTimestamp.Time
	assert.GreaterOrEqual(t, r1.ready.Sub(created), boot-time.Second, "Ready only after the boot delay")
	t.Logf("apply (1 worker, boot %s): %s; node %s Ready %s after apply end (%s after it registered), schedulable (untainted) %s after apply end",
		boot, applyTime.Round(time.Millisecond), w1, r1.ready.Sub(applyEnd).Round(time.Millisecond),
		r1.ready.Sub(created).Round(100*time.Millisecond), r1.untainted.Sub(applyEnd).Round(time.Millisecond))

	n, err = env.Client.CoreV1().Nodes().Get(ctx, w1, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "4", n.Status.Capacity.Cpu().String(), "cpx32 vCPUs, not KWOK's default")
	assert.Equal(t, "8Gi", n.Status.Capacity.Memory().String())
	assert.Equal(t, "4", n.Status.Allocatable.Cpu().String())
	assert.Equal(t, "8Gi", n.Status.Allocatable.Memory().String())
	assert.Equal(t, int64(110), n.Status.Allocatable.Pods().Value())
	assert.Empty(t, n.Spec.Taints)
	assert.False(t, n.Spec.Unschedulable)
	lease, err = env.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, w1, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, "talos-boot", *lease.Spec.HolderIdentity, "KWOK heartbeats the node now")

	out, _ := tf.must("output", "-json")
	var outputs map[string]struct{ Value any }
	require.NoError(t, json.Unmarshal([]byte(out), &outputs), out)
	assert.Equal(t, []any{w1}, outputs["worker_names"].Value)
	assert.Equal(t, float64(1), outputs["worker_count"].Value)
	assert.Equal(t, pool, outputs["worker_pool"].Value)
	state, _ := tf.must("state", "list")
	assert.Equal(t, []string{"terraform_data.control_plane[0]", "terraform_data.load_balancer", "terraform_data.volume[0]", "terraform_data.worker[0]"},
		strings.Fields(state))

	// One more worker: exactly one create, the new worker; nothing else.
	tf.setVar("worker_count", "2")
	changes := tf.plan()
	require.Len(t, changes, 1, "%v", changes)
	assert.Equal(t, []string{"create"}, changes["terraform_data.worker[1]"].Actions, "%v", changes)
	_, err = env.Client.CoreV1().Nodes().Get(ctx, w2, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "plan runs no provisioner: %v", err)
	_, applyTime = tf.must("apply", "-input=false", "-no-color", "tfplan")
	applyEnd = time.Now()
	rec.wait(t, w2+" Ready and untainted", boot+30*time.Second, live(w1, w2))
	r2 := rec.get(w2)
	assert.False(t, r2.readyBeforeFirstSeenAdd)
	t.Logf("apply of the saved plan (+1 worker): %s; %s Ready %s after apply end, schedulable %s after",
		applyTime.Round(time.Millisecond), w2, r2.ready.Sub(applyEnd).Round(time.Millisecond), r2.untainted.Sub(applyEnd).Round(time.Millisecond))
	assert.Equal(t, r1.seen, rec.get(w1).seen, "the first worker was left alone")

	// A new server type replaces every worker: the operation must see it.
	tf.setVar("worker_type", `"cpx42"`)
	changes = tf.plan()
	require.Len(t, changes, 2, "%v", changes)
	for _, a := range []string{"terraform_data.worker[0]", "terraform_data.worker[1]"} {
		c := changes[a]
		assert.ElementsMatch(t, []string{"delete", "create"}, c.Actions, "%s: %v", a, c.Actions)
		assert.Contains(t, c.Replace, []any{"triggers_replace"}, a)
		t.Logf("%s: %v, replace_paths %v", a, c.Actions, c.Replace)
	}
	oldUIDs := map[string]string{w1: string(rec.get(w1).node.UID), w2: string(rec.get(w2).node.UID)}
	_, applyTime = tf.must("apply", "-input=false", "-no-color", "tfplan")
	applyEnd = time.Now()
	rec.wait(t, "replaced workers Ready and untainted", boot+30*time.Second, func(m map[string]*recordedNode) bool {
		for _, name := range []string{w1, w2} {
			rn := m[name]
			if rn == nil || rn.deleted || rn.untainted.IsZero() || rn.node.Labels["node.kubernetes.io/instance-type"] != "cpx42" {
				return false
			}
		}
		return true
	})
	for _, name := range []string{w1, w2} {
		rn := rec.get(name)
		assert.NotEqual(t, oldUIDs[name], string(rn.node.UID), "%s: a new node", name)
		assert.GreaterOrEqual(t, rn.ready.Sub(rn.node.CreationTimestamp.Time), boot-time.Second, "%s: Ready only after the boot delay", name)
		assert.Equal(t, "8", rn.node.Status.Capacity.Cpu().String(), "%s: cpx42", name)
		assert.Equal(t, "16Gi", rn.node.Status.Capacity.Memory().String(), "%s: cpx42", name)
		assert.False(t, rn.readyBeforeFirstSeenAdd, "%s: the new server boots first", name)
		t.Logf("replaced %s: Ready %s after the end of the apply (which took %s)", name, rn.ready.Sub(applyEnd).Round(time.Millisecond), applyTime.Round(time.Millisecond))
	}

	// Destroy deletes the nodes (and their leases).
	_, destroyTime := tf.must("destroy", "-auto-approve", "-input=false", "-no-color")
	t.Logf("destroy: %s", destroyTime.Round(time.Millisecond))
	for _, name := range []string{w1, w2} {
		_, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "node %s deleted: %v", name, err)
		_, err = env.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "lease %s deleted: %v", name, err)
	}
	state, _ = tf.must("state", "list")
	assert.Empty(t, strings.TrimSpace(state))
}

// A destroy plan lists every server, volume and load balancer by address.
func TestTerraformFixtureDestroyPlan(t *testing.T) {
	env := Shared()
	require.NotNil(t, env)
	cluster := uniqueCluster("tfd")
	dir := TerraformFixture(t, "hetzner", WithClusterName(cluster))
	t.Cleanup(func() { deleteClusterNodes(t, env, cluster) })
	tf := newTerraform(t, dir, env.TerraformEnv(0))
	tf.must("init", "-input=false", "-no-color")
	tf.must("apply", "-auto-approve", "-input=false", "-no-color")
	rec := recordNodes(t, env, cluster+"-workers")
	// No boot delay: KWOK takes the nodes over at once.
	rec.wait(t, "both workers Ready", 30*time.Second, live(cluster+"-worker-1", cluster+"-worker-2"))

	tf.must("plan", "-destroy", "-input=false", "-no-color", "-out=tfplan")
	out, _ := tf.must("show", "-json", "tfplan")
	var p struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	var deleted []string
	for _, rc := range p.ResourceChanges {
		if slices.Equal(rc.Change.Actions, []string{"delete"}) {
			deleted = append(deleted, rc.Address)
		}
	}
	assert.ElementsMatch(t, []string{"terraform_data.control_plane[0]", "terraform_data.load_balancer", "terraform_data.volume[0]",
		"terraform_data.worker[0]", "terraform_data.worker[1]"}, deleted)
	tf.must("apply", "-input=false", "-no-color", "tfplan")
	rec.wait(t, "workers deleted", 30*time.Second, func(m map[string]*recordedNode) bool {
		for _, name := range []string{cluster + "-worker-1", cluster + "-worker-2"} {
			if rn := m[name]; rn == nil || !rn.deleted {
				return false
			}
		}
		return true
	})
}

// The provisioners fail loudly without KUBECTL or KUBECONFIG: a misconfigured
// test must not pass with no node created.
func TestTerraformFixtureNeedsKubectl(t *testing.T) {
	env := Shared()
	require.NotNil(t, env)
	for _, missing := range []string{"KUBECTL", "KUBECONFIG"} {
		t.Run(missing, func(t *testing.T) {
			cluster := uniqueCluster("tfk")
			dir := TerraformFixture(t, "hetzner", WithClusterName(cluster), WithTFVar("worker_count", "1"))
			t.Cleanup(func() { deleteClusterNodes(t, env, cluster) })
			e := env.TerraformEnv(0)
			delete(e, missing)
			tf := newTerraform(t, dir, e)
			tf.must("init", "-input=false", "-no-color")
			out, err := tf.run("apply", "-auto-approve", "-input=false", "-no-color")
			require.Error(t, err, out)
			assert.Contains(t, out, missing+" ")
			assert.Contains(t, out, "must be set")
			_, err = env.Client.CoreV1().Nodes().Get(ctxT(t), cluster+"-worker-1", metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "no node: %v", err)
		})
	}
}

// A worker named like an existing node fails the apply instead of taking
// the node over.
func TestTerraformFixtureRefusesExistingNode(t *testing.T) {
	env := Shared()
	require.NotNil(t, env)
	cluster := uniqueCluster("tfx")
	dir := TerraformFixture(t, "hetzner", WithClusterName(cluster), WithTFVar("worker_count", "1"))
	t.Cleanup(func() { deleteClusterNodes(t, env, cluster) })
	require.NoError(t, env.AddNode(ctxT(t), NodeSpec{Name: cluster + "-worker-1", Labels: map[string]string{poolLabel: cluster + "-workers"}}))
	tf := newTerraform(t, dir, env.TerraformEnv(0))
	tf.must("init", "-input=false", "-no-color")
	out, err := tf.run("apply", "-auto-approve", "-input=false", "-no-color")
	require.Error(t, err, out)
	assert.Contains(t, out, "already exists")
}

func TestTerraformFixtureOptions(t *testing.T) {
	dir := TerraformFixture(t, "hetzner", WithClusterName("blue-7"), WithTFVar("worker_count", "5"), WithTFVar("volume_size", "100"))
	b, err := os.ReadFile(filepath.Join(dir, "terraform.tfvars"))
	require.NoError(t, err)
	tfvars := string(b)
	assert.Contains(t, tfvars, "\ncluster_name = \"blue-7\"\n")
	assert.Contains(t, tfvars, "\nworker_count = 5 # one step at a time", "the comment is kept")
	assert.Contains(t, tfvars, "\nvolume_size = 100\n", "appended")
	assert.NotContains(t, tfvars, `"prod"`)
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	orig, err := os.ReadFile(filepath.Join(TerraformFixtureDir("hetzner"), "terraform.tfvars"))
	require.NoError(t, err)
	assert.Contains(t, string(orig), `cluster_name = "prod"`, "the fixture itself is untouched")

	require.Error(t, setTFVar(filepath.Join(dir, "terraform.tfvars"), "labels", `{}`), "a multi-line value")
}

func TestTerraformEnv(t *testing.T) {
	t.Setenv("TF_VAR_cluster_name", "leak")
	t.Setenv("TF_LOG", "TRACE")
	env := Shared()
	require.NotNil(t, env)
	e := env.TerraformEnv(1500 * time.Millisecond)
	assert.Equal(t, filepath.Join(env.BinDir, "kubectl"), e["KUBECTL"])
	assert.FileExists(t, e["KUBECTL"])
	assert.Equal(t, env.Kubeconfig, e["KUBECONFIG"])
	assert.Equal(t, "2", e["WORKER_BOOT_SECONDS"], "rounded up")
	assert.Equal(t, "0", env.TerraformEnv(0)["WORKER_BOOT_SECONDS"])
	assert.Equal(t, os.Getenv("PATH"), e["PATH"], "a whole environment: SetEnv replaces the process's")
	for k := range e {
		assert.False(t, strings.HasPrefix(k, "TF_"), k)
	}
}
