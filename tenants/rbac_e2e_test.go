package tenants_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/internal/rbactest"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/tenants"
)

// TestE2EEveryOperationRunsUnderTheDocumentedRole: every operation of the
// package, UpdateQuota's Plan, Apply and Verify and Report, by a user
// holding exactly tenants.Permissions() (the Role in each tenant namespace)
// and nothing else. A missing rule is a forbidden request; a rule no
// request used is a failure too, so the README's Role stays the least the
// operations need.
func TestE2EEveryOperationRunsUnderTheDocumentedRole(t *testing.T) {
	// Its own prefix and label: the seed test's tenants are not these.
	opts := tenants.Options{NamespacePrefix: "rbac-", TenantLabel: "rbac.ironflow.io/tenant"}
	install(t, opts, "acme")
	install(t, opts, "globex")
	env := testenv.Shared()
	user := "tenants-operator"
	perms := tenants.Permissions()
	rbactest.Grant(t, env.Client, user, perms, "rbac-acme", "rbac-globex")
	e := newRealEnv(t, rbactest.As(env.RESTConfig(), user), opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	plantest.Done(t, ctx, e.client, "UpdateQuota", func() (*scaling.Plan, error) {
		return e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: runbook()})
	})
	r, err := e.client.Report(ctx)
	require.NoError(t, err)
	require.Len(t, r.Tenants, 2)
	t.Logf("requests:\n%s", rbactest.Observed(e.rec.Requests()))
	rbactest.Check(t, perms, e.rec.Requests())
}
