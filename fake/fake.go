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
}

var _ scaling.Releases = (*Releases)(nil)

// NewReleases returns empty in-memory release storage. When kube is not nil,
// every install and upgrade mirrors the release's Deployments and
// StatefulSets into it, bumping metadata.generation on each write as an API
// server does.
func NewReleases(kube kubernetes.Interface) *Releases {
	return &Releases{mem: helmrelease.NewMemory(), kube: kube}
}

// Install installs a chart from a folder or archive with the given values.
func (r *Releases) Install(ctx context.Context, namespace, name, chartPath string, values map[string]any) (*scaling.Release, error) {
	rel, err := r.mem.Install(ctx, namespace, name, chartPath, values, 0)
	if err != nil {
		return nil, err
	}
	return rel, r.mirror(ctx, rel)
}

// Last implements scaling.Releases.
func (r *Releases) Last(ctx context.Context, namespace, name string) (*scaling.Release, error) {
	return r.mem.Last(ctx, namespace, name)
}

// Render implements scaling.Releases.
func (r *Releases) Render(ctx context.Context, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
	return r.mem.Render(ctx, namespace, name, revision, source, values)
}

// Upgrade implements scaling.Releases and mirrors the workloads.
func (r *Releases) Upgrade(ctx context.Context, namespace, name string, revision int, source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
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
