package fake_test

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/scale"
)

// Fail the second upgrade, as Helm does when another operation on the
// release is in progress, and see the plan's Apply report the failed step.
func ExampleWithInterceptor() {
	ctx := context.Background()
	kube := k8sfake.NewClientset()
	injected := errors.New("helm: another operation (install/upgrade/rollback) is in progress")
	upgrades := 0
	releases := fake.NewReleases(kube, fake.WithInterceptor(fake.Funcs{
		Upgrade: func(ctx context.Context, next *fake.Releases, namespace, name string, revision int,
			source scaling.ChartSource, values map[string]any) (*scaling.Release, error) {
			if upgrades++; upgrades == 2 {
				return nil, injected // nothing stored, nothing mirrored
			}
			return next.Upgrade(ctx, namespace, name, revision, source, values)
		},
	}))
	if _, err := releases.Install(ctx, "prod", "web", "../examples/charts/ironflow",
		map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true}}); err != nil {
		fmt.Println(err)
		return
	}
	client, err := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases,
		Chart: scaling.ChartSource{Ref: "../examples/charts/ironflow"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range []int32{5, 6} {
		plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: n})
		if err != nil {
			fmt.Println(err)
			return
		}
		_, err = client.Apply(ctx, plan)
		var step *scaling.StepError
		switch {
		case errors.As(err, &step):
			fmt.Printf("to %d: step %q failed, injected: %v\n", n, step.Step.Action, errors.Is(err, injected))
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("to %d: applied\n", n)
		}
	}
	rel, _ := releases.Last(ctx, "prod", "web")
	fmt.Println("revision:", rel.Revision)
	// Output:
	// to 5: applied
	// to 6: step "helm upgrade" failed, injected: true
	// revision: 2
}

// The Kubernetes side fails through client-go's fake clientset: a reactor
// prepended for a verb and resource answers before its object tracker.
// Here the first read of the Deployment fails, as during an API server
// outage; returning false lets the later reads through to the tracker.
func ExampleNewReleases_kubernetesFailure() {
	ctx := context.Background()
	kube := k8sfake.NewClientset()
	releases := fake.NewReleases(kube)
	if _, err := releases.Install(ctx, "prod", "web", "../examples/charts/ironflow",
		map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true}}); err != nil {
		fmt.Println(err)
		return
	}
	outage := 1
	kube.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		if outage > 0 {
			outage--
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		}
		return false, nil, nil
	})
	client, err := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases,
		Chart: scaling.ChartSource{Ref: "../examples/charts/ironflow"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: 5})
	fmt.Println(err)
	fmt.Println("service unavailable:", apierrors.IsServiceUnavailable(err))
	plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "web", Replicas: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after the outage:", len(plan.Steps), "steps")
	// Output:
	// reading Deployment/prod/web-ironflow: etcd is down
	// service unavailable: true
	// after the outage: 2 steps
}
