package nodes_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/internal/tfvars"
	"github.com/ironflow/scaling/nodes"
	"github.com/zclconf/go-cty/cty"
)

// BenchmarkAddWorkerVerifyReaction measures what an operator waits for
// after a new worker reports Ready: the time from sending the node's Ready
// status write (on the real API server, as a kubelet does) to Verify
// returning Succeeded. Each
// sample registers a fresh NotReady node in the plan's pool, starts
// Verify, then writes the node's Ready condition as a kubelet does.
func BenchmarkAddWorkerVerifyReaction(b *testing.B) {
	env := testenv.Shared()
	if env == nil {
		b.Fatal("no real environment")
	}
	ctx := context.Background()
	pool := fmt.Sprintf("bench-%d", time.Now().UnixNano()%100000)
	selector := "scaling.ironflow.dev/pool=" + pool
	sc, err := scaling.NewCluster(env.RESTConfig())
	if err != nil {
		b.Fatal(err)
	}
	f := &tfFixture{dir: b.TempDir(), bin: terraformBinB(b)}
	src := filepath.Join("testdata", "terraform", "plain")
	for _, name := range []string{"main.tf", "terraform.tfvars"} {
		data, _ := os.ReadFile(filepath.Join(src, name))
		_ = os.WriteFile(filepath.Join(f.dir, name), data, 0o644)
	}
	c, err := nodes.New(sc, nodes.Options{Terraform: f.bin})
	if err != nil {
		b.Fatal(err)
	}
	plan, err := c.PlanAddWorker(ctx, nodes.AddWorker{Dir: f.dir, Count: 3, NodeSelector: selector})
	if err != nil {
		b.Fatal(err)
	}
	var created []string
	b.Cleanup(func() {
		for _, n := range created {
			_ = env.Client.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("%s-worker-%d", pool, i)
		node, err := env.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{"scaling.ironflow.dev/pool": pool}}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		created = append(created, name)
		done := make(chan *scaling.Verification, 1)
		vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		started := make(chan struct{})
		c2, _ := nodes.New(sc, nodes.Options{Terraform: f.bin, Progress: func(ev scaling.Event) {
			if ev.Check != nil && ev.Check.Name == "nodes-ready" && strings.HasPrefix(ev.Check.Observed, "not Ready") {
				select {
				case <-started:
				default:
					close(started)
				}
			}
		}})
		go func() { v, _ := c2.Verify(vctx, plan); done <- v }()
		<-started // Verify has listed and seen the node NotReady
		b.StartTimer()
		// A patch, as a kubelet's status update: the node lifecycle
		// controller writes the node too (taints), so an update would race.
		t0 := time.Now() // the write sent: the API server turns the node Ready within it
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":%q}]}}`, time.Now().UTC().Format(time.RFC3339))
		if _, err := env.Client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
			b.Fatal(err)
		}
		v := <-done
		samples = append(samples, time.Since(t0))
		b.StopTimer()
		cancel()
		if v == nil || v.Phase != scaling.Succeeded {
			b.Fatalf("verify: %v", v)
		}
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-ms")
}

func terraformBinB(b *testing.B) string {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	bin, err := testenv.TerraformBinary(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// BenchmarkTFVarsEditOfALargeFile edits worker_count in a 5,000-line
// tfvars file, as AddWorker's plan does.
func BenchmarkTFVarsEditOfALargeFile(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("# generated\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, "# setting %d\nsetting_%d = \"value-%d\"\n", i, i, i)
	}
	sb.WriteString("worker_count = 2 # keep >= 2\n")
	src := []byte(sb.String())
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := tfvars.Edit(src, "terraform.tfvars", tfvars.Set{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanAddWorkerAgainstTerraformPlan compares what the operator
// waits for: PlanAddWorker (tfvars edit, declared-variable check, state
// read, terraform plan -out, show -json, pool read on the real API server)
// against the runbook's `terraform plan -out` alone on the same directory,
// in alternating samples; it reports both medians and their ratio.
func BenchmarkPlanAddWorkerAgainstTerraformPlan(b *testing.B) {
	env := testenv.Shared()
	if env == nil {
		b.Fatal("no real environment")
	}
	ctx := context.Background()
	bin := terraformBinB(b)
	dir := b.TempDir()
	src := filepath.Join("testdata", "terraform", "plain")
	for _, name := range []string{"main.tf", "terraform.tfvars"} {
		data, _ := os.ReadFile(filepath.Join(src, name))
		_ = os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	run := func(args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("init", "-input=false")
	run("apply", "-auto-approve", "-input=false")
	var sdk, cli []time.Duration
	for i := 0; i < b.N; i++ {
		// A fresh client each sample, as a one-shot CLI has.
		t0 := time.Now()
		sc, err := scaling.NewCluster(env.RESTConfig())
		if err != nil {
			b.Fatal(err)
		}
		c, err := nodes.New(sc, nodes.Options{Terraform: bin})
		if err != nil {
			b.Fatal(err)
		}
		p, err := c.PlanAddWorker(ctx, nodes.AddWorker{Dir: dir, Count: 3, NodeSelector: "scaling.ironflow.dev/pool=none"})
		if err != nil {
			b.Fatal(err)
		}
		sdk = append(sdk, time.Since(t0))
		_ = os.Remove(p.Steps[len(p.Steps)-1].Object.Name)
		t0 = time.Now()
		run("plan", "-input=false", "-lock-timeout=0s", "-var", "worker_count=3", "-out", filepath.Join(dir, "by-hand.tfplan"))
		cli = append(cli, time.Since(t0))
	}
	med := testenv.Median
	b.ReportMetric(float64(med(sdk).Microseconds())/1000, "sdk-median-ms")
	b.ReportMetric(float64(med(cli).Microseconds())/1000, "terraform-plan-median-ms")
	b.ReportMetric(float64(med(sdk))/float64(med(cli)), "ratio")
}
