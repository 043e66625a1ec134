package tenants_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/tenants"
)

// TestE2EEveryOperationRunsUnderTheDocumentedRole: every operation of the
// package, UpdateQuota's, Resources' and Storage's (the PostgreSQL volume,
// on the expandable class) Plan, Apply and Verify and Report, by a user
// holding exactly tenants.Permissions() (the Role in each tenant namespace)
// and nothing else. A missing rule is a forbidden request; a rule no
// request used is a failure too, so the README's Role stays the least the
// operations need.
func TestE2EEveryOperationRunsUnderTheDocumentedRole(t *testing.T) {
	// Its own prefix and label: the seed test's tenants are not these.
	opts := tenants.Options{NamespacePrefix: "rbac-", TenantLabel: "rbac.ironflow.io/tenant"}
	install(t, opts, "acme")
	install(t, opts, "globex")
	op := pgTenant(t, opts, "initech", testenv.ExpandableClass)
	env := testenv.Shared()
	user := "tenants-operator"
	perms := tenants.Permissions()
	rbactest.Grant(t, env.Client, user, perms, "rbac-acme", "rbac-globex", "rbac-initech")
	e := newRealEnv(t, withOperators(rbactest.As(env.RESTConfig(), user), op), opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	plantest.Done(t, ctx, e.client, "UpdateQuota", func() (*scaling.Plan, error) {
		return e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: runbook()})
	})
	plantest.Done(t, ctx, e.client, "Resources", func() (*scaling.Plan, error) {
		return e.client.PlanResources(ctx, tenants.Resources{Tenant: "acme",
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}})
	})
	plantest.Done(t, ctx, e.client, "Storage", func() (*scaling.Plan, error) {
		return e.client.PlanStorage(ctx, tenants.Storage{Tenant: "initech", Volume: tenants.PostgreSQL, Size: "20Gi"})
	})
	r, err := e.client.Report(ctx)
	require.NoError(t, err)
	require.Len(t, r.Tenants, 3)
	t.Logf("requests:\n%s", rbactest.Observed(e.rec.Requests()))
	rbactest.Check(t, perms, e.rec.Requests())
}
