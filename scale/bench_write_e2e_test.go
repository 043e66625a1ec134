package scale_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// BenchmarkWritePathMedium measures what a user sees of the Helm write path
// every package goes through: a 3 -> 5 Replicas on a release of the medium
// values (the app, NATS and CloudNativePG objects from the reference
// chart's real subcharts), against the two ways the runbook does it by hand,
// in the same run:
//
//   - sdk: a fresh scaling.Connect and scale.New per sample, as a one-shot
//     CLI would have, then Plan + Apply + Verify (until 5 pods of the
//     current revision are Ready);
//   - helm: `helm upgrade --reuse-values --set replicaCount=5 --wait` with the
//     real helm CLI of the version the module requires;
//   - kubectl: `kubectl scale --replicas=5` then `kubectl rollout status`.
//
// Every sample of every tool runs on its own freshly installed release, so
// all start equal, and the order of the three rotates from sample to sample
// so that what the first run leaves behind (controller queues, API server
// caches) favours none. Reported: medians sdk-ms, helm-ms, kubectl-ms, the
// ratios sdk/helm and sdk/kubectl, and the SDK's requests per sample; the
// log shows each sample's requests and time per phase, and every SDK request of the first sample by phase, grouped by
// method and path, so a request made twice is visible.
//
// Run: go test ./scale/ -run '^$' -bench BenchmarkWritePathMedium -benchtime 8x -timeout 30m
func BenchmarkWritePathMedium(b *testing.B) {
	helm := buildHelm(b)
	env := testenv.Shared()
	require.NotNil(b, env)
	kubectl := filepath.Join(env.BinDir, "kubectl")
	_, err := os.Stat(kubectl)
	require.NoError(b, err, "kubectl is built with the control plane")
	helmEnv := append(os.Environ(),
		"HELM_CACHE_HOME="+b.TempDir(), "HELM_CONFIG_HOME="+b.TempDir(), "HELM_DATA_HOME="+b.TempDir())
	chart := testenv.ChartPath("ironflow")

	var (
		sdk, cli, kctl []time.Duration
		requests       []int
		phases         []string
		firstLog       string
	)
	// The six orders of three: each tool goes first, second and third
	// equally often over six samples.
	orders := [][3]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {0, 2, 1}, {2, 1, 0}, {1, 0, 2}}
	for b.Loop() {
		b.StopTimer()
		envs := [3]*realEnv{newRealEnv(b, medium(b)), newRealEnv(b, medium(b)), newRealEnv(b, medium(b))}
		watches := [3]*readyWatch{}
		for i, e := range envs {
			watches[i] = watchReady(b, e.ns)
			watches[i].waitReady(b, 3, time.Minute)
		}
		b.StartTimer()

		runSDK := func() time.Duration {
			ns := envs[0].ns
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var (
				rec    reqcount.Recorder
				counts []string
				paths  strings.Builder
				total  int
				last   time.Time
			)
			phase := func(name string) {
				n := rec.Total()
				total += n
				counts = append(counts, fmt.Sprintf("%s %d (%.0f ms)", name, n, ms(time.Since(last))))
				last = time.Now()
				fmt.Fprintf(&paths, "%s: %d requests\n%s", name, n, rec.Paths())
				rec.Reset()
			}
			t0 := time.Now()
			last = t0
			cluster, err := scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: env.Kubeconfig,
				WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return rec.Wrap(rt) }})
			require.NoError(b, err)
			client, err := scale.New(cluster, scale.Options{Chart: scaling.ChartSource{Ref: chart}})
			require.NoError(b, err)
			phase("connect")
			plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
			require.NoError(b, err)
			require.Empty(b, plan.Blocking(), "%s", plan)
			phase("plan")
			applied, err := client.Apply(ctx, plan)
			require.NoError(b, err)
			require.True(b, applied.Changed, applied.Reason)
			phase("apply")
			v, err := client.Verify(ctx, plan)
			d := time.Since(t0)
			phase("verify")
			require.NoError(b, err)
			require.Equal(b, scaling.Succeeded, v.Phase, v.String())
			requests = append(requests, total)
			if firstLog == "" {
				firstLog = paths.String()
			}
			phases = append(phases, strings.Join(counts, ", "))
			return d
		}
		runHelm := func() time.Duration {
			cmd := exec.Command(helm, "upgrade", release, chart,
				"--namespace", envs[1].ns, "--reuse-values", "--set", "replicaCount=5",
				"--wait", "--timeout", "2m", "--kubeconfig", env.Kubeconfig)
			cmd.Env = helmEnv
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(t0)
			require.NoError(b, err, "%s", out)
			return d
		}
		runKubectl := func() time.Duration {
			ns := envs[2].ns
			t0 := time.Now()
			out, err := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "-n", ns, "scale", "deployment/"+release, "--replicas=5").CombinedOutput()
			require.NoError(b, err, "%s", out)
			out, err = exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "-n", ns, "rollout", "status", "deployment/"+release, "--timeout=2m").CombinedOutput()
			d := time.Since(t0)
			require.NoError(b, err, "%s", out)
			return d
		}
		var took [3]time.Duration
		for _, tool := range orders[len(sdk)%len(orders)] {
			switch tool {
			case 0:
				took[0] = runSDK()
			case 1:
				took[1] = runHelm()
			case 2:
				took[2] = runKubectl()
			}
		}

		b.StopTimer()
		sdk, cli, kctl = append(sdk, took[0]), append(cli, took[1]), append(kctl, took[2])
		for i, e := range envs {
			watches[i].waitReady(b, 5, time.Minute)
			watches[i].stop()
			deleteNamespace(b, e.ns)
		}
		b.StartTimer()
	}
	s, h, k := median(sdk), median(cli), median(kctl)
	// The framework keeps 10 lines of a benchmark's log without -v: the
	// summary goes first.
	b.Logf("medians: sdk %.1f ms, helm %.1f ms, kubectl %.1f ms; sdk/helm %.2f, sdk/kubectl %.2f; requests per sample %v",
		ms(s), ms(h), ms(k), float64(s)/float64(h), float64(s)/float64(k), requests)
	b.Logf("sdk ms per sample:     %s", msList(sdk))
	b.Logf("helm ms per sample:    %s", msList(cli))
	b.Logf("kubectl ms per sample: %s", msList(kctl))
	for i, p := range phases {
		b.Logf("sdk sample %d: %s", i+1, p)
	}
	b.Logf("sdk requests of the first sample, by phase:\n%s", firstLog)
	b.ReportMetric(ms(s), "sdk-ms")
	b.ReportMetric(ms(h), "helm-ms")
	b.ReportMetric(ms(k), "kubectl-ms")
	b.ReportMetric(float64(s)/float64(h), "sdk/helm")
	b.ReportMetric(float64(s)/float64(k), "sdk/kubectl")
	b.ReportMetric(float64(medianInt(requests)), "requests")
}

func medianInt(n []int) int {
	d := make([]time.Duration, len(n))
	for i, x := range n {
		d[i] = time.Duration(x)
	}
	return int(median(d))
}
