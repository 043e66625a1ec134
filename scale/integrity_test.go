package scale_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/plantest"
	"github.com/ironflow/scaling/scale"
)

// stored is a plan as an approval system keeps it: JSON, edited by fn.
func stored(t *testing.T, plan *scaling.Plan, fn func(m map[string]any)) *scaling.Plan {
	return plantest.Edited(t, plan, fn)
}

func spec(m map[string]any) map[string]any    { return m["spec"].(map[string]any) }
func request(m map[string]any) map[string]any { return spec(m)["request"].(map[string]any) }

// TestEditedPlansAreRefusedAndWriteNothing: what was approved is what runs.
// Each edit of a stored 3 -> 5 plan ends in a typed refusal, the release
// keeps its revision and the clientset sees no write.
func TestEditedPlansAreRefusedAndWriteNothing(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(m map[string]any)
		want error
	}{
		"spec replicas 5 -> 50, display untouched": {func(m map[string]any) { request(m)["replicas"] = 50 }, scaling.ErrPlanMismatch},
		"spec values inject an image": {func(m map[string]any) {
			spec(m)["values"].(map[string]any)["image"] = map[string]any{"repository": "evil.example/backdoor", "tag": "latest"}
		}, scaling.ErrPlanMismatch},
		"steps say 50": {func(m map[string]any) {
			m["steps"].([]any)[0].(map[string]any)["after"] = "50"
		}, scaling.ErrPlanMismatch},
		"summary edited":  {func(m map[string]any) { m["summary"] = "Scale to 3 (nothing to see)" }, scaling.ErrPlanMismatch},
		"target edited":   {func(m map[string]any) { m["target"].(map[string]any)["name"] = "other" }, scaling.ErrPlanMismatch},
		"steps null":      {func(m map[string]any) { m["steps"] = nil }, scaling.ErrPlanMismatch},
		"steps empty":     {func(m map[string]any) { m["steps"] = []any{} }, scaling.ErrPlanMismatch},
		"steps shortened": {func(m map[string]any) { m["steps"] = m["steps"].([]any)[:1] }, scaling.ErrPlanMismatch},
		"diff edited": {func(m map[string]any) {
			m["diff"] = "values:\n-  replicaCount: 3\n+  replicaCount: 4\n"
		}, scaling.ErrPlanMismatch},
		"fingerprint emptied": {func(m map[string]any) { m["fingerprint"] = map[string]any{} }, scaling.ErrInvalidPlan},
		"request replicas -1": {func(m map[string]any) { request(m)["replicas"] = -1 }, scaling.ErrInvalidInput},
		"request retargeted to another namespace, fingerprint to match": {func(m map[string]any) {
			request(m)["namespace"] = "staging"
			fp := map[string]any{}
			for k, v := range m["fingerprint"].(map[string]any) {
				fp[k+"x"] = v
			}
			m["fingerprint"] = fp
		}, scaling.ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t, clustered(3))
			ctx := context.Background()
			plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
			require.NoError(t, err)
			require.Empty(t, plan.Blocking())
			e.kube.ClearActions()

			_, err = e.client.Apply(ctx, stored(t, plan, c.edit))
			require.ErrorIs(t, err, c.want)
			assert.Empty(t, e.mutatingActions(), "nothing written")
			assert.Equal(t, 1, e.last(t).Revision, "the release was not upgraded")

			_, err = e.client.Apply(ctx, stored(t, plan, func(map[string]any) {}))
			require.NoError(t, err, "the plan as approved still applies")
			assert.Equal(t, 2, e.last(t).Revision)
		})
	}
}

// TestAMismatchSaysWhatDiffers: the refusal names the edited field with
// both values, so a person sees what was tampered with.
func TestAMismatchSaysWhatDiffers(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	_, err = e.client.Apply(ctx, stored(t, plan, func(m map[string]any) { request(m)["replicas"] = 50 }))
	var mismatch *scaling.PlanMismatchError
	require.ErrorAs(t, err, &mismatch)
	fields := map[string]scaling.Difference{}
	for _, d := range mismatch.Differences {
		fields[d.Field] = d
	}
	assert.Contains(t, fields, "summary")
	assert.Contains(t, fields["steps[0]"].Derived, "-> 50", "what the request would do now")
	assert.Contains(t, fields["steps[0]"].Planned, "-> 5", "what the person approved")
}

// TestAGuardEditedToPassStillBlocks: a stored verdict is information,
// never permission; and a guard whose state changed after planning blocks
// at Apply (a quota created since).
func TestAGuardEditedToPassStillBlocks(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	plan, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking())

	_, err = e.kube.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}},
		Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")},
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()

	_, err = e.client.Apply(ctx, plan)
	var quota *scale.QuotaError
	require.ErrorAs(t, err, &quota, "the quota created after planning blocks the apply")
	assert.ErrorIs(t, err, scaling.ErrGuardBlocked)
	assert.Empty(t, e.mutatingActions())

	blocked, err := e.client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	require.NotEmpty(t, blocked.Blocking())
	_, err = e.client.Apply(ctx, stored(t, blocked, func(m map[string]any) {
		for _, g := range m["guards"].([]any) {
			g.(map[string]any)["outcome"] = "pass"
		}
	}))
	require.ErrorAs(t, err, &quota, "a blocked plan with its guards edited to pass")
	assert.Empty(t, e.mutatingActions())
	assert.Equal(t, 1, e.last(t).Revision)
}

// TestARetargetedRestartIsRefused: a restart plan pointed at another
// workload restarts nothing.
func TestARetargetedRestartIsRefused(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	ref := scaling.ObjectRef{Kind: "Deployment", Namespace: ns, Name: release}
	plan, err := e.client.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: ref})
	require.NoError(t, err)
	other, err := e.kube.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	other.ObjectMeta = metav1.ObjectMeta{Name: "billing", Namespace: ns, Generation: 1}
	_, err = e.kube.AppsV1().Deployments(ns).Create(ctx, other, metav1.CreateOptions{})
	require.NoError(t, err)
	e.kube.ClearActions()

	_, err = e.client.Apply(ctx, stored(t, plan, func(m map[string]any) {
		spec(m)["request"].(map[string]any)["workload"].(map[string]any)["name"] = "billing"
		spec(m)["workload"].(map[string]any)["name"] = "billing"
	}))
	assert.ErrorIs(t, err, scaling.ErrPlanMismatch)
	assert.Empty(t, e.mutatingActions(), "billing was not restarted")
}

// TestNonDeployedReleasesAreTypedAtPlan: a release being uninstalled, or
// uninstalled with its history kept, is refused by Plan with a typed error
// (issue 11: it planned fine and Apply failed untyped with "has no
// deployed releases").
func TestNonDeployedReleasesAreTypedAtPlan(t *testing.T) {
	for status, want := range map[string]error{"uninstalling": scaling.ErrReleasePending, "uninstalled": scaling.ErrNotFound, "pending-upgrade": scaling.ErrReleasePending} {
		e := newFakeEnv(t, clustered(3))
		require.NoError(t, e.releases.SetStatus(ns, release, status))
		_, err := e.client.PlanReplicas(context.Background(), scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
		assert.ErrorIs(t, err, want, status)
		assert.Empty(t, e.mutatingActions(), status)
	}
}

// TestAClientWithAVerifierAppliesOnlySignedPlans: what an approval system
// signed runs; an unsigned plan, or a signed one edited afterwards, is
// refused before any request.
func TestAClientWithAVerifierAppliesOnlySignedPlans(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	strict, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		Verifier: scaling.Ed25519Verifier{"approvals": pub}})
	require.NoError(t, err)
	plan, err := strict.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	e.kube.ClearActions()

	_, err = strict.Apply(ctx, plan)
	var unsigned *scaling.SignatureError
	require.ErrorAs(t, err, &unsigned)
	assert.Empty(t, unsigned.Reasons, "no signature at all")
	assert.Empty(t, e.kube.Actions(), "refused before any request")

	require.NoError(t, plan.Sign(scaling.Ed25519Signer{KeyID: "approvals", Key: priv}))
	_, err = strict.Apply(ctx, stored(t, plan, func(m map[string]any) { request(m)["replicas"] = 50 }))
	require.ErrorIs(t, err, scaling.ErrSignature, "signed, then edited")
	assert.Empty(t, e.kube.Actions())

	applied, err := strict.Apply(ctx, stored(t, plan, func(map[string]any) {}))
	require.NoError(t, err, "the plan as signed")
	assert.True(t, applied.Changed)
	assert.Equal(t, 2, e.last(t).Revision)
}

// sourceLog records the chart sources a client's Helm seam was asked to
// load: what "Apply contacted nothing" is checked by for chart lookups.
type sourceLog struct {
	scaling.Releases
	sources []string
}

func (l *sourceLog) Render(ctx context.Context, namespace, name string, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Release, error) {
	l.sources = append(l.sources, src.String())
	return l.Releases.Render(ctx, namespace, name, revision, src, vals)
}

func (l *sourceLog) Upgrade(ctx context.Context, namespace, name string, revision int, src scaling.ChartSource, vals map[string]any) (*scaling.Release, error) {
	l.sources = append(l.sources, src.String())
	return l.Releases.Upgrade(ctx, namespace, name, revision, src, vals)
}

// TestAStoredPlanLoadsItsChartOnlyFromATrustedSource: a stored plan is
// data, so the chart source it names is one the applying client was given
// (Options.Chart or Options.TrustedCharts) or one a verified signature
// approved. An edited source (a registry of the editor's choosing) is
// refused before any request and before any chart lookup; before this
// check, Apply's re-derivation contacted the registry first.
func TestAStoredPlanLoadsItsChartOnlyFromATrustedSource(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	seam := &sourceLog{Releases: e.releases}
	client, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: seam, Chart: scaling.ChartSource{Ref: chartPath()}})
	require.NoError(t, err)
	plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5})
	require.NoError(t, err)
	e.kube.ClearActions()
	seam.sources = nil

	edited := stored(t, plan, func(m map[string]any) {
		request(m)["chart"].(map[string]any)["ref"] = "oci://10.255.255.1/charts/ironflow"
	})
	_, err = client.Apply(ctx, edited)
	var untrusted *scaling.UntrustedChartError
	require.ErrorAs(t, err, &untrusted)
	assert.ErrorIs(t, err, scaling.ErrPlanMismatch)
	assert.ErrorIs(t, err, scaling.ErrChartSource)
	assert.Equal(t, "oci://10.255.255.1/charts/ironflow", untrusted.Source.Ref)
	assert.Contains(t, err.Error(), "Options.TrustedCharts")
	assert.Empty(t, seam.sources, "no chart was looked up")
	assert.Empty(t, e.kube.Actions(), "no request at all")
	assert.Equal(t, 1, e.last(t).Revision)

	// A request's own source is fine to plan with; a client applies it
	// from storage once it is told to trust it.
	copied := filepath.Join(t.TempDir(), "ironflow")
	require.NoError(t, os.CopyFS(copied, os.DirFS(chartPath())))
	own, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5, Chart: scaling.ChartSource{Ref: copied}})
	require.NoError(t, err)
	_, err = client.Apply(ctx, stored(t, own, func(map[string]any) {}))
	require.ErrorAs(t, err, &untrusted, "the request's source is not one the client was given")
	assert.Equal(t, 1, e.last(t).Revision)
	trusting, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Chart: scaling.ChartSource{Ref: chartPath()},
		TrustedCharts: []scaling.ChartSource{{Ref: copied}}})
	require.NoError(t, err)
	applied, err := trusting.Apply(ctx, stored(t, own, func(map[string]any) {}))
	require.NoError(t, err)
	assert.True(t, applied.Changed)
	assert.Equal(t, 2, e.last(t).Revision)
}

// TestASignedPlanMayNameItsOwnChartSource: with a Verifier, the signature
// covers the source, so a signed plan's per-request source needs no
// TrustedCharts entry.
func TestASignedPlanMayNameItsOwnChartSource(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	e := newFakeEnv(t, clustered(3))
	ctx := context.Background()
	strict, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, Verifier: scaling.Ed25519Verifier{"approvals": pub}})
	require.NoError(t, err)
	plan, err := strict.PlanReplicas(ctx, scale.Replicas{Namespace: ns, Release: release, Replicas: 5, Chart: scaling.ChartSource{Ref: chartPath()}})
	require.NoError(t, err)
	require.NoError(t, plan.Sign(scaling.Ed25519Signer{KeyID: "approvals", Key: priv}))
	applied, err := strict.Apply(ctx, stored(t, plan, func(map[string]any) {}))
	require.NoError(t, err)
	assert.True(t, applied.Changed)
}

func TestTrustedChartsAreValidated(t *testing.T) {
	e := newFakeEnv(t, clustered(3))
	for _, bad := range [][]scaling.ChartSource{{{}}, {{RepoURL: "https://charts.example"}}, {{Ref: "oci://r.example/c", RepoURL: "https://charts.example"}}} {
		_, err := scale.New(&scaling.Cluster{Kube: e.kube}, scale.Options{Releases: e.releases, TrustedCharts: bad})
		var invalid *scaling.InvalidInputError
		require.ErrorAs(t, err, &invalid, "%v", bad)
		assert.Contains(t, invalid.Field, "Options.TrustedCharts[0]")
	}
}
