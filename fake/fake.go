// Package fake is an in-memory stand-in for the cluster side of the SDK, for
// unit tests of tools that embed its operations: Helm releases kept in
// memory (Helm's own memory driver, real chart rendering, real revision
// history) whose workloads are mirrored into a fake clientset, the part of an
// upgrade the operations look at afterwards.
//
//	kube := k8sfake.NewClientset()
//	releases := fake.NewReleases(kube)
//	releases.Install(ctx, "prod", "web", "./chart", map[string]any{"replicaCount": 3})
//	client, _ := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases})
//
// # Injecting faults
//
// WithInterceptor puts Funcs in front of the releases, so a test can see
// how the code under test handles a failed render, an upgrade Helm refuses
// on its third call, or a release in a state it did not expect:
//
//	injected := errors.New("helm: timed out waiting for the condition")
//	releases := fake.NewReleases(kube, fake.WithInterceptor(fake.Funcs{
//		Upgrade: func(ctx context.Context, next *fake.Releases, namespace, name string, revision int,
//			source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
//			return nil, injected // nothing stored, nothing mirrored
//		},
//	}))
//
// An operation's Apply then fails with a *scaling.StepError naming the
// step, and errors.Is(err, injected) holds.
//
// The Kubernetes side needs nothing of this package: client-go's fake
// clientset takes reactors, and one prepended for a verb and resource
// answers before the clientset's object tracker does (return false to let
// the call through, for instance after N calls):
//
//	kube.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
//		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
//	})
//
// Reactors see the writes the releases mirror too: a failing "update" of
// deployments makes a mirrored Upgrade return the error, after Helm stored
// the new revision, as a real upgrade whose apply failed half-way does.
package fake

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/manifest"
)

// Releases implements scaling.Releases in memory.
type Releases struct {
	mem  *helmrelease.Client
	kube kubernetes.Interface
	// layers are the interceptors, outermost first; a call goes through
	// layers[0], whose next is the same storage with layers[1:].
	layers []Funcs
}

var _ scaling.Releases = (*Releases)(nil)

// Option configures NewReleases.
type Option func(*Releases)

// WithInterceptor routes the calls of the returned Releases through funcs,
// so a test can inject faults into the Helm side of an operation. Given more
// than once, the interceptors stack: the first given sees a call first, and
// its next goes through the second. A Funcs with no field set changes
// nothing.
func WithInterceptor(funcs Funcs) Option {
	return func(r *Releases) { r.layers = append(r.layers, funcs) }
}

// Funcs intercept the calls of a Releases, in the manner of
// controller-runtime's interceptor.Funcs: each field set is called instead
// of the method of the same name, with the call's arguments and next, the
// same in-memory storage without this interceptor (with the ones given
// after it). A nil field passes the call to next.
//
// An interceptor can fail a call without calling next (nothing is stored or
// mirrored: an upgrade that Helm refused), call next and return its error
// or a modified release (a render whose manifest differs), or count calls
// and fail the Nth. Interceptors run on the caller's goroutine; one that
// keeps state across calls guards it if the code under test calls
// concurrently.
type Funcs struct {
	Last    func(ctx context.Context, next *Releases, namespace, name string) (*scaling.Release, error)
	Render  func(ctx context.Context, next *Releases, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error)
	Upgrade func(ctx context.Context, next *Releases, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error)
	Install func(ctx context.Context, next *Releases, namespace, name, chartPath string, values map[string]any) (*scaling.Release, error)
}

// NewReleases returns empty in-memory release storage. When kube is not nil,
// every install and upgrade mirrors the release's Deployments and
// StatefulSets into it, bumping metadata.generation on each write as an API
// server does. Without options nothing is intercepted.
func NewReleases(kube kubernetes.Interface, opts ...Option) *Releases {
	r := &Releases{mem: helmrelease.NewMemory(), kube: kube}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	return r
}

// intercepted returns the outermost interceptor and next, the storage
// beneath it; ok is false when there is none.
func (r *Releases) intercepted() (f Funcs, next *Releases, ok bool) {
	if len(r.layers) == 0 {
		return Funcs{}, nil, false
	}
	return r.layers[0], &Releases{mem: r.mem, kube: r.kube, layers: r.layers[1:]}, true
}

// Install installs a chart from a folder or archive with the given values
// and mirrors the workloads. It returns the release's first revision.
func (r *Releases) Install(ctx context.Context, namespace, name, chartPath string, values map[string]any) (*scaling.Release, error) {
	if f, next, ok := r.intercepted(); ok {
		if f.Install != nil {
			return f.Install(ctx, next, namespace, name, chartPath, values)
		}
		return next.Install(ctx, namespace, name, chartPath, values)
	}
	rel, err := r.mem.Install(ctx, namespace, name, chartPath, values, 0)
	if err != nil {
		return nil, err
	}
	return rel, r.mirror(ctx, rel)
}

// Last implements scaling.Releases.
func (r *Releases) Last(ctx context.Context, namespace, name string) (*scaling.Release, error) {
	if f, next, ok := r.intercepted(); ok {
		if f.Last != nil {
			return f.Last(ctx, next, namespace, name)
		}
		return next.Last(ctx, namespace, name)
	}
	return r.mem.Last(ctx, namespace, name)
}

// Render implements scaling.Releases.
func (r *Releases) Render(ctx context.Context, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
	if f, next, ok := r.intercepted(); ok {
		if f.Render != nil {
			return f.Render(ctx, next, namespace, name, revision, source, values)
		}
		return next.Render(ctx, namespace, name, revision, source, values)
	}
	return r.mem.Render(ctx, namespace, name, revision, source, values)
}

// Upgrade implements scaling.Releases and mirrors the workloads.
func (r *Releases) Upgrade(ctx context.Context, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
	if f, next, ok := r.intercepted(); ok {
		if f.Upgrade != nil {
			return f.Upgrade(ctx, next, namespace, name, revision, source, values)
		}
		return next.Upgrade(ctx, namespace, name, revision, source, values)
	}
	rel, err := r.mem.Upgrade(ctx, namespace, name, revision, source, values)
	if err != nil {
		return nil, err
	}
	return rel, r.mirror(ctx, rel)
}

// SetStatus overwrites the newest revision's status, e.g. "pending-upgrade"
// to play an interrupted `helm upgrade`.
func (r *Releases) SetStatus(namespace, name, status string) error {
	return r.mem.SetStatus(namespace, name, status)
}

// mirror writes the release's Deployments and StatefulSets into the fake
// clientset. A workload whose chart stops rendering spec.replicas keeps its
// live count (what Helm's three-way merge does when the HPA owns it).
func (r *Releases) mirror(ctx context.Context, rel *scaling.Release) error {
	if r.kube == nil {
		return nil
	}
	objs, err := manifest.Parse(rel.Manifest, rel.Namespace)
	if err != nil {
		return err
	}
	for _, o := range manifest.Workloads(objs) {
		switch o.Obj.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &d); err != nil {
				return err
			}
			api := r.kube.AppsV1().Deployments(d.Namespace)
			cur, err := api.Get(ctx, d.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				d.Generation = 1
				_, err = api.Create(ctx, &d, metav1.CreateOptions{})
			case err == nil:
				if d.Spec.Replicas == nil {
					d.Spec.Replicas = cur.Spec.Replicas
				}
				if equality.Semantic.DeepEqual(d.Spec, cur.Spec) {
					continue
				}
				d.ResourceVersion, d.Generation = cur.ResourceVersion, cur.Generation+1
				_, err = api.Update(ctx, &d, metav1.UpdateOptions{})
			}
			if err != nil {
				return fmt.Errorf("fake: mirroring %s: %w", o.Key, err)
			}
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &s); err != nil {
				return err
			}
			api := r.kube.AppsV1().StatefulSets(s.Namespace)
			cur, err := api.Get(ctx, s.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				s.Generation = 1
				_, err = api.Create(ctx, &s, metav1.CreateOptions{})
			case err == nil:
				if equality.Semantic.DeepEqual(s.Spec, cur.Spec) {
					continue
				}
				s.ResourceVersion, s.Generation = cur.ResourceVersion, cur.Generation+1
				_, err = api.Update(ctx, &s, metav1.UpdateOptions{})
			}
			if err != nil {
				return fmt.Errorf("fake: mirroring %s: %w", o.Key, err)
			}
		}
	}
	return nil
}
