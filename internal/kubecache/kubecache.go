// Package kubecache holds what the API server says about itself, read once
// per scaling.Cluster and shared by every client built on it: discovery (the
// groups and resources behind every RESTMapper and Helm's .Capabilities),
// the server version and the OpenAPI v3 documents. Without it every Helm
// action fetched them again.
package kubecache

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
)

// Discovery is a memory-cached discovery client. Groups, resources and
// OpenAPI documents are cached by client-go's memory cache (a lookup of a
// group version it does not know refreshes it once, so a CRD installed
// later is still found by a RESTMapper); the server version and
// FieldValidation's answers are cached here. Invalidate forgets all of it.
// It is safe for concurrent use.
type Discovery struct {
	cached

	mu      sync.Mutex
	version *version.Info
	support map[schema.GroupVersionKind]error
}

// cached is what client-go's memory cache implements: both the plain and
// the WithContext discovery interfaces, as kubernetes.Interface requires.
type cached interface {
	discovery.CachedDiscoveryInterface
	discovery.CachedDiscoveryInterfaceWithContext
}

var _ discovery.DiscoveryInterfaces = (*Discovery)(nil)

// New wraps a discovery client. Reads go through d the first time only.
func New(d discovery.DiscoveryInterface) *Discovery {
	return &Discovery{cached: memory.NewMemCacheClient(d).(cached)}
}

// For returns kube's discovery client when it is already a *Discovery (a
// scaling.Cluster's clientset), so every client of that cluster shares one
// cache, or a new one over it otherwise.
func For(kube kubernetes.Interface) *Discovery {
	if d, ok := kube.Discovery().(*Discovery); ok {
		return d
	}
	return New(kube.Discovery())
}

// ServerVersion returns the server's version, read once: a failed read is
// not cached and is tried again on the next call.
func (d *Discovery) ServerVersion() (*version.Info, error) {
	return d.ServerVersionWithContext(context.Background())
}

// ServerVersionWithContext is ServerVersion; ctx bounds the first read.
func (d *Discovery) ServerVersionWithContext(ctx context.Context) (*version.Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version == nil {
		v, err := d.cached.ServerVersionWithContext(ctx)
		if err != nil {
			return nil, err
		}
		d.version = v
	}
	v := *d.version
	return &v, nil
}

// FieldValidation returns whether the server accepts the fieldValidation
// query parameter for gvk, as ask (a kubectl query-param verifier) answers
// it: nil when it does, ask's error otherwise. The answer of ask is cached
// per kind, unless it is neither nil nor "unsupported" (a failed read).
func (d *Discovery) FieldValidation(gvk schema.GroupVersionKind, ask func(schema.GroupVersionKind) error, unsupported func(error) bool) error {
	d.mu.Lock()
	if err, ok := d.support[gvk]; ok {
		d.mu.Unlock()
		return err
	}
	d.mu.Unlock()
	err := ask(gvk)
	if err != nil && !unsupported(err) {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.support == nil {
		d.support = map[schema.GroupVersionKind]error{}
	}
	d.support[gvk] = err
	return err
}

// Invalidate forgets everything cached, the memory cache's groups,
// resources and OpenAPI documents included.
func (d *Discovery) Invalidate() { d.InvalidateWithContext(context.Background()) }

// InvalidateWithContext is Invalidate.
func (d *Discovery) InvalidateWithContext(ctx context.Context) {
	d.mu.Lock()
	d.version, d.support = nil, nil
	d.mu.Unlock()
	d.cached.InvalidateWithContext(ctx)
}
