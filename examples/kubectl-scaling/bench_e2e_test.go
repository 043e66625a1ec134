package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling/internal/testenv"
)

// BenchmarkReplicas5VsHelm is the figure a user of the plugin sees: the
// wall time of `kubectl scaling replicas ironflow 5 --auto-approve` end to
// end (a fresh process: kubeconfig, plan with every guard, apply, verify
// until 5 pods of the new revision are Ready) against the runbook's
// `helm upgrade --reuse-values --set replicaCount=5 --wait` on the same
// cluster. Each sample installs two fresh releases of the medium values
// (the app, the NATS and CloudNativePG subcharts), one per tool, and the
// tool that goes first alternates. Reported: the medians plugin-ms (its
// exit, which comes after 5 pods are Ready), helm-ms (5 pods Ready: helm
// itself may exit before, helm-exit-ms) and the ratio plugin/helm.
//
// Run: go test ./examples/kubectl-scaling/ -run '^$' -bench Replicas5VsHelm -benchtime 10x -timeout 30m
func BenchmarkReplicas5VsHelm(b *testing.B) {
	ctx := context.Background()
	helm, err := testenv.HelmBinary(ctx)
	require.NoError(b, err)
	bin, err := plugin()
	require.NoError(b, err)
	vals, err := chartutil.ReadValuesFile(filepath.Join(testenv.ChartPath("ironflow"), "values-medium.yaml"))
	require.NoError(b, err)
	chart := testenv.ChartPath("ironflow")
	helmEnv := append(os.Environ(), "HELM_CACHE_HOME="+b.TempDir(), "HELM_CONFIG_HOME="+b.TempDir(), "HELM_DATA_HOME="+b.TempDir())

	// timed runs a tool and returns when it exited and when 5 pods were
	// Ready: `helm --wait` counts a Deployment ready at replicas minus
	// maxUnavailable Ready pods, so it may exit before the fifth is (the
	// plugin's Verify waits for all five); the time a user can rely on is
	// the later of the two.
	timed := func(u *userEnv, name string, args ...string) (exited, ready time.Duration) {
		cmd := exec.Command(name, args...)
		cmd.Env = helmEnv
		start := time.Now()
		out, err := cmd.CombinedOutput()
		exited = time.Since(start)
		require.NoError(b, err, "%s %v:\n%s", name, args, out)
		if !waitUntil(time.Minute, func() bool { return u.readyPods() == 5 }) {
			pods, _ := u.env.Kubectl(context.Background(), "get", "pods,rs,deploy", "-n", u.ns, "-o", "wide")
			b.Fatalf("%s: no 5 Ready pods a minute after it exited:\n%s", filepath.Base(name), pods)
		}
		return exited, max(exited, time.Since(start))
	}
	var withPlugin, withHelm, helmExited []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		pu, hu := newUserEnv(b, vals.AsMap()), newUserEnv(b, vals.AsMap())
		for _, u := range []*userEnv{pu, hu} {
			require.Eventually(b, func() bool { return u.readyPods() == 3 }, time.Minute, 20*time.Millisecond)
		}
		b.StartTimer()
		runPlugin := func() {
			exited, ready := timed(pu, bin, "replicas", release, "5", "--auto-approve", "-q",
				"--kubeconfig", pu.env.Kubeconfig, "-n", pu.ns, "--chart", chart)
			require.Equal(b, 5, pu.readyPods(), "the plugin exits 0 only once all 5 are Ready")
			withPlugin = append(withPlugin, exited)
			_ = ready
		}
		runHelm := func() {
			exited, ready := timed(hu, helm, "upgrade", release, chart, "--reuse-values", "--set", "replicaCount=5", "--wait",
				"--kubeconfig", hu.env.Kubeconfig, "-n", hu.ns)
			helmExited, withHelm = append(helmExited, exited), append(withHelm, ready)
		}
		if i%2 == 0 {
			runPlugin()
			runHelm()
		} else {
			runHelm()
			runPlugin()
		}
		i++
		b.StopTimer()
		// Two medium releases per sample would fill the three nodes in
		// a few samples: free them before the next sample.
		pu.remove()
		hu.remove()
		b.StartTimer()
	}
	p, h, he := testenv.Median(withPlugin), testenv.Median(withHelm), testenv.Median(helmExited)
	b.ReportMetric(float64(p.Microseconds())/1000, "plugin-ms")
	b.ReportMetric(float64(h.Microseconds())/1000, "helm-ms")
	b.ReportMetric(float64(he.Microseconds())/1000, "helm-exit-ms")
	b.ReportMetric(float64(p)/float64(h), "plugin/helm")
	b.Logf("plugin (exit = 5 Ready)      %v\nhelm (5 Ready)               %v\nhelm (exit, maybe 4 Ready)   %v", withPlugin, withHelm, helmExited)
}

// waitUntil polls cond every 5ms until it holds (true) or d passes.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// remove deletes the namespace and waits until its pods are gone, so the
// capacity they held is free again.
func (u *userEnv) remove() {
	u.t.Helper()
	ctx := context.Background()
	require.NoError(u.t, u.env.Client.CoreV1().Namespaces().Delete(ctx, u.ns, metav1.DeleteOptions{}))
	ok := waitUntil(2*time.Minute, func() bool {
		pods, err := u.env.Client.CoreV1().Pods(u.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	})
	require.True(u.t, ok, "the pods of %s are deleted", u.ns)
}
