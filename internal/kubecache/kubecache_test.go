package kubecache

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// countingVersion answers ServerVersion and counts the reads that reach it.
type countingVersion struct {
	*fakediscovery.FakeDiscovery
	reads int
	fail  error
}

func (c *countingVersion) ServerVersion() (*version.Info, error) {
	c.reads++
	if c.fail != nil {
		return nil, c.fail
	}
	return &version.Info{GitVersion: "v1.37.1"}, nil
}

func (c *countingVersion) ServerVersionWithContext(context.Context) (*version.Info, error) {
	return c.ServerVersion()
}

func TestTheServerVersionIsReadOnceAndAFailureIsNot(t *testing.T) {
	inner := &countingVersion{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{}}, fail: errors.New("connection refused")}
	d := New(inner)
	_, err := d.ServerVersion()
	require.Error(t, err)
	inner.fail = nil
	for range 3 {
		v, err := d.ServerVersion()
		require.NoError(t, err)
		assert.Equal(t, "v1.37.1", v.GitVersion)
		v.GitVersion = "edited by a caller"
	}
	assert.Equal(t, 2, inner.reads, "the failed read, then one")
	d.Invalidate()
	_, err = d.ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, 3, inner.reads, "Invalidate forgets the version")
}

func TestFieldValidationCachesAnswersNotFailures(t *testing.T) {
	d := New(&fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{}})
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	unsupportedErr := errors.New("unsupported")
	asked := 0
	answer := errors.New("network down")
	ask := func(schema.GroupVersionKind) error { asked++; return answer }
	isUnsupported := func(err error) bool { return errors.Is(err, unsupportedErr) }

	assert.ErrorIs(t, d.FieldValidation(gvk, ask, isUnsupported), answer)
	answer = unsupportedErr
	assert.ErrorIs(t, d.FieldValidation(gvk, ask, isUnsupported), unsupportedErr)
	assert.ErrorIs(t, d.FieldValidation(gvk, ask, isUnsupported), unsupportedErr)
	assert.Equal(t, 2, asked, "a failed read is asked again, an answer is kept")
}

// sharing is a clientset whose discovery client is a *Discovery, as a
// scaling.Cluster's is.
type sharing struct {
	kubernetes.Interface
	d *Discovery
}

func (s sharing) Discovery() discovery.DiscoveryInterfaces { return s.d }

func TestForSharesTheClustersCache(t *testing.T) {
	kube := fake.NewClientset()
	d := New(kube.Discovery())
	assert.Same(t, d, For(sharing{kube, d}), "every client of one cluster shares its cache")
	assert.NotSame(t, For(kube), For(kube), "a plain clientset gets a cache of its own each time")
}
