package tenants_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/scale"
	"github.com/ironflow/scaling/tenants"
)

// theRunbooksResources are the runbook's per-tenant app resources: cpu
// 500m and memory 1Gi, with the memory limit raised to match (the chart's
// 256Mi limit would be below the new request).
func theRunbooksResources(tenant string) tenants.Resources {
	return tenants.Resources{Tenant: tenant,
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}}
}

func TestResourcesRunsScaleResourcesOnTheTenantsRelease(t *testing.T) {
	e := newFakeEnv(t, "acme", "globex")
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, theRunbooksResources("acme"))
	require.NoError(t, err)
	assert.Empty(t, e.writes(), "planning writes nothing")
	assert.Equal(t, tenants.OpResources, plan.Operation)
	assert.Equal(t, scaling.ObjectRef{Kind: "HelmRelease", Namespace: "tenant-acme", Name: "acme"}, plan.Target)
	assert.Contains(t, plan.Summary, "Tenant acme: ")
	require.Empty(t, plan.Blocking(), plan.String())
	// The tenant's guards first, then scale.Resources's own.
	require.GreaterOrEqual(t, len(plan.Guards), 4)
	assert.Equal(t, tenants.GuardTenantNamespace, plan.Guards[0].Name)
	assert.Equal(t, tenants.GuardTenantScope, plan.Guards[1].Name)
	_, ok := plan.Guard(scale.GuardQuota)
	assert.True(t, ok, "the rollout is judged against the tenant's quota by scale's guard")
	_, ok = plan.Guard(scale.GuardLimitsBelowRequests)
	assert.True(t, ok)
	assert.Contains(t, plan.Diff, "500m")
	assert.NotContains(t, plan.Diff, "ingress")

	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	assert.Equal(t, tenants.OpResources, applied.Operation)
	rel := e.last(t, "acme")
	assert.Equal(t, 2, rel.Revision)
	cpu, _ := values.Get(rel.Values, "resources.requests.cpu")
	assert.Equal(t, "500m", cpu)
	host, _ := values.Get(rel.Values, "ingress.host")
	assert.Equal(t, "acme.ironflow.example.com", host, "the tenant's other values are kept")
	assert.Equal(t, 1, e.last(t, "globex").Revision, "the other tenant is untouched")

	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, "re-applying writes nothing")
	assert.Equal(t, 2, e.last(t, "acme").Revision)
}

func TestResourcesAboveTheTenantsQuotaAreBlockedWithTheNumbers(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	// The runbook's tenant quota holds requests.cpu 2: one pod asking 3
	// cannot roll out.
	r := tenants.Resources{Tenant: "acme", Requests: corev1.ResourceList{corev1.ResourceCPU: q("3")}, Limits: corev1.ResourceList{corev1.ResourceCPU: q("3")}}
	plan, err := e.client.PlanResources(ctx, r)
	require.NoError(t, err)
	g, ok := plan.Guard(scale.GuardQuota)
	require.True(t, ok)
	require.Equal(t, scaling.Block, g.Outcome, plan.String())

	// Stored as JSON and applied: refused with scale's typed cause, nothing
	// written.
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(data)
	require.NoError(t, err)
	e.kube.ClearActions()
	_, err = e.client.Apply(ctx, stored)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var qe *scale.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "tenant-acme", qe.Namespace)
	require.NotNil(t, qe.Rollout)
	require.NotEmpty(t, qe.Short)
	assert.Contains(t, qe.Error(), "requests.cpu")
	assert.Empty(t, e.writes())
	assert.Equal(t, 1, e.last(t, "acme").Revision)
}

func TestResourcesInANamespaceOfAnotherTenantAreBlocked(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	ns, err := e.kube.CoreV1().Namespaces().Get(ctx, "tenant-acme", metav1.GetOptions{})
	require.NoError(t, err)
	ns.Labels[tenants.DefaultTenantLabel] = "globex"
	_, err = e.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()

	plan, err := e.client.PlanResources(ctx, theRunbooksResources("acme"))
	require.NoError(t, err)
	g, ok := plan.Guard(tenants.GuardTenantNamespace)
	require.True(t, ok)
	require.Equal(t, scaling.Block, g.Outcome)
	_, err = e.client.Apply(ctx, plan)
	var own *tenants.OwnershipError
	require.ErrorAs(t, err, &own)
	assert.Empty(t, e.writes())
	assert.Equal(t, 1, e.last(t, "acme").Revision)
}

func TestResourcesAndStorageRefuseBadInputBeforeAnyRequest(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	for name, plan := range map[string]func() (*scaling.Plan, error){
		"no tenant": func() (*scaling.Plan, error) {
			return e.client.PlanResources(ctx, tenants.Resources{Requests: corev1.ResourceList{corev1.ResourceCPU: q("1")}})
		},
		"tenant not a name": func() (*scaling.Plan, error) { return e.client.PlanResources(ctx, tenants.Resources{Tenant: "Acme!"}) },
		"storage volume": func() (*scaling.Plan, error) {
			return e.client.PlanStorage(ctx, tenants.Storage{Tenant: "acme", Volume: "redis", Size: "20Gi"})
		},
		"postgres without a dynamic client": func() (*scaling.Plan, error) {
			return e.client.PlanStorage(ctx, tenants.Storage{Tenant: "acme", Volume: tenants.PostgreSQL, Size: "20Gi"})
		},
		"nats without Options.NATS": func() (*scaling.Plan, error) {
			return e.client.PlanStorage(ctx, tenants.Storage{Tenant: "acme", Volume: tenants.NATS, Size: "20Gi"})
		},
	} {
		e.kube.ClearActions()
		_, err := plan()
		require.ErrorIs(t, err, scaling.ErrInvalidInput, name)
		assert.Empty(t, e.kube.Actions(), "%s: no request", name)
	}
	// The inner operation's validation is scale's: nothing to set.
	_, err := e.client.PlanResources(ctx, tenants.Resources{Tenant: "acme"})
	require.ErrorIs(t, err, scaling.ErrInvalidInput)
	assert.Empty(t, e.writes())
}

func TestAnEditedResourcesPlanIsRefused(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	plan, err := e.client.PlanResources(ctx, theRunbooksResources("acme"))
	require.NoError(t, err)
	for name, edit := range map[string]func(m map[string]any){
		"the request":    func(m map[string]any) { request(m)["requests"].(map[string]any)["cpu"] = "4" },
		"the inner plan": func(m map[string]any) { spec(m)["inner"].(map[string]any)["summary"] = "nothing to see" },
		"the steps":      func(m map[string]any) { m["steps"] = []any{} },
	} {
		data, err := json.Marshal(plan)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		edit(m)
		data, err = json.Marshal(m)
		require.NoError(t, err)
		edited, err := scaling.Decode(data)
		require.NoError(t, err, name)
		e.kube.ClearActions()
		_, err = e.client.Apply(ctx, edited)
		var mismatch *scaling.PlanMismatchError
		require.ErrorAs(t, err, &mismatch, name)
		assert.Empty(t, e.writes(), name)
		assert.Equal(t, 1, e.last(t, "acme").Revision, name)
	}
}
