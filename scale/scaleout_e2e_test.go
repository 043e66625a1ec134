package scale_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

// TestE2EScaleOutBlockedByLocalStorageThenPassesOnS3 is issue 14's seed
// scenario: a release that keeps its files on a ReadWriteOnce volume cannot
// go from 1 to 3 replicas (blocked, zero writes); once the operator moves it
// to S3, the same request plans clean, applies and verifies.
func TestE2EScaleOutBlockedByLocalStorageThenPassesOnS3(t *testing.T) {
	vals := appOnly(1)
	vals["storage"] = map[string]any{"provider": "local"}
	e := newRealEnv(t, vals)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The chart's claim, bound by the environment's provisioner.
	pvc, err := e.cluster.Kube.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, release+"-storage", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, pvc.Spec.AccessModes)
	e.rec.Reset()

	req := scale.Replicas{Namespace: e.ns, Release: release, Replicas: 3}
	plan, err := e.client.PlanReplicas(ctx, req)
	require.NoError(t, err)
	blocked := plan.Blocking()
	require.Len(t, blocked, 1, plan.String())
	assert.Equal(t, scale.GuardScaleOutState, blocked[0].Name)
	assert.Contains(t, blocked[0].Reason, "FLUXBASE_STORAGE_PROVIDER=local")
	assert.Contains(t, blocked[0].Reason, "PersistentVolumeClaim ironflow-storage (ReadWriteOnce)")
	_, err = e.client.Apply(ctx, plan)
	require.ErrorIs(t, err, scaling.ErrGuardBlocked)
	var cause *scale.StatePerInstanceError
	require.ErrorAs(t, err, &cause)
	assert.Equal(t, "local", cause.Storage)
	assert.Equal(t, []scale.ClaimAccess{{Claim: release + "-storage", AccessModes: []string{"ReadWriteOnce"}}}, cause.Claims)
	assert.Empty(t, e.rec.Mutating(), "a blocked scale-out sends no write")
	d, err := e.cluster.Kube.AppsV1().Deployments(e.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, *d.Spec.Replicas)

	// The operator configures S3 (helm upgrade --set storage.provider=s3 ...).
	rel, err := e.releases.Last(ctx, e.ns, release)
	require.NoError(t, err)
	vals["storage"] = map[string]any{"provider": "s3", "s3": map[string]any{"bucket": "ironflow-uploads", "endpoint": "http://minio.storage:9000"}}
	_, err = e.releases.Upgrade(ctx, e.ns, release, rel.Revision, scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}, vals)
	require.NoError(t, err)
	e.rec.Reset()

	plan, err = e.client.PlanReplicas(ctx, req)
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	v := e.applyAndVerify(t, ctx, plan)
	c, _ := v.Check("pods-ready")
	assert.Equal(t, "3 Ready of 3", c.Observed)
	assert.Equal(t, 3, e.readyPods(t))
}
