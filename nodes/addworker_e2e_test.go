package nodes_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/scale"
)

// TestE2EAddAWorkerForPendingPodsThenRebalanceThenDestroy is the runbook's
// "Add a worker node" done for real: the hetzner fixture applied by hand
// with 2 cpx32 workers (real terraform or tofu; each worker registers a
// KWOK node on the real control plane, NotReady until its simulated boot
// ends), pods pending with the real scheduler's "Insufficient cpu",
// Diagnose saying one more cpx32 is needed, AddWorker 2 -> 3 (the tfvars
// diff, a Terraform plan of one add), Verify seeing the node Ready and the
// pods scheduled, and scale's RolloutRestart spreading them. Then Option
// B: Destroy, blocked until backups are confirmed, destroys everything and
// the nodes leave the cluster.
func TestE2EAddAWorkerForPendingPodsThenRebalanceThenDestroy(t *testing.T) {
	env := testenv.Shared()
	require.NotNil(t, env)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := terraformBin(t)
	cluster := "seed-" + ns[len(ns)-5:]
	dir := testenv.TerraformFixture(t, "hetzner", testenv.WithClusterName(cluster))
	tfEnv := env.TerraformEnv(3 * time.Second)
	pool := "scaling.ironflow.dev/pool=" + cluster + "-workers"

	// By hand, as the infrastructure was built: init and apply.
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		cmd.Env = os.Environ()
		for k, v := range tfEnv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		return string(out)
	}
	run("init", "-input=false")
	run("apply", "-auto-approve", "-input=false")
	t.Cleanup(func() {
		// Whatever happened, the nodes leave the shared control plane.
		cmd := exec.Command(bin, "destroy", "-auto-approve", "-input=false")
		cmd.Dir, cmd.Env = dir, os.Environ()
		for k, v := range tfEnv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		_ = cmd.Run()
		for _, n := range []string{"1", "2", "3"} {
			_ = env.Client.CoreV1().Nodes().Delete(context.Background(), cluster+"-worker-"+n, metav1.DeleteOptions{})
		}
	})
	require.Eventually(t, func() bool { return readyNodes(t, env, pool) == 2 }, 2*time.Minute, 100*time.Millisecond, "the 2 workers booted")

	// Six pods of 1500m on two 4-CPU workers: two fit on each, two pend.
	labels := map[string]string{"app": "api"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](6), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"scaling.ironflow.dev/pool": cluster + "-workers"},
			Tolerations:  []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{Name: "api", Image: "ghcr.io/ironflow/api:1", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}},
		}}}}
	_, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(pendingWith(t, env, ns, "Insufficient cpu")) == 2 }, time.Minute, 100*time.Millisecond,
		"two pods pend with the real scheduler's Insufficient cpu")

	// The operator holds exactly the documented rules of the three
	// operations (but the metrics ones: no metrics-server runs here).
	perms := scaling.Permissions{
		Namespaced: []rbacv1.PolicyRule{scaling.Rule("", "pods", "list", "watch")},
		Cluster: []rbacv1.PolicyRule{
			scaling.Rule("", "nodes", "list", "watch"),
			scaling.Rule("", "pods", "list"),
			scaling.Rule("apps", "daemonsets", "list"),
			scaling.Rule("postgresql.cnpg.io", "clusters", "list"),
		}}
	for _, p := range []scaling.Permissions{nodes.DiagnosePermissions(), nodes.AddWorkerPermissions(), nodes.DestroyPermissions()} {
		for scope, rules := range map[string][]rbacv1.PolicyRule{"cluster": p.Cluster, "namespaced": p.Namespaced} {
			into := perms.Cluster
			if scope == "namespaced" {
				into = perms.Namespaced
			}
			for _, r := range rules {
				if r.APIGroups[0] == "metrics.k8s.io" {
					continue
				}
				for _, v := range r.Verbs {
					require.True(t, covers(into, r.APIGroups[0], r.Resources[0], v), "%s %v %v: the union is the packages' rules", scope, r, v)
				}
			}
		}
	}
	user := "operator-" + cluster
	rbactest.Grant(t, env.Client, user, perms, ns)
	rec := &reqcount.Recorder{}
	cfg := rbactest.As(env.RESTConfig(), user)
	cfg.Wrap(rec.Wrap)
	asUser, err := scaling.NewCluster(cfg)
	require.NoError(t, err)
	sc, err := scaling.NewCluster(env.RESTConfig())
	require.NoError(t, err)
	var events []string
	c, err := nodes.New(asUser, nodes.Options{Terraform: bin, TerraformEnv: tfEnv, Progress: func(ev scaling.Event) {
		if ev.Check != nil {
			events = append(events, ev.Check.Name+": "+ev.Check.Observed)
		}
	}})
	require.NoError(t, err)

	// Steps 1-2: why they pend and how many workers would fix it.
	d, err := c.Diagnose(ctx, nodes.Diagnose{Namespace: ns, ServerType: "cpx32", NodeSelector: pool})
	require.NoError(t, err)
	require.NotNil(t, d.Recommendation)
	assert.Equal(t, 1, d.Recommendation.AddNodes, d.String())
	assert.Len(t, d.Pending, 2)
	for _, p := range d.Pending {
		assert.Equal(t, nodes.ReasonInsufficientCPU, p.Reason, p.Message)
	}
	t.Logf("Diagnose:\n%s", d)

	// Steps 3-5: the tfvars edit and the Terraform plan.
	tfvars := filepath.Join(dir, "terraform.tfvars")
	before, err := os.ReadFile(tfvars)
	require.NoError(t, err)
	req := nodes.AddWorker{Dir: dir, Count: 2 + d.Recommendation.AddNodes, Note: true, NodeSelector: pool, PendingNamespace: ns}
	plan, err := c.PlanAddWorker(ctx, req)
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, "1 to add, 0 to change, 0 to replace, 0 to destroy", plan.Steps[len(plan.Steps)-1].After)
	assert.Contains(t, plan.Diff, "-worker_count = 2 # one step at a time")
	assert.Contains(t, plan.Diff, "+worker_count = 3 # was 2; one step at a time")
	assert.Contains(t, plan.Diff, "+ terraform_data.worker[2] will be created")
	t.Logf("AddWorker plan:\n%s", plan)
	now, _ := os.ReadFile(tfvars)
	assert.Equal(t, before, now, "planning wrote nothing")

	// A worker_type change is a replacement of both workers: blocked.
	repl, err := c.PlanAddWorker(ctx, nodes.AddWorker{Dir: dir, Count: 3, Type: "cpx42", NodeSelector: pool})
	require.NoError(t, err)
	g, _ := repl.Guard(nodes.GuardReplacement)
	assert.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "terraform_data.worker[0]")

	// A tfvars edited between plan and apply: a stale plan, nothing
	// written (not the file, not the state, nothing on the API server).
	serial := stateSerial(t, run)
	edited := append(slices.Clone(before), []byte("# reviewed by ops\n")...)
	require.NoError(t, os.WriteFile(tfvars, edited, 0o644))
	writes := len(rec.Mutating())
	_, err = c.Apply(ctx, plan)
	var stale *scaling.StalePlanError
	require.ErrorAs(t, err, &stale)
	now, _ = os.ReadFile(tfvars)
	assert.Equal(t, edited, now)
	assert.Equal(t, serial, stateSerial(t, run))
	assert.Len(t, rec.Mutating(), writes)
	require.NoError(t, os.WriteFile(tfvars, before, 0o644)) // the reviewer's line taken back: the plan holds again

	// Step 6: stored, applied, verified.
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(data)
	require.NoError(t, err)
	before0 := len(rec.Mutating())
	res, err := c.Apply(ctx, stored)
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Len(t, rec.Mutating(), before0, "AddWorker writes to Terraform, not to the API server")
	applied := time.Now()
	v, err := c.Verify(ctx, stored)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	t.Logf("Verify after %s (the node boots in 3 s):\n%s", time.Since(applied).Round(time.Millisecond), v)
	assert.Contains(t, strings.Join(events, "\n"), "nodes-ready: not Ready", "Verify saw the new node NotReady before Ready")
	assert.Empty(t, pendingWith(t, env, ns, ""))

	again, err := c.Apply(ctx, stored)
	require.NoError(t, err)
	assert.False(t, again.Changed, "re-applying writes nothing")

	// The rebalance: scale's RolloutRestart.
	sclient, err := scale.New(sc, scale.Options{})
	require.NoError(t, err)
	rp, err := sclient.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: ns, Name: "api"}})
	require.NoError(t, err)
	require.Empty(t, rp.Blocking(), rp.String())
	_, err = sclient.Apply(ctx, rp)
	require.NoError(t, err)
	rv, err := sclient.Verify(ctx, rp)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, rv.Phase, rv.String())
	spread, _ := rv.Check("spread")
	assert.Contains(t, spread.Observed, cluster+"-worker-3=", spread.Observed)

	// Option B: destroy, with a CNPG cluster in the cluster.
	pg := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg", "namespace": ns},
		"spec": map[string]any{"instances": int64(3), "storage": map[string]any{"size": "1Gi"},
			"backup": map[string]any{"barmanObjectStore": map[string]any{"destinationPath": "s3://backups/pg", "s3Credentials": map[string]any{"inheritFromIAMRole": true}}}}}}
	_, err = sc.Dynamic.Resource(clustersGVR).Namespace(ns).Create(ctx, pg, metav1.CreateOptions{})
	require.NoError(t, err)
	kinds := map[string]string{"terraform_data.worker": nodes.KindServer, "terraform_data.control_plane": nodes.KindServer,
		"terraform_data.volume": nodes.KindVolume, "terraform_data.load_balancer": nodes.KindLoadBalancer}
	dp, err := c.PlanDestroy(ctx, nodes.Destroy{Dir: dir, Kinds: kinds})
	require.NoError(t, err)
	g, _ = dp.Guard(nodes.GuardBackups)
	require.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, ns+"/pg: barmanObjectStore, last successful backup never")
	_, err = c.Apply(ctx, dp)
	require.ErrorIs(t, err, nodes.ErrBackupsUnconfirmed)
	assert.Equal(t, 3, readyNodes(t, env, pool), "nothing destroyed")

	dp, err = c.PlanDestroy(ctx, nodes.Destroy{Dir: dir, Kinds: kinds, ConfirmBackups: true})
	require.NoError(t, err)
	require.Empty(t, dp.Blocking())
	assert.Contains(t, dp.Summary, "4 server(s), 1 volume(s), 1 load balancer(s)")
	_, err = c.Apply(ctx, dp)
	require.NoError(t, err)
	dv, err := c.Verify(ctx, dp)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, dv.Phase, dv.String())
	list, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: pool})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "the destroy provisioners removed the nodes")
	rbactest.Check(t, perms, rec.Requests())
}

func covers(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if r.APIGroups[0] == group && r.Resources[0] == resource && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

// stateSerial is the Terraform state's serial, read with the CLI.
func stateSerial(t *testing.T, run func(args ...string) string) int64 {
	t.Helper()
	out := run("state", "pull")
	var st struct {
		Serial int64 `json:"serial"`
	}
	require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st))
	return st.Serial
}

func readyNodes(t *testing.T, env *testenv.Env, selector string) int {
	t.Helper()
	n, err := env.ReadyNodes(context.Background(), selector)
	require.NoError(t, err)
	return n
}

// pendingWith lists the namespace's unscheduled pods whose scheduling
// message holds msg.
func pendingWith(t *testing.T, env *testenv.Env, ns, msg string) []string {
	t.Helper()
	list, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, p := range list.Items {
		if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, msg) {
				out = append(out, p.Name)
			}
		}
	}
	return out
}
