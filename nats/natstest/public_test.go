package natstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling/nats/natstest"
)

func TestStartRefusesOptionsItCannotRun(t *testing.T) {
	for _, tc := range []struct {
		opts  natstest.Options
		field string
	}{
		{natstest.Options{Size: -1}, "Size"},
		{natstest.Options{Size: 1}, "Size"},
		{natstest.Options{Routes: -1}, "Routes"},
		{natstest.Options{Size: 4, Routes: 3}, "Size"},
		{natstest.Options{Name: "Not_A_Label"}, "Name"},
		{natstest.Options{ServerNamePrefix: "eu west-"}, "ServerNamePrefix"},
		{natstest.Options{SystemUser: natstest.AppUser}, "SystemUser"},
		{natstest.Options{SystemPassword: "a\nb"}, "SystemPassword"},
	} {
		c, err := natstest.Start(t.Context(), tc.opts)
		assert.Nil(t, c, "%+v", tc.opts)
		require.ErrorIs(t, err, natstest.ErrInvalidOptions, "%+v", tc.opts)
		var oe *natstest.OptionsError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, tc.field, oe.Field, "%+v: %v", tc.opts, err)
	}
}

func TestRoutesDefaultToSizeWhenLarger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := natstest.Start(ctx, natstest.Options{Size: 8})
	require.NoError(t, err, "the zero Routes is a default, not a limit below Size")
	t.Cleanup(c.Shutdown)
	assert.Len(t, c.ServerNames(), 8)
}

func TestServerMethodsReturnTypedErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir() + "/stores" // missing: Start creates it
	c, err := natstest.Start(ctx, natstest.Options{Name: "t", Size: 2, Dir: dir})
	require.NoError(t, err)
	t.Cleanup(c.Shutdown)

	var se *natstest.ServerError
	err = c.Stop("t-7")
	require.ErrorIs(t, err, natstest.ErrUnknownServer, "ordinal 7 is beyond the default Routes")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, natstest.ServerError{Op: "stop", Server: "t-7", Cluster: "t", Err: natstest.ErrUnknownServer}, *se)
	_, err = c.MonitorURL("other-0")
	assert.ErrorIs(t, err, natstest.ErrUnknownServer)
	assert.ErrorIs(t, c.Restart(ctx, "t--1"), natstest.ErrUnknownServer, "a negative ordinal is no server")

	assert.ErrorIs(t, c.Wipe("t-1"), natstest.ErrRunning)
	require.NoError(t, c.Stop("t-1"))
	assert.ErrorIs(t, c.Stop("t-1"), natstest.ErrNotRunning)
	assert.NoError(t, c.Wipe("t-1"))
	assert.NoDirExists(t, dir+"/t-1", "Wipe removes the server's store")
	assert.DirExists(t, dir+"/t-0", "and only that one")
	assert.DirExists(t, dir, "a Dir the caller gave is kept")

	require.NoError(t, c.Stop("t-0"))
	_, err = c.Connect()
	assert.ErrorIs(t, err, natstest.ErrNotRunning, "no fallback to nats.go's default URL")

	assert.ErrorIs(t, c.WaitRollout(ctx), natstest.ErrNotFollowing)
	assert.False(t, errors.Is(c.WaitRollout(ctx), natstest.ErrUnknownServer))
}

// Follow needs no real API server: a tool's unit test can drive the servers
// through client-go's fake clientset.
func TestFollowAFakeClientset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := natstest.Start(ctx, natstest.Options{Name: "web-nats", Size: 3})
	require.NoError(t, err)
	t.Cleanup(c.Shutdown)

	replicas := int32(3)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-nats", Namespace: "prod"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nats", Image: "nats:2.12"}}}},
		},
	}
	kube := k8sfake.NewClientset(sts)
	stop := c.Follow(kube, "prod", "web-nats")
	defer func() { assert.Empty(t, stop()) }()

	replicas = 4
	_, err = kube.AppsV1().StatefulSets("prod").Update(ctx, sts, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, c.WaitRollout(ctx))
	assert.Equal(t, []string{"web-nats-0", "web-nats-1", "web-nats-2", "web-nats-3"}, c.ServerNames())

	replicas = 2
	_, err = kube.AppsV1().StatefulSets("prod").Update(ctx, sts, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, c.WaitRollout(ctx))
	assert.Equal(t, []string{"web-nats-0", "web-nats-1"}, c.ServerNames(), "the highest ordinals stop first")
}
