package scaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"regexp"
	"strings"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/scale"
	"github.com/ironflow/scaling/tenants"
)

// The README's code, compiled (an Example without an Output comment is
// compiled, not run: these need a real cluster). TestREADMECodeIsCompiled
// keeps the README's blocks and these bodies the same.

func Example_useIt() {
	run := func(ctx context.Context) error {
		cluster, err := scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: "/path/kubeconfig", Context: "prod"})
		if err != nil {
			return err
		}
		client, err := scale.New(cluster, scale.Options{
			Chart:    scaling.ChartSource{Ref: "./charts/ironflow"}, // what `helm upgrade RELEASE CHART` takes
			Progress: func(e scaling.Event) { log.Println(e.Kind, e.Step, e.Check) },
		})
		if err != nil {
			return err
		}

		// bad input, a missing or pending release: typed errors
		plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "ironflow", Replicas: 5})
		if err != nil {
			return err
		}
		fmt.Print(plan)               // steps, guards, values + manifest diff, like `terraform plan`
		data, _ := json.Marshal(plan) // store it, get approval...

		plan, _ = scaling.Decode(data) // ...and apply it later, from anywhere
		if _, err := client.Apply(ctx, plan); errors.Is(err, scaling.ErrStalePlan) {
			// the cluster changed since planning: nothing was written, plan again
		}
		v, err := client.Verify(ctx, plan) // deadline from ctx, or Options.VerifyTimeout
		fmt.Print(v)                       // v.Phase == scaling.Succeeded, v.Checks with observed values
		return err
	}
	_ = run
}

func Example_nats() {
	run := func(ctx context.Context, cluster *scaling.Cluster, url, sysPassword, appPassword string) error {
		sys, _ := natsgo.Connect(url, natsgo.UserInfo("sys", sysPassword))
		app, _ := natsgo.Connect(url, natsgo.UserInfo("app", appPassword))
		client, err := nats.New(cluster, nats.Options{System: sys, Accounts: map[string]*natsgo.Conn{"APP": app},
			Chart: scaling.ChartSource{Ref: "./charts/ironflow"}}) // NATS is the official chart as a subchart

		plan, err := client.PlanScaleCluster(ctx, nats.ScaleCluster{
			Namespace: "prod", Release: "ironflow", Replicas: 3,
			LowerStreamReplicas: true, // R5 streams become R3 before any server leaves
			Evacuate:            true, // move R1 data off leaving servers first (nats-server >= 2.15)
		})
		_, err = client.Apply(ctx, plan)
		var over *nats.StreamReplicasError // errors.As on a blocked plan: the streams and numbers
		errors.As(err, &over)
		return err
	}
	_ = run
}

// The README's "Nodes: add a worker".
func Example_addWorker() {
	run := func(ctx context.Context, cluster *scaling.Cluster, token string) error {
		client, err := nodes.New(cluster, nodes.Options{TerraformEnv: map[string]string{"HCLOUD_TOKEN": token}})
		pool := "node.kubernetes.io/instance-type=cpx32"

		// steps 1-2: why pods pend, how many more cpx32 workers let them schedule
		d, err := client.Diagnose(ctx, nodes.Diagnose{Namespace: "prod", ServerType: "cpx32", NodeSelector: pool})
		fmt.Print(d) // pending pods and the scheduler's reasons, each node's requests, the arithmetic
		workers := 0
		for _, n := range d.Nodes {
			if n.Pool {
				workers++
			}
		}

		// steps 3-6: worker_count in terraform.tfvars, terraform plan -out, apply, the nodes join
		plan, err := client.PlanAddWorker(ctx, nodes.AddWorker{Dir: "deploy/terraform/hetzner", Count: workers + d.Recommendation.AddNodes,
			Note: true, NodeSelector: pool, PendingNamespace: "prod"})
		fmt.Print(plan)                    // the tfvars diff, the Terraform changes by address, the guards
		_, err = client.Apply(ctx, plan)   // writes the tfvars, then applies exactly the saved Terraform plan
		v, err := client.Verify(ctx, plan) // the new nodes Ready, the pods that pended scheduled
		fmt.Print(v)

		// the rebalance
		sc, err := scale.New(cluster, scale.Options{})
		restart, err := sc.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: "prod", Name: "ironflow"}})
		_, err = sc.Apply(ctx, restart)
		spread, err := sc.Verify(ctx, restart) // PDB-aware; the spread check: pods per node before and after
		fmt.Print(spread)
		return err
	}
	_ = run
}

func Example_tenants() {
	run := func(ctx context.Context, cluster *scaling.Cluster) error {
		client, err := tenants.New(cluster, tenants.Options{Chart: scaling.ChartSource{Ref: "./charts/ironflow"}})
		if err != nil {
			return err
		}
		plan, err := client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{
			"requests.cpu": resource.MustParse("4"), "limits.cpu": resource.MustParse("8"),
			"requests.memory": resource.MustParse("8Gi"), "limits.memory": resource.MustParse("16Gi"),
			"requests.storage": resource.MustParse("100Gi"), "pods": resource.MustParse("40"),
		}})
		fmt.Print(plan)                  // the six keys in the values and quota diff, ingress.host untouched
		_, err = client.Apply(ctx, plan) // one upgrade of acme's release; nothing in any other namespace
		var below *tenants.BelowUsageError
		if errors.As(err, &below) {
			fmt.Println(below.Resources) // each resource with hard and used
		}
		v, err := client.Verify(ctx, plan) // status.hard is the plan's, used <= hard
		fmt.Print(v)

		// the app's resources and PostgreSQL's volume: scale's and postgres's operations, in the tenant's release only
		res, err := client.PlanResources(ctx, tenants.Resources{Tenant: "acme",
			Requests: corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("1Gi")},
			Limits:   corev1.ResourceList{"memory": resource.MustParse("1Gi")}})
		vol, err := client.PlanStorage(ctx, tenants.Storage{Tenant: "acme", Volume: tenants.PostgreSQL, Size: "20Gi"})
		fmt.Print(res, vol)

		report, err := client.Report(ctx)
		fmt.Print(report) // usage against quota per tenant and resource, revisions, warnings above 80 %
		data, _ := json.Marshal(report)
		_ = data
		return err
	}
	_ = run
}

// TestREADMECodeIsCompiled: every line of the README's Go blocks stands,
// in order, in this file's Examples, so the README cannot show code that
// does not compile.
func TestREADMECodeIsCompiled(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	self, err := os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
	// gofmt aligns comments and indents: compare lines with their runs of
	// blanks collapsed.
	norm := func(l string) string { return strings.Join(strings.Fields(l), " ") }
	var compiled []string
	for _, l := range strings.Split(string(self), "\n") {
		compiled = append(compiled, norm(l))
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, blocks, "the README has Go code")
	for _, b := range blocks {
		at := 0
		for _, line := range strings.Split(strings.TrimSpace(b[1]), "\n") {
			line = norm(line)
			if line == "" {
				continue
			}
			i := at
			for i < len(compiled) && compiled[i] != line {
				i++
			}
			require.Less(t, i, len(compiled), "README line not in the compiled examples (or out of order): %q", line)
			at = i + 1
		}
	}
}
