package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling/internal/testenv"
)

// The node runbook's Terraform half through the plugin, on the hetzner
// fixture (its workers are KWOK nodes of the real control plane) and a real
// tofu: add-worker 2 -> 3 saved as a plan (terraform.tfvars untouched until
// then), applied later (the tfvars edited, terraform plan and apply, the
// third node Ready), then destroy, refused with exit 2 until the backups are
// confirmed, and then every worker gone.
func TestE2ENodesAddWorkerThenDestroyThroughThePlugin(t *testing.T) {
	env := testenv.Shared()
	require.NotNil(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := testenv.TerraformBinary(ctx)
	require.NoError(t, err)
	u := &userEnv{t: t, env: env, ns: env.Namespace(t), dir: t.TempDir()}
	cluster := "kst-" + u.ns[len(u.ns)-5:]
	dir := testenv.TerraformFixture(t, "hetzner", testenv.WithClusterName(cluster))
	u.environ = os.Environ()
	for k, v := range env.TerraformEnv(0) {
		u.environ = append(u.environ, k+"="+v)
	}
	pool := "scaling.ironflow.dev/pool=" + cluster + "-workers"
	terraform := func(args ...string) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = dir, u.environ
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	// As the infrastructure was built, by hand.
	terraform("init", "-input=false")
	terraform("apply", "-auto-approve", "-input=false")
	t.Cleanup(func() {
		// Whatever happened, the nodes leave the shared control plane.
		cmd := exec.Command(bin, "destroy", "-auto-approve", "-input=false")
		cmd.Dir, cmd.Env = dir, u.environ
		_ = cmd.Run()
		for _, n := range []string{"1", "2", "3"} {
			_ = env.Client.CoreV1().Nodes().Delete(context.Background(), cluster+"-worker-"+n, metav1.DeleteOptions{})
		}
	})
	ready := func() int {
		n, err := env.ReadyNodes(ctx, pool)
		require.NoError(t, err)
		return n
	}
	require.Eventually(t, func() bool { return ready() == 2 }, 2*time.Minute, 100*time.Millisecond, "the 2 workers booted")
	tfvars := func() string {
		data, err := os.ReadFile(dir + "/terraform.tfvars")
		require.NoError(t, err)
		return string(data)
	}
	before := tfvars()

	tf := []string{"--terraform", bin}
	planned := u.run(append([]string{"nodes", "add-worker", dir, "3", "--note", "--node-selector", pool, "--out", "workers.json"}, tf...)...)
	require.Equal(t, exitOK, planned.code, planned)
	assert.Contains(t, planned.stdout, "worker_count", "the plan shows the tfvars change")
	assert.Equal(t, before, tfvars(), "planning leaves terraform.tfvars as it was")

	applied := u.run(append([]string{"apply", "workers.json", "--auto-approve"}, tf...)...)
	require.Equal(t, exitOK, applied.code, applied)
	assert.Equal(t, 3, ready(), "exit 0: the third worker is Ready")
	assert.Contains(t, tfvars(), "# was 2")

	refused := u.run(append([]string{"nodes", "destroy", dir, "--auto-approve"}, tf...)...)
	require.Equal(t, exitBlocked, refused.code, refused)
	assert.Contains(t, refused.stdout, "--confirm-backups", "the advice names the flag")
	assert.Equal(t, 3, ready())

	destroyed := u.run(append([]string{"nodes", "destroy", dir, "--confirm-backups", "--auto-approve"}, tf...)...)
	require.Equal(t, exitOK, destroyed.code, destroyed)
	n, err := env.ReadyNodes(ctx, pool)
	require.NoError(t, err)
	assert.Zero(t, n, "the workers left the cluster")
}
