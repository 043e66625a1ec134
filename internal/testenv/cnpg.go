package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// CNPGModule is the CloudNativePG release whose CRDs the environment
// installs. They are read from the module (downloaded through the Go module
// proxy), never copied into this repository.
const CNPGModule = "github.com/cloudnative-pg/cloudnative-pg@v1.30.0"

func (e *Env) installCNPG(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", CNPGModule)
	cmd.Dir = RepoRoot()
	cmd.Env = append(cmd.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("downloading %s: %w", CNPGModule, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("downloading %s: %s %v", CNPGModule, mod.Error, err)
	}
	kubectl := filepath.Join(e.BinDir, "kubectl")
	for _, crd := range []string{"clusters", "poolers"} {
		file := filepath.Join(mod.Dir, "config", "crd", "bases", "postgresql.cnpg.io_"+crd+".yaml")
		apply := exec.CommandContext(ctx, kubectl, "--kubeconfig", e.Kubeconfig, "apply", "--server-side", "-f", file)
		if out, err := apply.CombinedOutput(); err != nil {
			return fmt.Errorf("installing CRD %s: %w\n%s", crd, err, out)
		}
	}
	// `kubectl wait` fails outright when it reads the CRD before its status
	// has any condition, so wait on the condition here.
	dyn, err := dynamic.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, crd := range []string{"clusters", "poolers"} {
		name := crd + ".postgresql.cnpg.io"
		err := waitFor(ctx, nil, "CRD "+name+" Established", func() bool {
			obj, err := dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		})
		if err != nil {
			return err
		}
	}
	// Established is not served: API discovery, which Helm's REST mapper
	// reads, lists the new kinds a moment later. Installing a chart in that
	// moment failed with `no matches for kind "Pooler"`.
	return waitFor(ctx, nil, "CNPG kinds in API discovery", func() bool {
		// The aggregated document (/apis), as a REST mapper reads it, not
		// the group's own endpoint, which is served first.
		_, lists, err := e.Client.Discovery().ServerGroupsAndResources()
		if err != nil {
			return false
		}
		kinds := map[string]bool{}
		for _, l := range lists {
			if l.GroupVersion == "postgresql.cnpg.io/v1" {
				for _, r := range l.APIResources {
					kinds[r.Kind] = true
				}
			}
		}
		return kinds["Cluster"] && kinds["Pooler"]
	})
}

// WaitClusterHealthy waits (a watch) until a CNPG Cluster in the namespace,
// the one named or any when name is "", reports the healthy phase with n
// ready instances, as the operator (or its double) writes it; the error on
// an ended ctx or a closed watch carries the last status seen.
func WaitClusterHealthy(ctx context.Context, dyn dynamic.Interface, namespace, name string, n int) error {
	opts := metav1.ListOptions{}
	if name != "" {
		opts.FieldSelector = "metadata.name=" + name
	}
	w, err := dyn.Resource(ClustersGVR).Namespace(namespace).Watch(ctx, opts)
	if err != nil {
		return err
	}
	defer w.Stop()
	var last map[string]any
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("testenv: the watch of CNPG Clusters in %s closed; last status %v", namespace, last)
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			last, _, _ = unstructured.NestedMap(u.Object, "status")
			if last["phase"] == PhaseHealthy && last["readyInstances"] == int64(n) {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("testenv: CNPG Cluster %s/%s not healthy with %d ready instances: %w; last status %v", namespace, name, n, ctx.Err(), last)
		}
	}
}
