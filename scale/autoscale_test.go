package scale_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func ptr[T any](v T) *T { return &v }

// requestRate is the runbook's "scale based on request rate" with the
// behavior the large template uses.
func requestRate(ns string, minR, maxR int32) scale.Autoscale {
	return scale.Autoscale{
		Namespace: ns, Release: release, MinReplicas: minR, MaxReplicas: maxR, TargetCPUUtilization: 70,
		PodsMetrics: []scale.PodsMetric{{Name: "http_requests_per_second", AverageValue: resource.MustParse("1k")}},
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(300)),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60}}},
			ScaleUp: &autoscalingv2.HPAScalingRules{SelectPolicy: ptr(autoscalingv2.MaxChangePolicySelect),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}, {Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
		},
	}
}

func TestPlanAutoscaleEnables(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanAutoscale(ctx, requestRate(ns, 2, 6))
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())
	fields := stepsByField(plan)
	assert.Equal(t, "false", fields["autoscaling.enabled"].Before)
	assert.Equal(t, "true", fields["autoscaling.enabled"].After)
	assert.Equal(t, "6", fields["autoscaling.maxReplicas"].After)
	assert.Contains(t, plan.Diff, "HorizontalPodAutoscaler (autoscaling/v2) added")
	assert.Contains(t, plan.Diff, "name: http_requests_per_second")
	assert.Contains(t, plan.Diff, "-  replicas: 3\n", "the Deployment stops rendering replicas")
	g := guard(t, plan, "replicas-reset")
	assert.Equal(t, scaling.Warn, g.Outcome)
	assert.Contains(t, g.Reason, "drops from 3 to 1 replica until the HPA raises it to 2")
	assert.Equal(t, scaling.Pass, guard(t, plan, "resource-requests").Outcome)

	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	as := e.last(t).Values["autoscaling"].(map[string]any)
	assert.Equal(t, true, as["enabled"])
	assert.EqualValues(t, 6, as["maxReplicas"])
	assert.NotNil(t, as["behavior"])
}

func TestAutoscaleNeedsRequestsForUtilization(t *testing.T) {
	vals := clustered(3)
	vals["resources"] = map[string]any{"requests": nil, "limits": nil}
	e := newFakeEnv(t, vals)
	plan, err := e.client.PlanAutoscale(context.Background(), scale.Autoscale{Namespace: ns, Release: release, MinReplicas: 2, MaxReplicas: 5, TargetCPUUtilization: 60})
	require.NoError(t, err)
	g := guard(t, plan, "resource-requests")
	require.Equal(t, scaling.Block, g.Outcome)
	assert.Contains(t, g.Reason, "a cpu utilization target needs cpu requests, and container")
	_, err = e.client.Apply(context.Background(), plan)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Equal(t, 1, e.last(t).Revision)
}

func TestAutoscaleBadInput(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	bad := map[string]scale.Autoscale{
		"min 0":     {Namespace: ns, Release: release, MinReplicas: 0, MaxReplicas: 3},
		"min > max": {Namespace: ns, Release: release, MinReplicas: 5, MaxReplicas: 3},
		"policy":    {Namespace: ns, Release: release, MinReplicas: 1, MaxReplicas: 3, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Bogus", Value: 1, PeriodSeconds: 15}}}}},
		"window":    {Namespace: ns, Release: release, MinReplicas: 1, MaxReplicas: 3, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(4000))}}},
		"metric":    {Namespace: ns, Release: release, MinReplicas: 1, MaxReplicas: 3, PodsMetrics: []scale.PodsMetric{{Name: "rps"}}},
	}
	for name, a := range bad {
		_, err := e.client.PlanAutoscale(context.Background(), a)
		assert.ErrorIs(t, err, scaling.ErrInvalidInput, name)
	}
	assert.Empty(t, e.kube.Actions(), "bad input reads nothing")
	assert.Equal(t, 1, e.last(t).Revision)
}
