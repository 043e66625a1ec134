package tenants_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/tenants"
)

func spec(m map[string]any) map[string]any    { return m["spec"].(map[string]any) }
func request(m map[string]any) map[string]any { return spec(m)["request"].(map[string]any) }

// TestEditedPlansAreRefusedAndWriteNothing: what was approved is what runs.
// Each edit of a stored plan raising acme's quota ends in a typed refusal,
// both releases keep their revision and the clientset sees no write; the
// plan as approved still applies.
func TestEditedPlansAreRefusedAndWriteNothing(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(m map[string]any)
		want error
	}{
		"request pods 40 -> 400, display untouched": {func(m map[string]any) { request(m)["hard"].(map[string]any)["pods"] = "400" }, scaling.ErrPlanMismatch},
		"spec hard edited":                          {func(m map[string]any) { spec(m)["hard"].(map[string]any)["pods"] = "400" }, scaling.ErrPlanMismatch},
		"spec values inject an image": {func(m map[string]any) {
			spec(m)["values"].(map[string]any)["image"] = map[string]any{"repository": "evil.example/backdoor"}
		}, scaling.ErrPlanMismatch},
		"steps say 400":  {func(m map[string]any) { m["steps"].([]any)[3].(map[string]any)["after"] = "400" }, scaling.ErrPlanMismatch},
		"summary edited": {func(m map[string]any) { m["summary"] = "nothing to see" }, scaling.ErrPlanMismatch},
		"retargeted to globex, spec only": {func(m map[string]any) {
			request(m)["tenant"] = "globex"
			spec(m)["namespace"], spec(m)["release"] = "tenant-globex", "globex"
		}, scaling.ErrPlanMismatch},
		"fingerprint emptied":  {func(m map[string]any) { m["fingerprint"] = map[string]any{} }, scaling.ErrInvalidPlan},
		"request negative pod": {func(m map[string]any) { request(m)["hard"].(map[string]any)["pods"] = "-1" }, scaling.ErrInvalidInput},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, "acme", "globex")
			ctx := context.Background()
			plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: runbook()})
			require.NoError(t, err)
			require.Empty(t, plan.Blocking())
			e.kube.ClearActions()

			_, err = e.client.Apply(ctx, plantest.Edited(t, plan, c.edit))
			require.ErrorIs(t, err, c.want)
			assert.Empty(t, e.writes(), "nothing written")
			assert.Equal(t, 1, e.last(t, "acme").Revision)
			assert.Equal(t, 1, e.last(t, "globex").Revision)

			_, err = e.client.Apply(ctx, plantest.Edited(t, plan, func(map[string]any) {}))
			require.NoError(t, err, "the plan as approved still applies")
			assert.Equal(t, 2, e.last(t, "acme").Revision)
		})
	}
}

// TestStalePlans: a quota edited by hand, a relabelled namespace, a new
// revision since planning make the plan stale; a limit below a usage
// that grew since planning is blocked at Apply with its cause.
func TestStalePlans(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		change func(t *testing.T, e *fakeEnv)
		want   error
	}{
		"quota edited by hand": {func(t *testing.T, e *fakeEnv) {
			rq, err := e.kube.CoreV1().ResourceQuotas("tenant-acme").Get(ctx, "acme-ironflow-quota", metav1.GetOptions{})
			require.NoError(t, err)
			rq.Spec.Hard["pods"] = q("25")
			_, err = e.kube.CoreV1().ResourceQuotas("tenant-acme").Update(ctx, rq, metav1.UpdateOptions{})
			require.NoError(t, err)
		}, scaling.ErrStalePlan},
		"namespace relabelled": {func(t *testing.T, e *fakeEnv) {
			ns, err := e.kube.CoreV1().Namespaces().Get(ctx, "tenant-acme", metav1.GetOptions{})
			require.NoError(t, err)
			ns.Labels[tenants.DefaultTenantLabel] = "globex"
			_, err = e.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
			require.NoError(t, err)
		}, scaling.ErrStalePlan},
		"usage grew above the new limit": {func(t *testing.T, e *fakeEnv) {
			e.syncQuota(t, "tenant-acme", "acme", corev1.ResourceList{"pods": q("15")})
		}, tenants.ErrBelowUsage},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, "acme")
			plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"pods": q("12")}})
			require.NoError(t, err)
			require.Empty(t, plan.Blocking())
			c.change(t, e)
			e.kube.ClearActions()
			_, err = e.client.Apply(ctx, plan)
			require.ErrorIs(t, err, c.want)
			assert.Empty(t, e.writes())
			assert.Equal(t, 1, e.last(t, "acme").Revision)
		})
	}
}
