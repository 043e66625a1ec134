package postgres_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/postgres"
)

var median = testenv.Median

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkSwitchoverPlanRequests: the API requests of one switchover plan
// on a 3-instance cluster, with and without 100 other pods in the
// namespace: the count does not grow with them (the instance pods are
// listed by label).
func BenchmarkSwitchoverPlanRequests(b *testing.B) {
	for _, others := range []int{0, 100} {
		b.Run(fmt.Sprintf("other-pods=%d", others), func(b *testing.B) {
			e := newPGEnv(b, pgFixture{instances: 3})
			ctx := context.Background()
			if others > 0 {
				otherPods(b, ctx, e, others)
			}
			b.ResetTimer()
			for b.Loop() {
				e.rec.Reset()
				plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster})
				require.NoError(b, err)
				require.Empty(b, plan.Blocking())
			}
			b.ReportMetric(float64(e.rec.Total()), "requests/plan")
		})
	}
}

func otherPods(b *testing.B, ctx context.Context, e *pgEnv, n int) {
	labels := map[string]string{"app": "other"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(int32(n)), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
	}}
	kube := testenv.Shared().Client
	_, err := kube.AppsV1().Deployments(e.ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(b, err)
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		d, err := kube.AppsV1().Deployments(e.ns).Get(wctx, "other", metav1.GetOptions{})
		require.NoError(b, err)
		if d.Status.ReadyReplicas == int32(n) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkSwitchoverEndToEnd: a switchover on real PostgreSQL with a
// writer committing through the real PgBouncer, done three ways in
// alternating samples: the SDK with the pooler paused, the SDK without,
// and the CNPG plugin's way (its one status patch, then kubectl wait),
// both by the real kubectl. Reported: the median time until the target
// serves, the median and worst longest stall the writer saw, its errors,
// and the median of Verify's reaction after the double labelled the new
// primary (SDK samples).
func BenchmarkSwitchoverEndToEnd(b *testing.B) {
	backend, err := testenv.NewPostgresBackend(b.TempDir())
	require.NoError(b, err)
	e := newPGEnv(b, pgFixture{instances: 3, pooler: true, backend: backend})
	ctx := context.Background()
	admin := connect(b, ctx, backend.Server(e.ns, instance(e, 1)).DSN("app", "app"))
	_, err = admin.Exec(ctx, "CREATE TABLE orders (n bigint PRIMARY KEY, at timestamptz DEFAULT now())")
	require.NoError(b, err)
	for backend.Bouncer(e.ns, e.pooler) == nil {
		time.Sleep(20 * time.Millisecond)
	}
	env := testenv.Shared()
	kubectl := func(args ...string) {
		out, err := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl"), append([]string{"--kubeconfig", env.Kubeconfig, "-n", e.ns}, args...)...).CombinedOutput()
		require.NoError(b, err, "%s", out)
	}
	type sample struct {
		took, stall, react time.Duration
		errs               int
	}
	results := map[string][]sample{}
	ways := []string{"sdk-paused", "sdk", "plugin+kubectl-wait"}
	primary := instance(e, 1)
	next := func() string {
		for _, i := range []string{instance(e, 1), instance(e, 2), instance(e, 3)} {
			if i != primary {
				return i
			}
		}
		return ""
	}
	rounds := 0
	b.ResetTimer()
	for b.Loop() {
		way := ways[rounds%len(ways)]
		rounds++
		e.waitHealthy(b, ctx, 3)
		w := startWriter(b, backend.Bouncer(e.ns, e.pooler).DSN("app", "app"), rounds*10_000_000)
		for w.count() < 50 {
			time.Sleep(5 * time.Millisecond)
		}
		target := next()
		start := time.Now()
		var react time.Duration
		switch way {
		case "plugin+kubectl-wait":
			kubectl("patch", "cluster", e.cluster, "--subresource=status", "--type=merge", "-p",
				fmt.Sprintf(`{"status":{"targetPrimary":%q,"targetPrimaryTimestamp":%q,"phase":"Switchover in progress"}}`, target, time.Now().UTC().Format(time.RFC3339)))
			kubectl("wait", "cluster/"+e.cluster, "--for=jsonpath={.status.currentPrimary}="+target, "--timeout=2m")
			kubectl("wait", "cluster/"+e.cluster, "--for=jsonpath={.status.phase}="+testenv.PhaseHealthy, "--timeout=2m")
		default:
			plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, Target: target, PausePooler: way == "sdk-paused"})
			require.NoError(b, err)
			_, err = e.client.Apply(ctx, plan)
			require.NoError(b, err)
			v, err := e.client.Verify(ctx, plan)
			require.NoError(b, err)
			require.Equal(b, scaling.Succeeded, v.Phase, v.String())
			react = time.Since(e.op.Switched())
		}
		took := time.Since(start)
		before := w.count()
		for w.count() < before+50 {
			time.Sleep(5 * time.Millisecond)
		}
		_, errs, stall := w.halt()
		results[way] = append(results[way], sample{took, stall, react, len(errs)})
		primary = target
	}
	b.StopTimer()
	for _, way := range ways {
		var took, stall, react []time.Duration
		errs := 0
		for _, s := range results[way] {
			took, stall, react = append(took, s.took), append(stall, s.stall), append(react, s.react)
			errs += s.errs
		}
		if len(took) == 0 {
			continue
		}
		b.Logf("%-20s n=%d switch median %v, writer's longest stall median %v worst %v, writer errors %d, Verify reaction median %v",
			way, len(took), median(took).Round(time.Millisecond), median(stall).Round(time.Millisecond), slices.Max(stall).Round(time.Millisecond), errs, median(react).Round(time.Millisecond))
		b.ReportMetric(ms(median(took)), way+"-switch-ms")
		b.ReportMetric(ms(median(stall)), way+"-stall-ms")
		b.ReportMetric(float64(errs), way+"-errors")
	}
}
