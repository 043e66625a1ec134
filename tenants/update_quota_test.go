package tenants_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/values"
	"github.com/ironflow/scaling/tenants"
)

// TestUpdateQuotaChangesOnlyTheQuota: the runbook's raise of acme's quota
// changes the hard map and nothing else of acme's values (its ingress.host
// is kept), writes only acme's release, and a second Apply writes nothing.
func TestUpdateQuotaChangesOnlyTheQuota(t *testing.T) {
	e := newFakeEnv(t, "acme", "globex")
	e.addNodes(t, 3, "8", "32Gi")
	ctx := context.Background()
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: runbook()})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, scaling.ObjectRef{Kind: "HelmRelease", Namespace: "tenant-acme", Name: "acme"}, plan.Target)

	// The values diff names the six quota keys, the manifest diff the quota
	// only; ingress.host is not in the diff (unchanged).
	var changed []string
	for _, l := range strings.Split(plan.Diff, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
			changed = append(changed, l)
		}
	}
	for _, l := range changed {
		assert.Regexp(t, `(requests|limits)\.(cpu|memory|storage)|pods`, l, "only quota keys change:\n%s", plan.Diff)
	}
	assert.NotContains(t, plan.Diff, "ingress")
	assert.Contains(t, plan.Diff, "acme-ironflow-quota, ResourceQuota")
	assert.Len(t, plan.Steps, 7, "the upgrade and one step per changed resource")
	assert.Equal(t, "spec.hard.limits.cpu", plan.Steps[1].Field)
	assert.Equal(t, "4", plan.Steps[1].Before)
	assert.Equal(t, "8", plan.Steps[1].After)
	g, _ := plan.Guard(tenants.GuardOvercommit)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	assert.Contains(t, g.Reason, "requests.cpu 6 of 24 allocatable (0.3x)")

	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	require.True(t, applied.Changed)
	rel := e.last(t, "acme")
	assert.Equal(t, 2, rel.Revision)
	host, _ := values.Get(rel.Values, "ingress.host")
	assert.Equal(t, "acme.ironflow.example.com", host, "the tenant's other values are kept")
	hard, _ := values.Get(rel.Values, "resourceQuota.hard")
	assert.Equal(t, map[string]any{"requests.cpu": "4", "limits.cpu": "8", "requests.memory": "8Gi", "limits.memory": "16Gi", "requests.storage": "100Gi", "pods": "40"}, hard)
	assert.Equal(t, 1, e.last(t, "globex").Revision, "the other tenant is untouched")
	assert.Empty(t, e.writes(), "the fake mirrors workloads only; the quota change writes none")

	e.syncQuota(t, "tenant-acme", "acme", nil)
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, again.Reason)
	assert.Equal(t, 2, e.last(t, "acme").Revision, "re-applying writes nothing")
	assert.Empty(t, e.writes())

	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
}

// TestBelowUsageBlocksWithNumbers: a new limit below what the tenant uses
// is blocked per resource with both numbers, and Apply refuses it without
// a write.
func TestBelowUsageBlocksWithNumbers(t *testing.T) {
	e := newFakeEnv(t, "acme")
	e.syncQuota(t, "tenant-acme", "acme", corev1.ResourceList{"requests.cpu": q("1500m"), "pods": q("12")})
	ctx := context.Background()
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"requests.cpu": q("1"), "pods": q("10"), "limits.cpu": q("6")}})
	require.NoError(t, err)
	g, ok := plan.Guard(tenants.GuardBelowUsage)
	require.True(t, ok)
	assert.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "pods hard 10 < used 12")
	assert.Contains(t, g.Reason, "requests.cpu hard 1 < used 1500m")

	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var below *tenants.BelowUsageError
	require.ErrorAs(t, err, &below)
	assert.Equal(t, []tenants.BelowUsage{{Resource: "pods", Hard: "10", Used: "12"}, {Resource: "requests.cpu", Hard: "1", Used: "1500m"}}, below.Resources)
	assert.ErrorIs(t, err, tenants.ErrBelowUsage)
	assert.Equal(t, 1, e.last(t, "acme").Revision, "nothing written")
	assert.Empty(t, e.writes())
}

// TestInvalidInputReadsNothing: a malformed request is a
// *scaling.InvalidInputError before any request.
func TestInvalidInputReadsNothing(t *testing.T) {
	for name, r := range map[string]tenants.UpdateQuota{
		"no tenant":         {Hard: runbook()},
		"tenant not a name": {Tenant: "Acme_Corp", Hard: runbook()},
		"no limits":         {Tenant: "acme"},
		"negative":          {Tenant: "acme", Hard: corev1.ResourceList{"pods": q("-1")}},
		"bad resource":      {Tenant: "acme", Hard: corev1.ResourceList{"requests cpu": q("1")}},
		"bad value path":    {Tenant: "acme", Hard: runbook(), ValuePath: "resourceQuota..hard"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, "acme")
			_, err := e.client.PlanUpdateQuota(context.Background(), r)
			var invalid *scaling.InvalidInputError
			require.ErrorAs(t, err, &invalid)
			assert.ErrorIs(t, err, scaling.ErrInvalidInput)
			assert.Empty(t, e.kube.Actions(), "no request")
		})
	}
}

// TestOwnershipBlocks: a namespace that is no tenant's or another tenant's,
// a quota another release owns, and a release that renders outside its
// namespace are blocked with a *tenants.OwnershipError; a missing
// namespace is a *scaling.NotFoundError.
func TestOwnershipBlocks(t *testing.T) {
	ctx := context.Background()
	relabel := func(t *testing.T, e *fakeEnv, labels map[string]string) {
		ns, err := e.kube.CoreV1().Namespaces().Get(ctx, "tenant-acme", metav1.GetOptions{})
		require.NoError(t, err)
		ns.Labels = labels
		_, err = e.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		require.NoError(t, err)
		e.kube.ClearActions()
	}
	for name, c := range map[string]struct {
		setup func(t *testing.T, e *fakeEnv)
		guard string
		text  string
	}{
		"namespace without the tenant label": {func(t *testing.T, e *fakeEnv) { relabel(t, e, nil) }, tenants.GuardTenantNamespace, "no ironflow.io/tenant label"},
		"namespace of another tenant": {func(t *testing.T, e *fakeEnv) {
			relabel(t, e, map[string]string{tenants.DefaultTenantLabel: "globex"})
		}, tenants.GuardTenantNamespace, "it is tenant globex's"},
		"quota owned by another release": {func(t *testing.T, e *fakeEnv) {
			rq, err := e.kube.CoreV1().ResourceQuotas("tenant-acme").Get(ctx, "acme-ironflow-quota", metav1.GetOptions{})
			require.NoError(t, err)
			rq.Annotations["meta.helm.sh/release-name"] = "globex"
			_, err = e.kube.CoreV1().ResourceQuotas("tenant-acme").Update(ctx, rq, metav1.UpdateOptions{})
			require.NoError(t, err)
			e.kube.ClearActions()
		}, tenants.GuardQuotaOwner, "belongs to release tenant-acme/globex"},
		"release rendering into another namespace": {func(t *testing.T, e *fakeEnv) {
			// A release of the chart in a tenant namespace that renders
			// objects elsewhere: a release whose values put the NATS
			// subchart into globex's namespace.
			rel := e.last(t, "acme")
			vals := values.Copy(rel.Values)
			require.NoError(t, values.Set(vals, "nats.namespaceOverride", "tenant-globex"))
			_, err := e.releases.Upgrade(ctx, "tenant-acme", "acme", rel.Revision, scaling.ChartSource{Ref: chartPath()}, vals)
			require.NoError(t, err)
			e.kube.ClearActions()
		}, tenants.GuardTenantScope, "tenant-globex"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, "acme", "globex")
			c.setup(t, e)
			plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: runbook()})
			require.NoError(t, err)
			g, ok := plan.Guard(c.guard)
			require.True(t, ok)
			require.Equal(t, scaling.Block, g.Outcome, plan.String())
			assert.Contains(t, g.Reason, c.text)
			rev := e.last(t, "acme").Revision
			_, err = e.client.Apply(ctx, plan)
			var own *tenants.OwnershipError
			require.ErrorAs(t, err, &own)
			assert.ErrorIs(t, err, tenants.ErrOwnership)
			assert.Equal(t, rev, e.last(t, "acme").Revision, "nothing written")
			assert.Empty(t, e.writes())
		})
	}
	t.Run("missing namespace", func(t *testing.T) {
		e := newFakeEnv(t, "acme")
		_, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "initech", Hard: runbook()})
		var nf *scaling.NotFoundError
		require.ErrorAs(t, err, &nf)
		assert.Equal(t, "tenant-initech", nf.Object.Name)
	})
	t.Run("missing release", func(t *testing.T) {
		e := newFakeEnv(t, "acme")
		_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-initech",
			Labels: map[string]string{tenants.DefaultTenantLabel: "initech"}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "initech", Hard: runbook()})
		assert.ErrorIs(t, err, scaling.ErrNotFound)
	})
}

// TestOvercommitWarnsWithTheRatio: the tenants' quotas summed with the new
// limits against the nodes' allocatable.
func TestOvercommitWarnsWithTheRatio(t *testing.T) {
	e := newFakeEnv(t, "acme", "globex")
	e.addNodes(t, 1, "4", "16Gi")
	plan, err := e.client.PlanUpdateQuota(context.Background(), tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"requests.cpu": q("4")}})
	require.NoError(t, err)
	g, _ := plan.Guard(tenants.GuardOvercommit)
	assert.Equal(t, scaling.Warn, g.Outcome)
	assert.Contains(t, g.Reason, "requests.cpu 6 of 4 allocatable (1.5x)")
	assert.Contains(t, g.Reason, "2 tenant(s)")
	assert.Empty(t, plan.Blocking())
}

// TestVerifyReportsAnOverride: a quota edited by hand after the upgrade is
// Overridden, naming what it holds.
func TestVerifyReportsAnOverride(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"pods": q("30")}})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	e.syncQuota(t, "tenant-acme", "acme", nil)
	rq, err := e.kube.CoreV1().ResourceQuotas("tenant-acme").Get(ctx, "acme-ironflow-quota", metav1.GetOptions{})
	require.NoError(t, err)
	rq.Spec.Hard["pods"] = q("25")
	_, err = e.kube.CoreV1().ResourceQuotas("tenant-acme").Update(ctx, rq, metav1.UpdateOptions{})
	require.NoError(t, err)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Overridden, v.Phase, v.String())
	assert.Contains(t, v.Reason, "pods=25")
}

// TestVerifyFailsWhenNotApplied: a plan never applied does not hold.
func TestVerifyFailsWhenNotApplied(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"pods": q("30")}})
	require.NoError(t, err)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase)
	assert.Contains(t, v.Reason, "does not carry the planned resourceQuota.hard")
}

// TestUnchangedLimitsAreANoOp: limits spelt differently but equal ("4096Mi"
// for 4Gi) change nothing.
func TestUnchangedLimitsAreANoOp(t *testing.T) {
	e := newFakeEnv(t, "acme")
	plan, err := e.client.PlanUpdateQuota(context.Background(), tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"requests.memory": q("4096Mi"), "pods": q("20")}})
	require.NoError(t, err)
	assert.True(t, plan.NoOp, plan.String())
	applied, err := e.client.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.False(t, applied.Changed)
	assert.Equal(t, 1, e.last(t, "acme").Revision)
}

// TestQuotaOfATenantWithoutOne: a tenant installed without the profile has
// no quota; the plan turns it on with the limits asked for.
func TestQuotaOfATenantWithoutOne(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-acme",
		Labels: map[string]string{tenants.DefaultTenantLabel: "acme"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e.releases.Install(ctx, "tenant-acme", "acme", chartPath(), map[string]any{"ingress": map[string]any{"host": "acme.ironflow.example.com"}})
	require.NoError(t, err)
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"pods": q("20")}})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Contains(t, plan.Diff, "+  enabled: true")
	assert.Equal(t, "(none)", plan.Steps[1].Before)
	g, _ := plan.Guard(tenants.GuardQuotaOwner)
	assert.Contains(t, g.Reason, "the upgrade creates it")
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	hard, _ := values.Get(e.last(t, "acme").Values, "resourceQuota.hard")
	assert.Equal(t, map[string]any{"pods": "20"}, hard)
}

// TestVerifyWaitsForTheQuotaController: Verify watches the quota, and
// returns once the quota controller has copied the new spec.hard into
// status.hard.
func TestVerifyWaitsForTheQuotaController(t *testing.T) {
	e := newFakeEnv(t, "acme")
	ctx := context.Background()
	plan, err := e.client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{"pods": q("30")}})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	// Helm's patch of the spec; the controller has not caught up.
	rq, err := e.kube.CoreV1().ResourceQuotas("tenant-acme").Get(ctx, "acme-ironflow-quota", metav1.GetOptions{})
	require.NoError(t, err)
	rq.Spec.Hard["pods"] = q("30")
	rq, err = e.kube.CoreV1().ResourceQuotas("tenant-acme").Update(ctx, rq, metav1.UpdateOptions{})
	require.NoError(t, err)

	observed := make(chan string, 16)
	watcher, err := tenants.New(&scaling.Cluster{Kube: e.kube}, tenants.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		Progress: func(ev scaling.Event) {
			if ev.Kind == scaling.CheckObserved && ev.Check.Name == "status-hard" {
				observed <- ev.Check.Observed
			}
		}})
	require.NoError(t, err)
	done := make(chan *scaling.Verification, 1)
	go func() {
		v, err := watcher.Verify(ctx, plan)
		assert.NoError(t, err)
		done <- v
	}()
	assert.Contains(t, <-observed, "pods=20", "the controller's copy is still the old one")
	rq.Status.Hard = rq.Spec.DeepCopy().Hard
	_, err = e.kube.CoreV1().ResourceQuotas("tenant-acme").UpdateStatus(ctx, rq, metav1.UpdateOptions{})
	require.NoError(t, err)
	v := <-done
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
}
