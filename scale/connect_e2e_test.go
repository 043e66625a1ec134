package scale_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/reqcount"
	"github.com/ironflow/scaling/internal/testenv"
)

// Connect is the entry point of every user; it is proven against the real
// API server with the environment's kubeconfig.
func TestE2EConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kubeconfig := testenv.Shared().Kubeconfig
	var rec reqcount.Recorder
	c, err := scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: kubeconfig, Context: "scaling-test", QPS: 40, Burst: 80,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return rec.Wrap(rt) }})
	require.NoError(t, err)
	assert.Equal(t, "default", c.Namespace)
	assert.Equal(t, map[string]int{"get /version": 1}, rec.Counts(), "Connect checks the server once")
	_, err = c.Kube.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, rec.Total(), "the wrapper sees every request of the clientset")

	assert.EqualValues(t, 40, c.Config.QPS, "the options' limit")
	assert.Equal(t, 80, c.Config.Burst)
	d, err := scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: kubeconfig})
	require.NoError(t, err)
	assert.EqualValues(t, scaling.DefaultQPS, d.Config.QPS, "without options, Connect's limit, not client-go's 5")
	assert.Equal(t, scaling.DefaultBurst, d.Config.Burst)

	_, err = scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: kubeconfig, Context: "no-such-context"})
	assert.ErrorContains(t, err, "no-such-context")
	_, err = scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: kubeconfig, InCluster: true})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
	_, err = scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: kubeconfig, QPS: -1})
	assert.ErrorIs(t, err, scaling.ErrInvalidInput)
}
