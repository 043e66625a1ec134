package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/postgres"
)

func instancesTo(n int32) postgres.ScaleInstances {
	return postgres.ScaleInstances{Namespace: relNS, Release: relName, Instances: n}
}

// TestScaleInstancesUpVerifiedWhenTheReplicasStream: 2 -> 3: one upgrade;
// Verify waits for the new instance's pod, the ready count and its
// streaming.
func TestScaleInstancesUpVerifiedWhenTheReplicasStream(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	ctx := t.Context()
	plan, err := e.client.PlanScaleInstances(ctx, instancesTo(3))
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	require.Len(t, plan.Steps, 2)
	assert.Equal(t, "postgresql.instances", plan.Steps[0].Field)
	assert.Equal(t, postgres.ActionAddInstance, plan.Steps[1].Action)
	assert.Equal(t, pgCluster+"-3", plan.Steps[1].Object.Name)
	assert.Equal(t, scaling.Pass, guardOf(t, plan, scaling.GuardStorage).Outcome)

	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	n, _, _ := unstructured.NestedFieldNoCopy(e.cluster(t).Object, "spec", "instances")
	assert.EqualValues(t, 3, n)

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	v, err := e.client.Verify(short, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Contains(t, v.Reason, "ready-instances expected 3, observed 2")

	// The operator: the new instance joins, first not streaming.
	e.addInstance(t, 3, "10Gi")
	e.status.mu.Lock()
	e.status.by[pgCluster+"-3"].WALReceiverActive = false
	e.status.mu.Unlock()
	e.setStatus(t, map[string]any{"readyInstances": int64(3), "instances": int64(3)})
	short, cancel = context.WithTimeout(ctx, 800*time.Millisecond)
	defer cancel()
	v, err = e.client.Verify(short, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.TimedOut, v.Phase)
	assert.Contains(t, v.Reason, "ironflow-pg-3 (WAL receiver inactive)")

	go func() {
		time.Sleep(200 * time.Millisecond)
		e.status.mu.Lock()
		e.status.by[pgCluster+"-3"].WALReceiverActive = true
		e.status.mu.Unlock()
	}()
	v, err = e.client.Verify(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Succeeded, v.Phase, v.String())
}

// TestScaleInstancesDownNeverRemovesThePrimary: with the primary on the
// highest number, a scale-down is blocked with the advice to switch over;
// with it on ordinal 1 the highest are named and the plan passes.
func TestScaleInstancesDownNeverRemovesThePrimary(t *testing.T) {
	e := newReleaseEnv(t, pgValues(3, false), true)
	ctx := t.Context()
	plan, err := e.client.PlanScaleInstances(ctx, instancesTo(2))
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	assert.Equal(t, postgres.ActionRemoveInstance, plan.Steps[1].Action)
	assert.Equal(t, pgCluster+"-3", plan.Steps[1].Object.Name)

	e.setStatus(t, map[string]any{"currentPrimary": pgCluster + "-3", "targetPrimary": pgCluster + "-3"})
	e.clearActions()
	plan, err = e.client.PlanScaleInstances(ctx, instancesTo(1))
	require.NoError(t, err)
	g := guardOf(t, plan, postgres.GuardPrimaryRemoval)
	require.Equal(t, scaling.Block, g.Outcome)
	assert.Equal(t, scaling.Warn, guardOf(t, plan, postgres.GuardHA).Outcome)
	_, err = e.client.Apply(ctx, plantest.Edited(t, plan, func(map[string]any) {}))
	var removal *postgres.PrimaryRemovalError
	require.ErrorAs(t, err, &removal)
	assert.ErrorIs(t, err, postgres.ErrPrimaryRemoval)
	assert.Equal(t, []string{pgCluster + "-3", pgCluster + "-2"}, removal.Removed)
	assert.Equal(t, []string{pgCluster + "-1"}, removal.Keep)
	assert.Contains(t, removal.Error(), "switch over to one of ironflow-pg-1 first")
	assert.Equal(t, 1, e.revision(t))
	assert.Empty(t, e.writes())
}

// TestScaleInstancesWhileSwitchingOverIsBlocked: the primary is moving.
func TestScaleInstancesWhileSwitchingOverIsBlocked(t *testing.T) {
	e := newReleaseEnv(t, pgValues(3, false), true)
	e.setStatus(t, map[string]any{"targetPrimary": pgCluster + "-2", "phase": "Switchover in progress"})
	plan, err := e.client.PlanScaleInstances(t.Context(), instancesTo(4))
	require.NoError(t, err)
	var inFlight *postgres.InFlightError
	require.ErrorAs(t, guardOf(t, plan, postgres.GuardInFlight).Cause, &inFlight)
	assert.Equal(t, scaling.Warn, guardOf(t, plan, postgres.GuardPhase).Outcome)
}

// TestScaleInstancesUpNeedsStorageQuota: two more instances need two more
// 10Gi claims.
func TestScaleInstancesUpNeedsStorageQuota(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	ctx := t.Context()
	_, err := e.kube.CoreV1().ResourceQuotas(relNS).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: relNS},
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"standard.storageclass.storage.k8s.io/requests.storage": resource.MustParse("35Gi")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"standard.storageclass.storage.k8s.io/requests.storage": resource.MustParse("20Gi")}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	plan, err := e.client.PlanScaleInstances(ctx, instancesTo(4))
	require.NoError(t, err)
	var short *scaling.StorageError
	require.ErrorAs(t, guardOf(t, plan, scaling.GuardStorage).Cause, &short)
	assert.Equal(t, 2, short.Claims)
	assert.Equal(t, "20Gi", short.Short[0].Need)
	assert.Equal(t, "15Gi", short.Short[0].Have)
	plan, err = e.client.PlanScaleInstances(ctx, instancesTo(3))
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
}

// TestScaleInstancesToTheCurrentCountIsANoOp.
func TestScaleInstancesToTheCurrentCountIsANoOp(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanScaleInstances(t.Context(), instancesTo(2))
	require.NoError(t, err)
	assert.True(t, plan.NoOp)
	applied, err := e.client.Apply(t.Context(), plan)
	require.NoError(t, err)
	assert.False(t, applied.Changed)
	assert.Equal(t, 1, e.revision(t))
}

// TestVerifyOfAnUnappliedInstancesPlanFails: the release does not carry the
// count.
func TestVerifyOfAnUnappliedInstancesPlanFails(t *testing.T) {
	e := newReleaseEnv(t, pgValues(2, false), true)
	plan, err := e.client.PlanScaleInstances(t.Context(), instancesTo(3))
	require.NoError(t, err)
	v, err := e.client.Verify(t.Context(), plan)
	require.NoError(t, err)
	assert.Equal(t, scaling.Failed, v.Phase)
	assert.Contains(t, v.Reason, "postgresql.instances is 2, the plan sets 3")
}
