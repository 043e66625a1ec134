package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/nodes"
	"github.com/ironflow/scaling/scale"
)

// runNodes is the runbook's "Add a worker node" on the embedded control
// plane: a Hetzner-shaped Terraform directory (its servers are builtin
// terraform_data resources whose provisioners register KWOK nodes, NotReady
// for a 3 s stand-in of Talos's boot) applied with 2 cpx32 workers, pods
// pending for CPU, Diagnose saying how many more workers, AddWorker
// editing terraform.tfvars and applying the saved Terraform plan, Verify
// watching the node turn Ready and the pods schedule, then scale's
// RolloutRestart spreading them. At the end Option B, Destroy (backups
// confirmed: the demo's databases hold nothing), removes it all.
func runNodes(ctx context.Context, env *testenv.Env, cluster *scaling.Cluster, namespace string, progress scaling.Progress) error {
	bin, err := testenv.TerraformBinary(ctx)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "scaling-demo-terraform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "hetzner")
	if err := os.CopyFS(dir, os.DirFS(testenv.TerraformFixtureDir("hetzner"))); err != nil {
		return err
	}
	tfEnv := env.TerraformEnv(3 * time.Second)
	fmt.Printf("\nTerraform (%s) in %s: the infrastructure as built, 2 cpx32 workers...\n", filepath.Base(bin), dir)
	for _, args := range [][]string{{"init", "-input=false"}, {"apply", "-auto-approve", "-input=false"}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = dir, os.Environ()
		for k, v := range tfEnv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("terraform %v: %w\n%s", args, err, out)
		}
	}
	pool := "scaling.ironflow.dev/pool=prod-workers"
	client, err := nodes.New(cluster, nodes.Options{Terraform: bin, TerraformEnv: tfEnv, Progress: progress})
	if err != nil {
		return err
	}
	defer func() {
		// Option B, so the demo leaves nothing behind.
		fmt.Println("\nOption B: destroy the cluster's infrastructure (backups confirmed)...")
		err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) {
			return client.PlanDestroy(ctx, nodes.Destroy{Dir: dir, ConfirmBackups: true, Kinds: map[string]string{
				"terraform_data.worker": nodes.KindServer, "terraform_data.control_plane": nodes.KindServer,
				"terraform_data.volume": nodes.KindVolume, "terraform_data.load_balancer": nodes.KindLoadBalancer}})
		})
		if err != nil {
			fmt.Println("destroy:", err)
		}
	}()
	if err := waitFor(ctx, func() bool { n, err := env.ReadyNodes(ctx, pool); return err == nil && n == 2 }); err != nil {
		return fmt.Errorf("the 2 workers did not boot: %w", err)
	}

	// Work that does not fit: six pods of 1500m on two 4-CPU workers.
	labels := map[string]string{"app": "batch"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "batch", Namespace: namespace}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](6), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"scaling.ironflow.dev/pool": "prod-workers"},
			Containers: []corev1.Container{{Name: "batch", Image: "ghcr.io/ironflow/batch:1", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}},
		}}}}
	if _, err := cluster.Kube.AppsV1().Deployments(namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	var d *nodes.Diagnosis
	if err := waitFor(ctx, func() bool {
		d, err = client.Diagnose(ctx, nodes.Diagnose{Namespace: namespace, Selector: "app=batch", ServerType: "cpx32", NodeSelector: pool})
		return err == nil && len(d.Pending) == 2 && d.Pending[0].Reason == nodes.ReasonInsufficientCPU
	}); err != nil {
		return fmt.Errorf("the pods did not pend for CPU: %v", err)
	}
	fmt.Printf("\nDiagnose:\n%s", d)
	if d.Recommendation == nil || d.Recommendation.AddNodes < 1 {
		return fmt.Errorf("Diagnose recommended no worker")
	}
	if err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) {
		return client.PlanAddWorker(ctx, nodes.AddWorker{Dir: dir, Count: 2 + d.Recommendation.AddNodes, Note: true,
			NodeSelector: pool, PendingNamespace: namespace, PendingSelector: "app=batch"})
	}); err != nil {
		return err
	}
	sc, err := scale.New(cluster, scale.Options{Progress: progress})
	if err != nil {
		return err
	}
	return planApplyVerify(ctx, sc, func() (*scaling.Plan, error) {
		return sc.PlanRolloutRestart(ctx, scale.RolloutRestart{Workload: scaling.ObjectRef{Kind: "Deployment", Namespace: namespace, Name: "batch"}})
	})
}
