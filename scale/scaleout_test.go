package scale_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// localStorage is a clustered release of the reference chart that keeps
// its files on a ReadWriteOnce volume (values-local-storage.yaml's storage).
func localStorage(replicas int) map[string]any {
	v := clustered(replicas)
	v["storage"] = map[string]any{"provider": "local"}
	return v
}

func guardByName(t *testing.T, plan *scaling.Plan, name string) scaling.GuardResult {
	t.Helper()
	for _, g := range plan.Guards {
		if g.Name == name {
			return g
		}
	}
	require.Failf(t, "no guard", "%s in %s", name, plan.String())
	return scaling.GuardResult{}
}

func TestScaleOutBlockedByLocalStorageAndItsVolume(t *testing.T) {
	e := newFakeEnv(t, localStorage(1))
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	g := blocked[0]
	assert.Equal(t, scale.GuardScaleOutState, g.Name)
	assert.Contains(t, g.Reason, "3 replicas of Deployment/demo/ironflow need state shared by every instance")
	assert.Contains(t, g.Reason, "container ironflow stores files on its own filesystem (FLUXBASE_STORAGE_PROVIDER=local)")
	assert.Contains(t, g.Reason, "PersistentVolumeClaim ironflow-storage (ReadWriteOnce): one node at a time can mount it")
	assert.Contains(t, g.Remedy, "storage.provider=s3")

	var cause *scale.StatePerInstanceError
	require.ErrorAs(t, g.Cause, &cause)
	assert.Equal(t, "local", cause.Storage)
	assert.Equal(t, []scale.ClaimAccess{{Claim: "ironflow-storage", AccessModes: []string{"ReadWriteOnce"}}}, cause.Claims)
	assert.False(t, cause.EmbeddedDB)
	assert.EqualValues(t, 3, cause.Replicas)

	// Stored and decoded: Apply plans again, still blocks, writes nothing,
	// and the typed cause comes back with its findings.
	data, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(data)
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, stored)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	require.ErrorIs(t, err, scale.ErrStatePerInstance)
	var applied *scale.StatePerInstanceError
	require.ErrorAs(t, err, &applied)
	assert.Equal(t, cause.Claims, applied.Claims)
	assert.Equal(t, 1, e.last(t).Revision, "no upgrade")
	assert.Empty(t, e.mutatingActions(), "a blocked plan writes nothing")
}

func TestScaleOutBlockedByReadWriteOnceVolumeAlone(t *testing.T) {
	// Rules under which "local" is no local provider: the ReadWriteOnce
	// claim the chart mounts still pins the pods to one node.
	e := newFakeEnv(t, localStorage(1))
	client, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		ScaleOut: scale.ScaleOutRules{LocalStorage: []string{"filesystem"}}})
	require.NoError(t, err)
	plan, err := client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 2})
	require.NoError(t, err)
	g := guardByName(t, plan, scale.GuardScaleOutState)
	require.Equal(t, scaling.Block, g.Outcome, plan.String())
	var cause *scale.StatePerInstanceError
	require.ErrorAs(t, g.Cause, &cause)
	assert.Empty(t, cause.Storage, "local is not a local value under these rules")
	require.Len(t, cause.Claims, 1)
	assert.Len(t, cause.Reasons, 1)
}

func TestScaleOutBlockedByEmbeddedDatabase(t *testing.T) {
	vals := clustered(1)
	vals["database"] = map[string]any{"embedded": true}
	e := newFakeEnv(t, vals)
	plan, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	g := guardByName(t, plan, scale.GuardScaleOutState)
	require.Equal(t, scaling.Block, g.Outcome, plan.String())
	assert.Contains(t, g.Reason, "container ironflow runs an embedded database (FLUXBASE_DATABASE_EMBEDDED=true, no DATABASE_URL): 3 replicas would be 3 separate databases")
	var cause *scale.StatePerInstanceError
	require.ErrorAs(t, g.Cause, &cause)
	assert.True(t, cause.EmbeddedDB)
	assert.Empty(t, cause.Claims)

	// An external DATABASE_URL next to the flag: the database is shared.
	vals["database"] = map[string]any{"embedded": true, "url": "postgres://ironflow@db.example:5432/ironflow"}
	e = newFakeEnv(t, vals)
	plan, err = e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	g = guardByName(t, plan, scale.GuardScaleOutState)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	assert.Contains(t, g.Reason, "an external database through DATABASE_URL (env)")
}

func TestScaleOutPassesOnceS3IsConfigured(t *testing.T) {
	e := newFakeEnv(t, localStorage(1))
	ctx := context.Background()
	// The operator moves the release to S3 (what `helm upgrade --set
	// storage.provider=s3` does); the scale-out then passes.
	rel := e.last(t)
	vals := localStorage(1)
	vals["storage"] = map[string]any{"provider": "s3", "s3": map[string]any{"bucket": "uploads"}}
	_, err := e.releases.Upgrade(ctx, ns, release, rel.Revision, scaling.ChartSource{Ref: chartPath()}, vals)
	require.NoError(t, err)
	e.kube.ClearActions()

	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	g := guardByName(t, plan, scale.GuardScaleOutState)
	assert.Equal(t, "3 replicas of Deployment/demo/ironflow keep no state per instance: no local storage, no ReadWriteOnce volume, no embedded database", g.Reason)
	assert.Equal(t, scaling.Pass, guardByName(t, plan, scale.GuardStickySessions).Outcome)
	applied, err := e.client.Apply(ctx, plan)
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	assert.EqualValues(t, 3, e.last(t).Values["replicaCount"])
}

func TestScaleOutToOneOrDownIsNotJudged(t *testing.T) {
	e := newFakeEnv(t, localStorage(3))
	ctx := context.Background()
	for n, want := range map[int32]string{
		1: "replicas is 1: a single instance shares its state with no other",
		2: "a scale-in from 3 to 2 replicas adds no instance",
	} {
		plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: n})
		require.NoError(t, err)
		assert.Empty(t, plan.Blocking(), plan.String())
		assert.Equal(t, want, guardByName(t, plan, scale.GuardScaleOutState).Reason)
	}
}

func TestStickySessionsWarnWithRealtime(t *testing.T) {
	vals := clustered(1)
	vals["realtime"] = map[string]any{"enabled": true}
	e := newFakeEnv(t, vals)
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking(), "a warning, not a block")
	g := guardByName(t, plan, scale.GuardStickySessions)
	assert.Equal(t, scaling.Warn, g.Outcome)
	assert.Equal(t, "container ironflow serves realtime clients (FLUXBASE_REALTIME_ENABLED=true), and Service ironflow balances them over 3 replicas without sessionAffinity: ClientIP: a reconnecting WebSocket client may reach a pod without its subscriptions", g.Reason)
	assert.Contains(t, g.Remedy, "service.sessionAffinity=ClientIP")

	// With ClientIP on the Service (the headless peers Service is not a
	// load balancer and is not judged), it passes.
	vals["service"] = map[string]any{"sessionAffinity": "ClientIP"}
	e = newFakeEnv(t, vals)
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	g = guardByName(t, plan, scale.GuardStickySessions)
	assert.Equal(t, scaling.Pass, g.Outcome, g.Reason)
	assert.Contains(t, g.Reason, "Service ironflow has sessionAffinity: ClientIP")

	// Realtime off (the chart's default): nothing to warn of.
	e = newFakeEnv(t, clustered(1))
	plan, err = e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guardByName(t, plan, scale.GuardStickySessions).Outcome)
}

func TestScaleOutRulesAreConfigurable(t *testing.T) {
	// Another app's names: here the realtime setting is CLUSTER_ENABLED.
	e := newFakeEnv(t, clustered(1))
	client, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		ScaleOut: scale.ScaleOutRules{RealtimeEnv: "CLUSTER_ENABLED"}})
	require.NoError(t, err)
	plan, err := client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	assert.Equal(t, scaling.Warn, guardByName(t, plan, scale.GuardStickySessions).Outcome, "CLUSTER_ENABLED=true now means realtime")

	e = newFakeEnv(t, localStorage(1))
	disabled, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()}, ScaleOut: scale.ScaleOutRules{Disabled: true}})
	require.NoError(t, err)
	plan, err = disabled.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking())

	for name, rules := range map[string]scale.ScaleOutRules{
		"bad env name":     {StorageEnv: "1STORAGE"},
		"bad database env": {DatabaseEnv: []string{"DATABASE_URL", "a b"}},
		"empty local":      {LocalStorage: []string{""}},
		"empty true":       {True: []string{" "}},
	} {
		_, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, ScaleOut: rules})
		assert.ErrorIs(t, err, scaling.ErrInvalidInput, name)
	}
}

func TestAutoscaleScaleOutPrerequisites(t *testing.T) {
	e := newFakeEnv(t, localStorage(1))
	ctx := context.Background()
	plan, err := e.client.PlanAutoscale(ctx, scale.Autoscale{Namespace: ns, Release: release, MinReplicas: 1, MaxReplicas: 4})
	require.NoError(t, err)
	g := guardByName(t, plan, scale.GuardScaleOutState)
	require.Equal(t, scaling.Block, g.Outcome, plan.String())
	assert.Contains(t, g.Reason, "4 HPA maxReplicas of Deployment/demo/ironflow need state shared by every instance")
	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, scale.ErrStatePerInstance)
	assert.Equal(t, 1, e.last(t).Revision)
	assert.Empty(t, e.mutatingActions())

	// An HPA that never runs more than one pod keeps the one instance.
	one, err := e.client.PlanAutoscale(ctx, scale.Autoscale{Namespace: ns, Release: release, MinReplicas: 1, MaxReplicas: 1})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guardByName(t, one, scale.GuardScaleOutState).Outcome)
}

func TestScaleOutReadWriteManyVolumeIsShared(t *testing.T) {
	// A ReadWriteMany claim (NFS, CephFS) every pod mounts is shared state:
	// with rules that do not count the provider's value as local, it passes.
	vals := clustered(1)
	vals["storage"] = map[string]any{"provider": "local", "local": map[string]any{"accessMode": "ReadWriteMany"}}
	e := newFakeEnv(t, vals)
	client, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		ScaleOut: scale.ScaleOutRules{LocalStorage: []string{"filesystem"}}})
	require.NoError(t, err)
	plan, err := client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	assert.Empty(t, plan.Blocking(), plan.String())

	// With the guide's rules the provider's local value still blocks.
	plan, err = e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 3})
	require.NoError(t, err)
	g := guardByName(t, plan, scale.GuardScaleOutState)
	require.Equal(t, scaling.Block, g.Outcome)
	var cause *scale.StatePerInstanceError
	require.ErrorAs(t, g.Cause, &cause)
	assert.Empty(t, cause.Claims, "the ReadWriteMany claim is not a finding")
}

func TestTemplateMoveScaleOutPrerequisites(t *testing.T) {
	// A small release keeping its files on local storage: the medium
	// template's three replicas would each see their own uploads, and the
	// large template's HPA would run up to its maximum of them.
	e := newFakeEnv(t, map[string]any{"storage": map[string]any{"provider": "local"}})
	ctx := context.Background()
	for _, to := range []scale.Preset{scale.Medium, scale.Large} {
		plan, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: to})
		require.NoError(t, err, to.Name)
		g := guardByName(t, plan, scale.GuardScaleOutState)
		require.Equal(t, scaling.Block, g.Outcome, "%s: %s", to.Name, plan.String())
		assert.Contains(t, g.Reason, "(FLUXBASE_STORAGE_PROVIDER=local)", to.Name)
		var cause *scale.StatePerInstanceError
		require.ErrorAs(t, g.Cause, &cause, to.Name)
		_, err = e.client.Apply(ctx, plan)
		require.ErrorIs(t, err, scale.ErrStatePerInstance, to.Name)
		assert.Equal(t, 1, e.last(t).Revision, to.Name)
		assert.Empty(t, e.mutatingActions(), to.Name)
	}
	large, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Large})
	require.NoError(t, err)
	assert.Contains(t, guardByName(t, large, scale.GuardScaleOutState).Reason, "HPA maxReplicas")

	// Back to the small template: one instance, nothing to judge.
	s3 := newFakeEnv(t, map[string]any{"storage": map[string]any{"provider": "s3"}})
	plan, err := s3.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Medium})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guardByName(t, plan, scale.GuardScaleOutState).Outcome, plan.String())
	small, err := e.client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: release, To: scale.Small})
	require.NoError(t, err)
	assert.Equal(t, scaling.Pass, guardByName(t, small, scale.GuardScaleOutState).Outcome, small.String())
}
