package fake_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
)

const chart = "../examples/charts/ironflow"

func TestInstallAndUpgradeMirrorWorkloads(t *testing.T) {
	ctx := context.Background()
	kube := k8sfake.NewClientset()
	r := fake.NewReleases(kube)
	_, err := r.Install(ctx, "prod", "web", chart, map[string]any{"replicaCount": 2, "cluster": map[string]any{"enabled": true}})
	require.NoError(t, err)
	d, err := kube.AppsV1().Deployments("prod").Get(ctx, "web-ironflow", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, *d.Spec.Replicas)
	assert.EqualValues(t, 1, d.Generation)
	s, err := kube.AppsV1().StatefulSets("prod").Get(ctx, "web-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.Generation)

	_, err = r.Upgrade(ctx, "prod", "web", 1, chartSource, map[string]any{"replicaCount": 4, "cluster": map[string]any{"enabled": true}})
	require.NoError(t, err)
	d, err = kube.AppsV1().Deployments("prod").Get(ctx, "web-ironflow", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 4, *d.Spec.Replicas)
	assert.EqualValues(t, 2, d.Generation, "a spec change bumps the generation")
	s, err = kube.AppsV1().StatefulSets("prod").Get(ctx, "web-nats", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.Generation, "an unchanged workload is not written")

	require.NoError(t, r.SetStatus("prod", "web", "pending-rollback"))
	last, err := r.Last(ctx, "prod", "web")
	require.NoError(t, err)
	assert.True(t, last.Pending())
	_, err = r.Last(ctx, "prod", "other")
	assert.ErrorIs(t, err, scaling.ErrNotFound)
}

var chartSource = scaling.ChartSource{Ref: chart}
