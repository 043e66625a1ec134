// Command quickstart is the demo of the README: it starts the embedded real
// control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and KWOK nodes, built from Go modules on first use),
// installs the reference chart with three replicas, then plans, applies and
// verifies a scale to five and prints the plan and the verification. Its
// second half does the same for the release's NATS cluster (3 -> 5 -> 3
// servers) on a real in-process JetStream cluster that follows the
// release's StatefulSet. Its third part is a PostgreSQL switchover, with a
// client writing through the pooler, on real PostgreSQL 15 servers and a
// real PgBouncer behind the release's CloudNativePG pods (embedded only).
//
// With -kubeconfig it runs against that cluster instead and installs nothing:
// point -release/-namespace at an existing release. The NATS half then runs
// only with -nats-url (and the system and account credentials).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/helmrelease"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/scale"
)

func main() {
	var (
		kubeconfig = flag.String("kubeconfig", "", "use this cluster instead of the embedded one")
		kubeCtx    = flag.String("context", "", "kubeconfig context")
		namespace  = flag.String("namespace", "demo", "namespace of the release")
		release    = flag.String("release", "ironflow", "Helm release to scale")
		replicas   = flag.Int("replicas", 5, "target replica count")
		chart      scaling.ChartSource
		n          natsOptions
	)
	flag.StringVar(&chart.Ref, "chart", "", "chart of every upgrade, as helm upgrade takes it: a folder, an archive, oci://..., or a name in -chart-repo (default: the embedded reference chart; with -kubeconfig, the release's stored chart, which only a chart without subcharts allows)")
	flag.StringVar(&chart.RepoURL, "chart-repo", "", "chart repository URL (helm upgrade --repo)")
	flag.StringVar(&chart.Version, "chart-version", "", "chart version (helm upgrade --version)")
	flag.StringVar(&n.URL, "nats-url", "", "NATS URL of the release's cluster (with -kubeconfig)")
	flag.StringVar(&n.SystemUser, "nats-sys-user", "sys", "system account user")
	flag.StringVar(&n.SystemPassword, "nats-sys-password", "", "system account password")
	flag.StringVar(&n.Account, "nats-account", "APP", "account whose streams may be re-replicated")
	flag.StringVar(&n.AccountUser, "nats-user", "", "user in that account")
	flag.StringVar(&n.AccountPassword, "nats-password", "", "its password")
	flag.Parse()
	if *kubeconfig == "" && chart.IsZero() {
		chart.Ref = testenv.ChartPath("ironflow")
	}
	if err := run(*kubeconfig, *kubeCtx, *namespace, *release, int32(*replicas), chart, n); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, kubeCtx, namespace, release string, replicas int32, chart scaling.ChartSource, natsOpts natsOptions) error {
	embedded := kubeconfig == ""
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	start := time.Now()

	var env *testenv.Env
	if kubeconfig == "" {
		fmt.Println("Starting the embedded control plane (the first run builds it from Go modules: ~15-25 min)...")
		var err error
		env, err = testenv.Start(ctx, testenv.Options{CNPG: true})
		if err != nil {
			return err
		}
		defer env.Stop()
		kubeconfig = env.Kubeconfig
		fmt.Printf("Control plane up in %s; kubeconfig %s\n", time.Since(start).Round(time.Millisecond), kubeconfig)
	}

	cluster, err := scaling.Connect(ctx, scaling.ConnectOptions{Kubeconfig: kubeconfig, Context: kubeCtx})
	if err != nil {
		return err
	}
	if kubeCtx == "" && namespace == "demo" {
		if err := installDemo(ctx, cluster, namespace, release); err != nil {
			return err
		}
	}

	progress := func(e scaling.Event) {
		switch e.Kind {
		case scaling.StepStarted:
			fmt.Printf("  -> %s %s\n", e.Step.Action, e.Step.Object)
		case scaling.CheckObserved:
			fmt.Printf("  .. %s: %s\n", e.Check.Name, e.Check.Observed)
		}
	}
	client, err := scale.New(cluster, scale.Options{Progress: progress, Chart: chart})
	if err != nil {
		return err
	}
	if err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) {
		return client.PlanReplicas(ctx, scale.Replicas{Namespace: namespace, Release: release, Replicas: replicas})
	}); err != nil {
		return err
	}
	if embedded || natsOpts.URL != "" {
		if err := runNATS(ctx, cluster, namespace, release, chart, natsOpts, progress); err != nil {
			return fmt.Errorf("nats: %w", err)
		}
	}
	if embedded {
		if err := runPostgres(ctx, env, namespace, release, progress); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if err := runNodes(ctx, env, cluster, namespace, progress); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
	}
	fmt.Printf("\nDemo finished in %s.\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// installDemo installs the reference chart's medium template with three
// replicas, as the platform would have it before the runbook's scale-up.
func installDemo(ctx context.Context, cluster *scaling.Cluster, namespace, release string) error {
	_, err := cluster.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(testenv.ChartPath("ironflow"), "values-medium.yaml"))
	if err != nil {
		return err
	}
	var vals map[string]any
	if err := yaml.Unmarshal(raw, &vals); err != nil {
		return err
	}
	fmt.Printf("Installing chart ironflow (medium template) as %s/%s...\n", namespace, release)
	_, err = helmrelease.New(cluster.Config, cluster.Kube).Install(ctx, namespace, release, testenv.ChartPath("ironflow"), vals, 2*time.Minute)
	return err
}

// operator is what scale.Client and nats.Client have in common.
type operator interface {
	Apply(context.Context, *scaling.Plan) (*scaling.Applied, error)
	Verify(context.Context, *scaling.Plan) (*scaling.Verification, error)
}

// planApplyVerify plans, prints the plan, applies it and prints its
// verification, which must succeed.
func planApplyVerify(ctx context.Context, client operator, planFn func() (*scaling.Plan, error)) error {
	plan, err := planFn()
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(plan)
	fmt.Println("\nApplying...")
	applied, err := client.Apply(ctx, plan)
	if err != nil {
		return err
	}
	if !applied.Changed {
		fmt.Println("Nothing to change:", applied.Reason)
	}
	fmt.Println("Verifying...")
	v, err := client.Verify(ctx, plan)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(v)
	if v.Phase != scaling.Succeeded {
		return fmt.Errorf("verification %s: %s", v.Phase, v.Reason)
	}
	return nil
}
