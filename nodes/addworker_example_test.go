package nodes_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
)

// exampleTerraform copies nodes/testdata/terraform/plain into a temporary
// folder and applies it as it is (2 workers), the infrastructure as built
// by hand, and returns a Client driving the same binary on a fake
// cluster holding objs (CloudNativePG Clusters, read through the dynamic
// client). Terraform's own output is kept out of the Example's.
func exampleTerraform(ctx context.Context, objs ...kruntime.Object) (dir string, client *nodes.Client, cleanup func()) {
	bin, err := testenv.TerraformBinary(ctx)
	if err != nil {
		panic(err)
	}
	work, err := os.MkdirTemp("", "scaling-example-")
	if err != nil {
		panic(err)
	}
	dir = filepath.Join(work, "plain")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "terraform", "plain"))); err != nil {
		panic(err)
	}
	for _, args := range [][]string{{"init", "-input=false"}, {"apply", "-auto-approve", "-input=false"}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			panic(fmt.Sprintf("%s %v: %v\n%s", bin, args, err, out))
		}
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(), map[schema.GroupVersionResource]string{
		{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}: "ClusterList",
		{Group: "postgresql.cnpg.io", Version: "v1", Resource: "poolers"}:  "PoolerList"}, objs...)
	client, err = nodes.New(&scaling.Cluster{Kube: k8sfake.NewClientset(), Dynamic: dyn}, nodes.Options{Terraform: bin})
	if err != nil {
		panic(err)
	}
	return dir, client, func() { _ = os.RemoveAll(work) }
}

// The runbook's "Add a worker node", steps 3-6, on a directory applied
// with 2 workers: worker_count 2 -> 3 in terraform.tfvars (with a note of
// the old value), a saved Terraform plan of one add, applied once; the
// second Apply writes nothing.
func ExampleClient_PlanAddWorker() {
	ctx := context.Background()
	dir, client, cleanup := exampleTerraform(ctx)
	defer cleanup()

	plan, err := client.PlanAddWorker(ctx, nodes.AddWorker{Dir: dir, Count: 3, Note: true})
	if err != nil {
		panic(err)
	}
	for _, s := range plan.Steps {
		fmt.Printf("step %s: %s %s -> %s\n", s.Action, s.Field, s.Before, s.After)
	}
	for _, g := range plan.Guards {
		fmt.Println("guard", g.Name, g.Outcome)
	}
	for _, l := range strings.Split(plan.Diff, "\n") {
		if strings.HasPrefix(l, "-worker") || strings.HasPrefix(l, "+worker") || strings.HasPrefix(strings.TrimSpace(l), "+ terraform_data") {
			fmt.Println("diff", strings.TrimSpace(l))
		}
	}

	res, err := client.Apply(ctx, plan)
	if err != nil {
		panic(err)
	}
	fmt.Println("applied, changed:", res.Changed)
	// The saved Terraform plan, in <dir>/.scaling-plans, holds every
	// variable in clear text: it is gone once applied.
	_, err = os.Stat(plan.Steps[1].Object.Name)
	fmt.Println("saved plan removed:", errors.Is(err, fs.ErrNotExist))
	res, err = client.Apply(ctx, plan)
	if err != nil {
		panic(err)
	}
	fmt.Println("again, changed:", res.Changed, "-", res.Reason)

	tfvars, err := os.ReadFile(filepath.Join(dir, "terraform.tfvars"))
	if err != nil {
		panic(err)
	}
	for _, l := range strings.Split(string(tfvars), "\n") {
		if strings.HasPrefix(l, "worker_count") {
			fmt.Println("terraform.tfvars:", l)
		}
	}
	// Output:
	// step edit tfvars: worker_count 2 -> 3
	// step terraform apply: resources 5 in the state -> 1 to add, 0 to change, 0 to replace, 0 to destroy
	// guard worker-count pass
	// guard replacement pass
	// diff -worker_count = 2  # keep >= 2 for HA
	// diff +worker_count = 3  # was 2; keep >= 2 for HA
	// diff + terraform_data.worker[2] will be created
	// applied, changed: true
	// saved plan removed: true
	// again, changed: false - the target state already holds: nothing to do
	// terraform.tfvars: worker_count = 3  # was 2; keep >= 2 for HA
}

// The runbook's "Option B: destroy the entire cluster": the plan lists
// what is lost and blocks until the caller confirms backups; confirmed,
// it applies the saved destroy plan and Verify finds the state empty. The
// plan names each CloudNativePG cluster's backup method and last backup.
func ExampleClient_PlanDestroy() {
	ctx := context.Background()
	pg := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg", "namespace": "shop"},
		"spec":     map[string]any{"instances": int64(3), "backup": map[string]any{"barmanObjectStore": map[string]any{"destinationPath": "s3://backups/pg"}}},
		"status":   map[string]any{"lastSuccessfulBackup": "2026-12-01T03:00:00Z"}}}
	dir, client, cleanup := exampleTerraform(ctx, pg)
	defer cleanup()
	// What the configuration's resources are (nil means HetznerKinds, by
	// hcloud_* resource type).
	kinds := map[string]string{
		"terraform_data.worker": nodes.KindServer, "terraform_data.control_plane": nodes.KindServer,
		"terraform_data.volume": nodes.KindVolume, "terraform_data.load_balancer": nodes.KindLoadBalancer,
	}

	plan, err := client.PlanDestroy(ctx, nodes.Destroy{Dir: dir, Kinds: kinds})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.ReplaceAll(plan.Summary, dir, "<dir>"))
	fmt.Print(plan.Diff) // what is lost, by address
	g, _ := plan.Guard(nodes.GuardBackups)
	fmt.Println("guard", g.Name, g.Outcome, "-", g.Reason)
	_, err = client.Apply(ctx, plan)
	fmt.Println("apply refused, nothing destroyed:", errors.Is(err, nodes.ErrBackupsUnconfirmed))

	plan, err = client.PlanDestroy(ctx, nodes.Destroy{Dir: dir, Kinds: kinds, ConfirmBackups: true})
	if err != nil {
		panic(err)
	}
	g, _ = plan.Guard(nodes.GuardBackups)
	fmt.Println("guard", g.Name, g.Outcome, "-", g.Reason)
	if _, err := client.Apply(ctx, plan); err != nil {
		panic(err)
	}
	v, err := client.Verify(ctx, plan)
	if err != nil {
		panic(err)
	}
	fmt.Println("verify:", v.Phase)
	// Output:
	// Destroy everything <dir> manages: 3 server(s), 1 volume(s), 1 load balancer(s).
	//   - terraform_data.control_plane (server) will be destroyed
	//   - terraform_data.load_balancer (load balancer) will be destroyed
	//   - terraform_data.volume[0] (volume) will be destroyed
	//   - terraform_data.worker[0] (server) will be destroyed
	//   - terraform_data.worker[1] (server) will be destroyed
	// Terraform plan: 0 to add, 0 to change, 0 to replace, 5 to destroy.
	// guard backups block - nodes: destroying the cluster loses every volume: confirm backups (Destroy.ConfirmBackups); CloudNativePG clusters: shop/pg: barmanObjectStore, last successful backup 2026-12-01T03:00:00Z
	// apply refused, nothing destroyed: true
	// guard backups pass - backups confirmed: shop/pg: barmanObjectStore, last successful backup 2026-12-01T03:00:00Z
	// verify: Succeeded
}
