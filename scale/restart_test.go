package scale_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

var app = scaling.ObjectRef{Kind: "Deployment", Namespace: ns, Name: release}

func TestRolloutRestartAppliesOnce(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: app})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guard(t, plan, "pdb").Outcome)
	require.Len(t, plan.Steps, 1)
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, plan.Steps[0].After, d.Spec.Template.Annotations[scale.RestartedAtAnnotation])

	e.kube.ClearActions()
	again, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.False(t, again.Changed, "the same plan restarts once")
	assert.Empty(t, e.mutatingActions())
}

func TestRolloutRestartBlockedByExhaustedPDB(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "ironflow"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, CurrentHealthy: 2, DesiredHealthy: 2},
	}
	_, err := e.kube.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()
	plan, err := e.client.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: app})
	require.NoError(t, err)
	g := guard(t, plan, "pdb")
	require.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "PodDisruptionBudget web allows no disruption now (2 healthy, 2 desired)")
	_, err = e.client.Apply(ctx, plan)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Empty(t, e.mutatingActions())

	_, err = e.client.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: ns}})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
}
