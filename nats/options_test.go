package nats_test

import (
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/nats"
)

func TestNewValidatesOptions(t *testing.T) {
	kube := k8sfake.NewClientset()
	cluster := &scaling.Cluster{Kube: kube}
	sys := &natsgo.Conn{} // never used: New reads nothing
	rels := fake.NewReleases(kube)
	for name, tc := range map[string]struct {
		cluster *scaling.Cluster
		opts    nats.Options
		field   string
	}{
		"no cluster":             {nil, nats.Options{System: sys, Releases: rels}, "cluster"},
		"no system connection":   {cluster, nats.Options{Releases: rels}, "Options.System"},
		"unnamed account":        {cluster, nats.Options{System: sys, Releases: rels, Accounts: map[string]*natsgo.Conn{"": sys}}, "Options.Accounts"},
		"nil account connection": {cluster, nats.Options{System: sys, Releases: rels, Accounts: map[string]*natsgo.Conn{"APP": nil}}, "Options.Accounts"},
		"negative verify":        {cluster, nats.Options{System: sys, Releases: rels, VerifyTimeout: -time.Second}, "Options.VerifyTimeout"},
		"negative step":          {cluster, nats.Options{System: sys, Releases: rels, StepTimeout: -time.Second}, "Options.StepTimeout"},
		"no Helm without config": {cluster, nats.Options{System: sys}, "Options.Releases"},
	} {
		_, err := nats.New(tc.cluster, tc.opts)
		var bad *scaling.InvalidInputError
		require.ErrorAs(t, err, &bad, name)
		assert.Equal(t, tc.field, bad.Field, name)
	}
	_, err := nats.New(cluster, nats.Options{System: sys, Releases: rels})
	assert.NoError(t, err, "the zero value of every other option means its default")
	assert.Empty(t, kube.Actions(), "New reads nothing")
}

func TestApplyAndVerifyRefuseForeignPlans(t *testing.T) {
	kube := k8sfake.NewClientset()
	client, err := nats.New(&scaling.Cluster{Kube: kube}, nats.Options{System: &natsgo.Conn{}, Releases: fake.NewReleases(kube)})
	require.NoError(t, err)
	_, err = client.Apply(t.Context(), nil)
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	foreign := &scaling.Plan{Version: scaling.PlanVersion, Operation: "scale.Replicas"}
	_, err = client.Apply(t.Context(), foreign)
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	_, err = client.Verify(t.Context(), foreign)
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	old := &scaling.Plan{Version: scaling.PlanVersion + 1, Operation: nats.OpScaleCluster}
	_, err = client.Apply(t.Context(), old)
	assert.ErrorIs(t, err, scaling.ErrInvalidPlan)
	assert.Empty(t, kube.Actions())
}
