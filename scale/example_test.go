package scale_test

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	scalingfake "github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/scale"
)

// Plan a scale, look at the guards, apply the plan. The in-memory releases
// of package fake stand in for a cluster, as they can in your own tests.
func ExampleClient_PlanReplicas() {
	ctx := context.Background()
	kube := fake.NewClientset()
	releases := scalingfake.NewReleases(kube)
	if _, err := releases.Install(ctx, "prod", "ironflow", "../examples/charts/ironflow",
		map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true}}); err != nil {
		fmt.Println(err)
		return
	}
	// Helm's stored release keeps no subcharts: every upgrade takes the
	// chart from its source, as `helm upgrade RELEASE CHART` does.
	chart := scaling.ChartSource{Ref: "../examples/charts/ironflow"}
	client, err := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases, Chart: chart})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "ironflow", Replicas: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps {
		fmt.Printf("%s %s %s: %s -> %s\n", s.Action, s.Object, s.Field, s.Before, s.After)
	}
	// A fake clientset lists no nodes: the capacity guard warns that it
	// could not judge.
	for _, g := range plan.Guards {
		fmt.Printf("[%s] %s\n", g.Outcome, g.Name)
	}
	applied, err := client.Apply(ctx, plan)
	fmt.Println("changed:", applied.Changed, err)
	again, err := client.Apply(ctx, plan)
	fmt.Println("applied again, changed:", again.Changed, err)
	// Output:
	// helm upgrade HelmRelease/prod/ironflow replicaCount: 3 -> 5
	// scale Deployment/prod/ironflow spec.replicas: 3 -> 5
	// [pass] clustering
	// [pass] hpa
	// [pass] quota
	// [warn] capacity
	// [pass] connection-budget
	// [pass] scale-out-state
	// [pass] sticky-sessions
	// [pass] blast-radius
	// changed: true <nil>
	// applied again, changed: false <nil>
}

// A plan that a guard blocks is refused with the guard attached.
func ExampleClient_Apply_blocked() {
	ctx := context.Background()
	kube := fake.NewClientset()
	releases := scalingfake.NewReleases(kube)
	if _, err := releases.Install(ctx, "prod", "ironflow", "../examples/charts/ironflow", map[string]any{"replicaCount": 1}); err != nil {
		fmt.Println(err)
		return
	}
	client, _ := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases, Chart: scaling.ChartSource{Ref: "../examples/charts/ironflow"}})
	plan, _ := client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "ironflow", Replicas: 3})
	_, err := client.Apply(ctx, plan)
	var blocked *scaling.GuardBlockedError
	if errors.As(err, &blocked) {
		g, _ := blocked.Guard("clustering")
		fmt.Println(g.Reason)
		fmt.Println(g.Remedy)
	}
	// Output:
	// 3 replicas with cluster.enabled=false run as independent instances that do not share state
	// move the release to the medium template (clustering on) first, then scale
}

// Raise the app's requests the runbook's way (vertical scaling): the plan
// shows each value and the rollout it causes, and a memory request above
// the chart's limit needs the limit raised with it.
func ExampleClient_PlanResources() {
	ctx := context.Background()
	kube := fake.NewClientset()
	releases := scalingfake.NewReleases(kube)
	if _, err := releases.Install(ctx, "prod", "ironflow", "../examples/charts/ironflow",
		map[string]any{"replicaCount": 3, "cluster": map[string]any{"enabled": true}}); err != nil {
		fmt.Println(err)
		return
	}
	client, err := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases, Chart: scaling.ChartSource{Ref: "../examples/charts/ironflow"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := scale.Resources{Namespace: "prod", Release: "ironflow", Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	plan, err := client.PlanResources(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, g := range plan.Blocking() {
		fmt.Printf("[%s] %s: %s\n", g.Outcome, g.Name, g.Reason)
	}
	req.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	if plan, err = client.PlanResources(ctx, req); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps {
		fmt.Printf("%s %s %s: %s -> %s\n", s.Action, s.Object, s.Field, s.Before, s.After)
	}
	applied, err := client.Apply(ctx, plan)
	fmt.Println("changed:", applied.Changed, err)
	// Output:
	// [block] limits-below-requests: Deployment/prod/ironflow: container ironflow memory limit 256Mi is below its request 1Gi
	// helm upgrade HelmRelease/prod/ironflow resources.requests.cpu: 100m -> 500m
	// helm upgrade HelmRelease/prod/ironflow resources.requests.memory: 128Mi -> 1Gi
	// helm upgrade HelmRelease/prod/ironflow resources.limits.memory: 256Mi -> 1Gi
	// roll out Deployment/prod/ironflow spec.template.spec.containers[ironflow].resources: requests cpu=100m memory=128Mi; limits cpu=500m memory=256Mi -> requests cpu=500m memory=1Gi; limits cpu=500m memory=1Gi
	// changed: true <nil>
}
