package helmplan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/manifest"
)

// Damage is an object an upgrade would destroy (scaling.ObjectDamage).
type Damage = scaling.ObjectDamage

// Damages lists what upgrading from before to after deletes or replaces.
// Objects are matched by namespace, name, kind and API group, so a version
// bump of an API (policy/v1beta1 -> v1) is not a delete.
func Damages(before, after map[string]manifest.Object) []Damage {
	type id struct{ ns, name, kind, group string }
	key := func(o manifest.Object) id {
		gv, _ := schema.ParseGroupVersion(o.Obj.GetAPIVersion())
		return id{o.Obj.GetNamespace(), o.Obj.GetName(), o.Obj.GetKind(), gv.Group}
	}
	planned := make(map[id]manifest.Object, len(after))
	for _, o := range after {
		planned[key(o)] = o
	}
	var out []Damage
	for _, o := range manifest.Sorted(before) {
		ref := scaling.ObjectRef{Kind: o.Obj.GetKind(), Namespace: o.Obj.GetNamespace(), Name: o.Obj.GetName()}
		z, ok := planned[key(o)]
		if !ok {
			out = append(out, Damage{Object: ref, Action: "delete"})
			continue
		}
		if fields := immutableChanges(o.Obj, z.Obj); len(fields) > 0 {
			out = append(out, Damage{Object: ref, Action: "replace", Fields: fields})
		}
	}
	return out
}

// immutableChanges returns the immutable fields of the object's kind whose
// rendered value differs. A field the chart does not render is left to the
// API server's default and compared as absent.
func immutableChanges(a, z *unstructured.Unstructured) []string {
	var fields [][]string
	switch a.GetKind() {
	case "Deployment", "ReplicaSet", "DaemonSet":
		fields = [][]string{{"spec", "selector"}}
	case "StatefulSet":
		// Everything in a StatefulSet's spec but these is forbidden to update.
		mutable := []string{"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "revisionHistoryLimit"}
		spec := map[string]bool{}
		for _, o := range []*unstructured.Unstructured{a, z} {
			m, _, _ := unstructured.NestedMap(o.Object, "spec")
			for k := range m {
				if !slices.Contains(mutable, k) {
					spec[k] = true
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(spec)) {
			fields = append(fields, []string{"spec", k})
		}
	case "Job":
		fields = [][]string{{"spec", "selector"}, {"spec", "template"}}
	case "Service":
		fields = [][]string{{"spec", "clusterIP"}}
	case "PersistentVolumeClaim":
		fields = [][]string{{"spec", "accessModes"}, {"spec", "storageClassName"}, {"spec", "volumeMode"}, {"spec", "selector"}, {"spec", "volumeName"}}
	case "ConfigMap", "Secret":
		if immutable, _, _ := unstructured.NestedBool(a.Object, "immutable"); immutable {
			fields = [][]string{{"data"}, {"binaryData"}, {"stringData"}}
		}
	}
	var out []string
	for _, f := range fields {
		x, _, _ := unstructured.NestedFieldNoCopy(a.Object, f...)
		y, _, _ := unstructured.NestedFieldNoCopy(z.Object, f...)
		if !equality.Semantic.DeepEqual(x, y) {
			out = append(out, strings.Join(f, "."))
		}
	}
	return out
}

// Expected says which damages an operation sets out to make (an
// ExpandStorage replaces its StatefulSet, disabling autoscaling deletes the
// HPA). Nil expects none.
type Expected func(Damage) bool

// BlastRadius is the guard every Helm write carries: it blocks, naming the
// objects, when the upgrade would delete or replace objects the operation
// did not set out to change. `helm upgrade` deletes them silently (a
// release whose subcharts are missing from the chart loses them all). A
// blocking result carries the *scaling.BlastRadiusError as its Cause too,
// which is also returned for callers that want its damages.
func BlastRadius(r *Result, expected Expected) (scaling.GuardResult, *scaling.BlastRadiusError) {
	var unexpected, allowed []Damage
	for _, d := range Damages(r.Before, r.After) {
		if expected != nil && expected(d) {
			allowed = append(allowed, d)
			continue
		}
		unexpected = append(unexpected, d)
	}
	g := scaling.GuardResult{Name: scaling.GuardBlastRadius, Outcome: scaling.Pass, Reason: "the upgrade deletes and replaces no object"}
	if len(allowed) > 0 {
		g.Reason = fmt.Sprintf("the upgrade makes only the changes this operation sets out to: %s", list(allowed))
	}
	if len(unexpected) == 0 {
		return g, nil
	}
	err := &scaling.BlastRadiusError{Namespace: r.Release.Namespace, Release: r.Release.Name, Damages: unexpected}
	g.Outcome, g.Cause = scaling.Block, err
	g.Reason = fmt.Sprintf("the upgrade would %s, which this operation does not set out to change", list(unexpected))
	g.Remedy = "check that the chart source holds the deployed chart with all its subcharts (ChartSource), and read the diff"
	return g, err
}

func list(ds []Damage) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}
