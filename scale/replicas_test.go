package scale_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

func TestPlanReplicasScaleUp(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	plan, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)

	assert.Equal(t, scale.OpReplicas, plan.Operation)
	assert.False(t, plan.NoOp)
	assert.Empty(t, plan.Blocking())
	require.Len(t, plan.Steps, 2)
	assert.Equal(t, scaling.Step{Action: "helm upgrade", Object: scaling.ObjectRef{Kind: "HelmRelease", Namespace: ns, Name: release},
		Field: "replicaCount", Before: "3", After: "5", Note: plan.Steps[0].Note}, plan.Steps[0])
	assert.Equal(t, "Deployment/demo/ironflow", plan.Steps[1].Object.String())
	assert.Equal(t, "3", plan.Steps[1].Before)
	assert.Contains(t, plan.Diff, "-replicaCount: 3\n+replicaCount: 5\n")
	assert.Contains(t, plan.Diff, "demo, ironflow, Deployment (apps/v1) changed:")
	assert.Contains(t, plan.Diff, "+  replicas: 5\n")
	assert.Equal(t, scaling.Fingerprint{
		"HelmRelease/demo/ironflow revision":  "1",
		"Deployment/demo/ironflow generation": "1",
	}, plan.Fingerprint)
	assert.Empty(t, e.mutatingActions(), "planning writes nothing")

	// The plan survives JSON unchanged, and the decoded copy is what applies.
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	decoded, err := scaling.Decode(data)
	require.NoError(t, err)
	again, err := json.Marshal(decoded)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(again))
	assert.Contains(t, decoded.String(), "[pass] clustering: cluster.enabled is true")
	assert.Contains(t, decoded.String(), "Plan: 2 step(s) to apply.")
}

func TestApplyReplicasThenReapplyIsNoOp(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(data)
	require.NoError(t, err)

	var events []scaling.Event
	client, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()}, Progress: func(ev scaling.Event) { events = append(events, ev) }})
	require.NoError(t, err)
	applied, err := client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	rel := e.last(t)
	assert.Equal(t, 2, rel.Revision)
	assert.EqualValues(t, 5, rel.Values["replicaCount"])
	assert.Equal(t, true, rel.Values["cluster"].(map[string]any)["enabled"], "other user values are kept")
	assert.Equal(t, "2", applied.Fingerprint["HelmRelease/demo/ironflow revision"])
	require.Len(t, events, 2)
	assert.Equal(t, scaling.StepStarted, events[0].Kind)
	assert.Equal(t, scaling.StepFinished, events[1].Kind)
	assert.NoError(t, events[1].Err)
	e.kube.ClearActions()

	again, err := client.Apply(ctx, stored)
	require.NoError(t, err)
	assert.False(t, again.Changed)
	assert.Contains(t, again.Reason, "already holds")
	assert.Equal(t, 2, e.last(t).Revision, "no new Helm revision")
	assert.Empty(t, e.mutatingActions())

	// A fresh plan of the same target is a no-op plan.
	noop, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	assert.True(t, noop.NoOp)
	assert.Empty(t, noop.Steps)
	assert.Empty(t, noop.Diff)
	assert.Contains(t, noop.String(), "No changes.")
}

func TestApplyRefusesStalePlan(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	e.scaleBehindBack(t, 4)

	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, scaling.ErrStalePlan)
	var stale *scaling.StalePlanError
	require.True(t, errors.As(err, &stale))
	assert.Equal(t, []scaling.Drift{{Key: "Deployment/demo/ironflow generation", Planned: "1", Live: "2"}}, stale.Drift)
	assert.Equal(t, 1, e.last(t).Revision, "no upgrade")
	assert.Empty(t, e.mutatingActions())
}

func TestClusteringGuardBlocksAndApplyRefuses(t *testing.T) {
	e := newFakeEnv(t, map[string]any{"replicaCount": 1})
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1)
	assert.Equal(t, "clustering", blocked[0].Name)
	assert.Contains(t, blocked[0].Reason, "3 replicas with cluster.enabled=false")
	assert.Contains(t, blocked[0].Remedy, "medium template")

	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var gb *scaling.GuardBlockedError
	require.True(t, errors.As(err, &gb))
	_, ok := gb.Guard("clustering")
	assert.True(t, ok)
	assert.Equal(t, 1, e.last(t).Revision)
	assert.Empty(t, e.mutatingActions())
}

func TestAutoscaledReleaseIsBlocked(t *testing.T) {
	vals := clustered(3)
	vals["autoscaling"] = map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 10}
	e := newFakeEnv(t, vals)
	plan, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1)
	assert.Equal(t, "hpa", blocked[0].Name, "the chart renders no spec.replicas under an HPA")
	assert.Equal(t, "HPA ironflow owns the replica count of Deployment/demo/ironflow (range [3, 10]); a fixed count would be overridden", blocked[0].Reason)
	assert.Contains(t, blocked[0].Remedy, "minReplicas/maxReplicas (scale.Autoscale), or disable autoscaling")
	_, err = e.client.Apply(context.Background(), plan)
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Equal(t, 1, e.last(t).Revision)
}

func TestPendingReleaseIsTypedError(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	require.NoError(t, e.releases.SetStatus(ns, release, "pending-upgrade"))
	_, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.ErrorIs(t, err, scaling.ErrReleasePending)
	var pe *scaling.ReleasePendingError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "pending-upgrade", pe.Status)
	assert.Equal(t, 1, pe.Revision)
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	for name, r := range map[string]scale.Replicas{
		"negative":     {Namespace: ns, Release: release, Replicas: -1},
		"no release":   {Namespace: ns, Replicas: 2},
		"no namespace": {Release: release, Replicas: 2},
		"bad path":     {Namespace: ns, Release: release, Replicas: 2, ValuePath: "a..b"},
		"both":         {Namespace: ns, Release: release, Replicas: 2, Workload: &scaling.ObjectRef{Kind: "Deployment", Name: "x"}},
		"bad kind":     {Namespace: ns, Replicas: 2, Workload: &scaling.ObjectRef{Kind: "Pod", Name: "x"}},
	} {
		_, err := e.client.PlanReplicas(ctx, r)
		assert.ErrorIs(t, err, scaling.ErrInvalidInput, name)
	}
	_, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: "missing", Replicas: 2})
	assert.ErrorIs(t, err, scaling.ErrNotFound)
	assert.Empty(t, e.kube.Actions(), "invalid input reads nothing from the cluster")
	assert.Equal(t, 1, e.last(t).Revision)

	_, err = e.client.Apply(ctx, &scaling.Plan{Version: scaling.PlanVersion, Operation: "nats.ScaleCluster"})
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	_, err = scale.New(nil, scale.Options{})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	_, err = scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput, "no REST config and no Releases")
}
