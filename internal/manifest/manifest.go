// Package manifest splits rendered Helm manifests into objects and renders
// the per-object line diff a plan shows, keyed the way helm-diff keys them.
package manifest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Object is one document of a manifest.
type Object struct {
	// Key is "namespace, name, Kind (apiVersion)".
	Key  string
	Obj  *unstructured.Unstructured
	YAML string
	// Source is the template that rendered the object, from Helm's
	// "# Source:" line ("ironflow/charts/nats/templates/stateful-set.yaml"):
	// it says which subchart an object belongs to.
	Source string
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// Parse splits a manifest into objects. Documents without a namespace get
// defaultNamespace, as Helm applies them; empty documents are skipped.
func Parse(manifest, defaultNamespace string) (map[string]Object, error) {
	out := map[string]Object{}
	for _, doc := range docSep.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetNamespace() == "" && !clusterScoped(u.GetKind()) {
			u.SetNamespace(defaultNamespace)
		}
		key := fmt.Sprintf("%s, %s, %s (%s)", u.GetNamespace(), u.GetName(), u.GetKind(), u.GetAPIVersion())
		out[key] = Object{Key: key, Obj: u, YAML: strings.TrimSpace(stripComments(doc)) + "\n", Source: source(doc)}
	}
	return out, nil
}

// source returns the template path of Helm's "# Source:" comment.
func source(doc string) string {
	for _, l := range strings.Split(doc, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "# Source: "); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// InSubchart reports whether the object was rendered by the subchart at
// the value path (a dotted path of subchart names: "nats", or
// "platform.nats" for a subchart of a subchart), or, with an empty path, by
// any chart of the release.
func (o Object) InSubchart(path string) bool {
	if path == "" {
		return true
	}
	// Helm names templates "<chart>/charts/<sub>/charts/<subsub>/templates/...".
	want := "/charts/" + strings.ReplaceAll(path, ".", "/charts/") + "/templates/"
	return strings.Contains(o.Source, want)
}

func stripComments(doc string) string {
	lines := strings.Split(doc, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}

// clusterScoped lists the cluster-scoped kinds a chart of this platform renders.
func clusterScoped(kind string) bool {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume", "CustomResourceDefinition", "PriorityClass":
		return true
	}
	return false
}

// Diff renders a unified diff of two manifests, one section per object that
// was added, removed or changed, in key order. It returns "" when equal.
func Diff(before, after map[string]Object) string {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		a, z := before[k].YAML, after[k].YAML
		if a == z {
			continue
		}
		verb := "changed"
		switch {
		case a == "":
			verb = "added"
		case z == "":
			verb = "removed"
		}
		fmt.Fprintf(&b, "%s %s:\n", k, verb)
		b.WriteString(Unified(a, z, "before", "after"))
	}
	return b.String()
}

// Unified is a line diff with three lines of context.
func Unified(a, b, fromName, toName string) string {
	s, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: fromName, ToFile: toName, Context: 3,
	})
	return s
}

// ValuesDiff renders two values trees as YAML and diffs them.
func ValuesDiff(before, after map[string]any) (string, error) {
	a, err := yaml.Marshal(before)
	if err != nil {
		return "", err
	}
	z, err := yaml.Marshal(after)
	if err != nil {
		return "", err
	}
	if string(a) == string(z) {
		return "", nil
	}
	return Unified(string(a), string(z), "values (deployed)", "values (planned)"), nil
}

// Sorted returns the objects in key order, so that "the first HPA" is the
// same one on every run.
func Sorted(objs map[string]Object) []Object {
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Workloads returns the Deployments and StatefulSets of a parsed manifest.
func Workloads(objs map[string]Object) []Object {
	var out []Object
	for _, o := range objs {
		switch o.Obj.GetKind() {
		case "Deployment", "StatefulSet":
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Replicas returns spec.replicas of a workload and whether it is rendered.
func Replicas(o Object) (int64, bool) {
	n, found, err := unstructured.NestedFieldNoCopy(o.Obj.Object, "spec", "replicas")
	if err != nil || !found {
		return 0, false
	}
	switch v := n.(type) {
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case int:
		return int64(v), true
	}
	return 0, false
}
