package tenants_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/tenants"
)

// realTenants are the benchmarks' tenants, installed once per test process
// (the framework runs a benchmark function several times, and a deleted
// namespace lingers until its controller has emptied it); the control
// plane goes with the process.
var realTenants struct {
	once sync.Once
	opts tenants.Options
	err  error
}

// benchRealTenants installs benchTenants tenants of the reference chart on
// the real control plane, as the runbook does (a labelled namespace, a
// release from values-multi-tenant.yaml with its ingress.host), 8 at a
// time and without waiting for their pods: what is measured reads the
// namespaces, quotas and release records, not the pods. The options keep
// them apart from every other test's tenants.
func benchRealTenants(b *testing.B) tenants.Options {
	b.Helper()
	env := testenv.Shared()
	if env == nil {
		b.Fatal("no test environment")
	}
	realTenants.once.Do(func() { realTenants.opts, realTenants.err = installRealTenants(b, env) })
	if realTenants.err != nil {
		b.Fatal(realTenants.err)
	}
	return realTenants.opts
}

func installRealTenants(b *testing.B, env *testenv.Env) (tenants.Options, error) {
	opts := tenants.Options{NamespacePrefix: "bench-", TenantLabel: "bench.ironflow.io/tenant"}
	ctx := context.Background()
	rels := helmrelease.New(env.RESTConfig(), env.Client)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make(chan error, benchTenants)
	for i := range benchTenants {
		name := fmt.Sprintf("t%02d", i)
		ns := opts.NamespacePrefix + name
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
				Labels: map[string]string{opts.TenantLabel: name}}}, metav1.CreateOptions{})
			if err == nil {
				_, err = rels.Install(ctx, ns, name, testenv.ChartPath("ironflow"), multiTenant(b, name), 0)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// BenchmarkE2EReportFiftyTenants is the report a one-shot CLI makes on a
// real API server with 50 tenants: each sample a fresh client (discovery
// included), then the anchor, what an operator runs by hand for the same
// table (every quota and every release record: `kubectl get
// resourcequota -A` and `kubectl get secrets -A -l owner=helm`, which is
// what `helm list -A` reads), alternating. Reported: the medians, their
// ratio, and the SDK's requests per report.
func BenchmarkE2EReportFiftyTenants(b *testing.B) {
	// scaling.Connect with the kubeconfig, as a CLI built on it connects.
	b.Run("connect", func(b *testing.B) { benchReport(b, nil) })
	// client-go's own limit (5/s, burst 10), for a caller that hands
	// NewCluster a config without one: the 50 release reads wait on it.
	b.Run("client-go-default-limit", func(b *testing.B) { benchReport(b, &[2]int{0, 0}) })
}

// benchReport samples Report with a fresh client: through scaling.Connect
// when limit is nil, else NewCluster on the environment's config with that
// QPS and burst.
func benchReport(b *testing.B, limit *[2]int) {
	opts := benchRealTenants(b)
	env := testenv.Shared()
	ctx := context.Background()
	kubectl := func(args ...string) {
		if _, err := env.Kubectl(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	var sdk, anchor []time.Duration
	requests := 0
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		rec := &reqcount.Recorder{}
		var sc *scaling.Cluster
		var err error
		if limit == nil {
			sc, err = scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: env.Kubeconfig, WrapTransport: rec.Wrap})
		} else {
			cfg := env.RESTConfig()
			cfg.QPS, cfg.Burst = float32(limit[0]), limit[1]
			cfg.Wrap(rec.Wrap)
			sc, err = scaling.NewCluster(cfg)
		}
		if err != nil {
			b.Fatal(err)
		}
		o := opts
		o.Releases = helmrelease.New(sc.Config, sc.Kube)
		client, err := tenants.New(sc, o)
		if err != nil {
			b.Fatal(err)
		}
		r, err := client.Report(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sdk = append(sdk, time.Since(t0))
		requests += rec.Total()
		if len(r.Tenants) != benchTenants {
			b.Fatalf("the report has %d tenants, want %d", len(r.Tenants), benchTenants)
		}
		b.StopTimer()
		t0 = time.Now()
		kubectl("get", "resourcequota", "-A", "-o", "wide")
		kubectl("get", "secrets", "-A", "-l", "owner=helm")
		anchor = append(anchor, time.Since(t0))
		b.StartTimer()
	}
	b.StopTimer()
	med := testenv.Median
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(med(sdk).Microseconds())/1000, "sdk-median-ms")
	b.ReportMetric(float64(med(anchor).Microseconds())/1000, "kubectl-median-ms")
	b.ReportMetric(float64(med(sdk))/float64(med(anchor)), "ratio")
}

// BenchmarkE2EPlanUpdateQuotaFiftyTenants plans one tenant's quota change
// among 50 real tenants with a fresh client per sample, as a one-shot CLI:
// the requests must not grow with the tenants. Reported: requests per plan
// and the median.
func BenchmarkE2EPlanUpdateQuotaFiftyTenants(b *testing.B) {
	opts := benchRealTenants(b)
	env := testenv.Shared()
	ctx := context.Background()
	var took []time.Duration
	requests := 0
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		rec := &reqcount.Recorder{}
		cfg := env.RESTConfig()
		cfg.Wrap(rec.Wrap)
		sc, err := scaling.NewCluster(cfg)
		if err != nil {
			b.Fatal(err)
		}
		o := opts
		o.Releases = helmrelease.New(cfg, sc.Kube)
		o.Chart = scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}
		client, err := tenants.New(sc, o)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "t07", Hard: runbook()})
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
		requests += rec.Total()
		if len(rec.Mutating()) > 0 || len(plan.Blocking()) > 0 {
			b.Fatalf("planning wrote %v or blocked:\n%s", rec.Mutating(), plan)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(testenv.Median(took).Microseconds())/1000, "median-ms")
}
