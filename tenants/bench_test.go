package tenants_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/ironflow/scaling/tenants"
)

// benchTenants is the figure's cluster size.
const benchTenants = 50

// BenchmarkPlanUpdateQuota plans one tenant's quota change among 50 tenants
// on the fake clientset: the plan lists the tenants and their quotas once,
// so its requests do not grow with the tenants. Reported: requests/op.
func BenchmarkPlanUpdateQuota(b *testing.B) {
	e := fiftyTenants(b)
	ctx := context.Background()
	r := tenants.UpdateQuota{Tenant: "t07", Hard: runbook()}
	e.kube.ClearActions()
	b.ResetTimer()
	for range b.N {
		_, err := e.client.PlanUpdateQuota(ctx, r)
		require.NoError(b, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(e.kube.Actions()))/float64(b.N), "requests/op")
	b.ReportMetric(float64(len(e.writes()))/float64(b.N), "writes/op")
}

// BenchmarkReport reports on 50 tenants on the fake clientset: two lists
// on the clientset, and one release read per tenant (in memory here; one
// list of the release's Secrets each on a real cluster). Reported:
// ms/op, requests/op (the clientset's), releases/op.
func BenchmarkReport(b *testing.B) {
	e := fiftyTenants(b)
	ctx := context.Background()
	e.kube.ClearActions()
	b.ResetTimer()
	for range b.N {
		r, err := e.client.Report(ctx)
		require.NoError(b, err)
		require.Len(b, r.Tenants, benchTenants)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64(len(e.kube.Actions()))/float64(b.N), "requests/op")
	b.ReportMetric(benchTenants, "releases/op")
}

func fiftyTenants(b *testing.B) *fakeEnv {
	b.Helper()
	e := newFakeEnv(b)
	for i := range benchTenants {
		e.addTenant(b, fmt.Sprintf("t%02d", i))
	}
	e.syncQuota(b, "tenant-t07", "t07", corev1.ResourceList{"pods": q("3")})
	e.addNodes(b, 3, "8", "32Gi")
	return e
}
