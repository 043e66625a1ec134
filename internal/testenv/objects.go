package testenv

import (
	"context"
	"fmt"
	"maps"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/ironflow/scaling/internal/manifest"
)

// Objects maps "Kind/name" to the UID of each object a release's manifest
// names, as the API server has it now; a missing object maps to "". Tests
// compare two snapshots to prove an Apply kept every object it did not set
// out to change (same UID) and deleted none.
func (e *Env) Objects(ctx context.Context, namespace, rendered string) (map[string]string, error) {
	objs, err := manifest.Parse(rendered, namespace)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(e.Config)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, o := range manifest.Sorted(objs) {
		gvk := o.Obj.GroupVersionKind()
		m, err := mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("mapping %s: %w", o.Key, err)
		}
		key := gvk.Kind + "/" + o.Obj.GetName()
		live, err := dyn.Resource(m.Resource).Namespace(o.Obj.GetNamespace()).Get(ctx, o.Obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			out[key] = ""
		case err != nil:
			return nil, err
		default:
			out[key] = string(live.GetUID())
		}
	}
	return out, nil
}

// Kinds lists a snapshot's keys, sorted, for messages.
func Kinds(snapshot map[string]string) []string { return slices.Sorted(maps.Keys(snapshot)) }
