package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/postgres"
)

func guardOf(t *testing.T, p *scaling.Plan, name string) scaling.GuardResult {
	t.Helper()
	for _, g := range p.Guards {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("plan has no %s guard: %v", name, p.Guards)
	return scaling.GuardResult{}
}

func expand(size string) postgres.ExpandStorage {
	return postgres.ExpandStorage{Namespace: relNS, Release: relName, Size: size}
}

// TestExpandStorageGrowsThroughTheRelease: an expandable class: one
// upgrade sets the Cluster's spec.storage.size; Verify waits until the
// operator and the resizer have grown every claim.
func TestExpandStorageGrowsThroughTheRelease(t *testing.T) {
	e := newReleaseEnv(t, pgValues(3, false), true)
	ctx := t.Context()
	plan, err := e.client.PlanExpandStorage(ctx, expand("20Gi"))
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.False(t, plan.NoOp)
	assert.Equal(t, "postgresql.persistence.size", plan.Steps[0].Field)
	assert.Equal(t, "10Gi", plan.Steps[0].Before)
	assert.Equal(t, "20Gi", plan.Steps[0].After)
	require.Len(t, plan.Steps, 4, "the upgrade and the three claims the operator resizes")
	assert.Equal(t, postgres.ActionResizeClaim, plan.Steps[3].Action)
	assert.Contains(t, plan.Diff, "size: 20Gi")
	assert.Equal(t, scaling.Pass, guardOf(t, plan, scaling.GuardStorage).Outcome)
	assert.Empty(t, e.writes(), "planning writes nothing")

	stored := plantest.Edited(t, plan, func(map[string]any) {})
	applied, err := e.client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	assert.Equal(t, 2, e.revision(t))
	size, _, _ := unstructured.NestedString(e.cluster(t).Object, "spec", "storage", "size")
	assert.Equal(t, "20Gi", size)

	// Before the resize: TimedOut, naming the claims.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	v, err := e.client.Verify(short, stored)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase, v.String())
	assert.Contains(t, v.Reason, "claim ironflow-pg-1 expected >= 20Gi")

	go func() { time.Sleep(100 * time.Millisecond); e.resizeClaims(t, "20Gi") }()
	v, err = e.client.Verify(ctx, stored)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())

	// Again: the target state holds, nothing is written.
	e.clearActions()
	again, err := e.client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.False(t, again.Changed)
	assert.Equal(t, 2, e.revision(t))
	assert.Empty(t, e.writes())
}

// TestExpandStorageAtTheCurrentSizeIsANoOp: the release and the Cluster
// have the size: nothing to do.
func TestExpandStorageAtTheCurrentSizeIsANoOp(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanExpandStorage(t.Context(), expand("10Gi"))
	require.NoError(t, err)
	assert.True(t, plan.NoOp, plan.String())
	assert.Empty(t, plan.Steps)
	applied, err := e.client.Apply(t.Context(), plan)
	require.NoError(t, err)
	assert.False(t, applied.Changed)
	assert.Equal(t, 1, e.revision(t))
}

// TestExpandStorageOnAFixedClassNamesBackupAndRestore: a class without
// allowVolumeExpansion blocks with the way that works; the stored plan is
// refused with zero writes.
func TestExpandStorageOnAFixedClassNamesBackupAndRestore(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), false)
	ctx := t.Context()
	plan, err := e.client.PlanExpandStorage(ctx, expand("20Gi"))
	require.NoError(t, err)
	g := guardOf(t, plan, postgres.GuardExpansion)
	require.Equal(t, scaling.Block, g.Outcome)
	_, err = e.client.Apply(ctx, plantest.Edited(t, plan, func(map[string]any) {}))
	var fixed *postgres.NotExpandableError
	require.ErrorAs(t, err, &fixed)
	assert.ErrorIs(t, err, postgres.ErrNotExpandable)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Equal(t, "standard", fixed.StorageClass)
	assert.Contains(t, fixed.Error(), "bootstrap.recovery")
	assert.Contains(t, fixed.Error(), "pg_basebackup")
	assert.Equal(t, 1, e.revision(t))
	assert.Empty(t, e.writes())
}

// TestExpandStorageRefusesAShrink: typed, with both sizes.
func TestExpandStorageRefusesAShrink(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanExpandStorage(t.Context(), expand("5Gi"))
	require.NoError(t, err)
	g := guardOf(t, plan, postgres.GuardShrink)
	require.Equal(t, scaling.Block, g.Outcome)
	var shrink *postgres.ShrinkError
	require.ErrorAs(t, g.Cause, &shrink)
	assert.Equal(t, "10Gi", shrink.Current)
	assert.Equal(t, "5Gi", shrink.Requested)
	assert.ErrorIs(t, shrink, postgres.ErrShrink)
	_, err = e.client.Apply(t.Context(), plan)
	assert.ErrorIs(t, err, postgres.ErrShrink)
	assert.Empty(t, e.writes())
}

// TestExpandStorageWithinTheQuota: 3 claims x 10Gi more against a quota
// that leaves 15Gi, and a size above the backend's largest volume.
func TestExpandStorageWithinTheQuota(t *testing.T) {
	e := newReleaseEnv(t, pgValues(3, false), true)
	ctx := t.Context()
	_, err := e.kube.CoreV1().ResourceQuotas(relNS).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: relNS},
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: resource.MustParse("45Gi")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourceRequestsStorage: resource.MustParse("30Gi")}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	plan, err := e.client.PlanExpandStorage(ctx, expand("20Gi"))
	require.NoError(t, err)
	var short *scaling.StorageError
	require.ErrorAs(t, guardOf(t, plan, scaling.GuardStorage).Cause, &short)
	assert.Equal(t, []scaling.StorageShortfall{{Of: "ResourceQuota", Name: "storage", Resource: "requests.storage", Need: "30Gi", Have: "15Gi"}}, short.Short)
	e.clearActions()
	_, err = e.client.Apply(ctx, plan)
	assert.ErrorIs(t, err, scaling.ErrStorage)
	assert.Empty(t, e.writes())

	plan, err = e.client.PlanExpandStorage(ctx, expand("15Gi"))
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guardOf(t, plan, scaling.GuardStorage).Outcome)

	plan, err = e.client.PlanExpandStorage(ctx, expand("11Ti"))
	require.NoError(t, err)
	require.ErrorAs(t, guardOf(t, plan, scaling.GuardStorage).Cause, &short)
	assert.Contains(t, short.Short, scaling.StorageShortfall{Of: "volume maximum", Need: "11Ti", Have: "10Ti"})
}

// TestAnEditedExpandPlanIsRefused: a size edited in the stored plan is a
// mismatch; nothing is written.
func TestAnEditedExpandPlanIsRefused(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanExpandStorage(t.Context(), expand("20Gi"))
	require.NoError(t, err)
	edited := plantest.Edited(t, plan, func(doc map[string]any) {
		doc["spec"].(map[string]any)["request"].(map[string]any)["size"] = "2000Gi"
	})
	_, err = e.client.Apply(t.Context(), edited)
	assert.ErrorIs(t, err, scaling.ErrPlanMismatch)
	assert.Equal(t, 1, e.revision(t))
	assert.Empty(t, e.writes())

	stepEdited := plantest.Edited(t, plan, func(doc map[string]any) {
		doc["steps"].([]any)[0].(map[string]any)["after"] = "30Gi"
	})
	_, err = e.client.Apply(t.Context(), stepEdited)
	assert.ErrorIs(t, err, scaling.ErrPlanMismatch)
	assert.Empty(t, e.writes())
}

// TestAStaleExpandPlanIsRefused: the release moved since planning.
func TestAStaleExpandPlanIsRefused(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanExpandStorage(t.Context(), expand("20Gi"))
	require.NoError(t, err)
	other, err := e.client.PlanScaleInstances(t.Context(), postgres.ScaleInstances{Namespace: relNS, Release: relName, Instances: 3})
	require.NoError(t, err)
	_, err = e.client.Apply(t.Context(), other)
	require.NoError(t, err)
	e.clearActions()
	_, err = e.client.Apply(t.Context(), plan)
	assert.ErrorIs(t, err, scaling.ErrStalePlan)
	assert.Equal(t, 2, e.revision(t))
	assert.Empty(t, e.writes())
}

// TestAnInfeasibleResizeIsAFailedVerify: the resizer gives up.
func TestAnInfeasibleResizeIsAFailedVerify(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	ctx := t.Context()
	plan, err := e.client.PlanExpandStorage(ctx, expand("20Gi"))
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	p, err := e.kube.CoreV1().PersistentVolumeClaims(relNS).Get(ctx, pgCluster+"-2", metav1.GetOptions{})
	require.NoError(t, err)
	p.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible}
	_, err = e.kube.CoreV1().PersistentVolumeClaims(relNS).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase)
	var failed *postgres.ResizeFailedError
	require.ErrorAs(t, v.Err, &failed)
	assert.Equal(t, pgCluster+"-2", failed.Claim)
}

// TestReleaseOperationsCheckInputBeforeReading: every invalid request is a
// typed error naming the field, and nothing is read.
func TestReleaseOperationsCheckInputBeforeReading(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	ctx := t.Context()
	for name, plan := range map[string]func() (*scaling.Plan, error){
		"ExpandStorage.Namespace": func() (*scaling.Plan, error) {
			return e.client.PlanExpandStorage(ctx, postgres.ExpandStorage{Release: relName, Size: "1Gi"})
		},
		"ExpandStorage.Size": func() (*scaling.Plan, error) { return e.client.PlanExpandStorage(ctx, expand("-1Gi")) },
		"ExpandStorage.ValuePrefix": func() (*scaling.Plan, error) {
			return e.client.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: relNS, Release: relName, Size: "1Gi", ValuePrefix: ".pg"})
		},
		"ScaleInstances.Instances": func() (*scaling.Plan, error) {
			return e.client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: relNS, Release: relName, Instances: 0})
		},
		"ScaleInstances.Release": func() (*scaling.Plan, error) {
			return e.client.PlanScaleInstances(ctx, postgres.ScaleInstances{Namespace: relNS, Instances: 2})
		},
		"ConfigurePooler.Type": func() (*scaling.Plan, error) {
			return e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Type: "rwx"})
		},
		"ConfigurePooler.Instances": func() (*scaling.Plan, error) {
			return e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, Instances: -1})
		},
		"ConfigurePooler.PoolMode": func() (*scaling.Plan, error) {
			return e.client.PlanConfigurePooler(ctx, postgres.ConfigurePooler{Namespace: relNS, Release: relName, PoolMode: "statement"})
		},
		"Parameters.Set": func() (*scaling.Plan, error) {
			return e.client.PlanParameters(ctx, postgres.Parameters{Namespace: relNS, Release: relName, Set: map[string]string{"work_mem; DROP TABLE x": "1"}})
		},
		"Parameters.Set[work_mem]": func() (*scaling.Plan, error) {
			return e.client.PlanParameters(ctx, postgres.Parameters{Namespace: relNS, Release: relName, Set: map[string]string{"work_mem": " "}})
		},
	} {
		p, err := plan()
		assert.Nil(t, p, name)
		var bad *scaling.InvalidInputError
		require.ErrorAs(t, err, &bad, name)
		assert.Equal(t, name, bad.Field)
	}
	assert.Empty(t, e.kube.Actions(), "bad input reads nothing")
	assert.Empty(t, e.dyn.Actions())
}

// TestReleaseOperationsNeedHelm: a client without Helm refuses the release
// operations with a typed error and still switches over.
func TestReleaseOperationsNeedHelm(t *testing.T) {
	kube := k8sfake.NewClientset()
	dyn := dynamicfake.NewSimpleDynamicClient(kruntime.NewScheme())
	client, err := postgres.New(&scaling.Cluster{Kube: kube, Dynamic: dyn}, postgres.Options{})
	require.NoError(t, err)
	_, err = client.PlanScaleInstances(t.Context(), postgres.ScaleInstances{Namespace: relNS, Release: relName, Instances: 2})
	var bad *scaling.InvalidInputError
	require.ErrorAs(t, err, &bad)
	assert.Equal(t, "Options.Releases", bad.Field)
	assert.Empty(t, kube.Actions())
	assert.Contains(t, client.Operations(), postgres.OpSwitchover)

	sw := newCNPGEnv(t, 3)
	plan, err := sw.client.PlanSwitchover(t.Context(), postgres.Switchover{Namespace: "db", Cluster: "pg"})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
}

func TestNewValidatesTheReleaseOptions(t *testing.T) {
	kube := k8sfake.NewClientset()
	cluster := &scaling.Cluster{Kube: kube, Dynamic: dynamicfake.NewSimpleDynamicClient(kruntime.NewScheme())}
	for field, opts := range map[string]postgres.Options{
		"Options.MaxVolumeSize":    {MaxVolumeSize: resource.MustParse("-1Gi")},
		"Options.Chart.Ref":        {Chart: scaling.ChartSource{RepoURL: "https://charts.example.com"}},
		"Options.TrustedCharts[0]": {TrustedCharts: []scaling.ChartSource{{}}},
	} {
		_, err := postgres.New(cluster, opts)
		var bad *scaling.InvalidInputError
		require.ErrorAs(t, err, &bad, field)
		assert.Equal(t, field, bad.Field)
	}
	_, err := postgres.New(cluster, postgres.Options{Releases: fake.NewReleases(kube)})
	assert.NoError(t, err)
	assert.Empty(t, kube.Actions())
	assert.False(t, errors.Is(err, scaling.ErrInvalidInput))
}
