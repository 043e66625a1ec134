package scale_test

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	scalingfake "github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/scale"
)

// Scaling out needs every piece of state outside the pods: an app that
// keeps uploads on its own filesystem is blocked with what keeps it there,
// and passes once its storage is S3.
func ExampleStatePerInstanceError() {
	ctx := context.Background()
	kube := fake.NewClientset()
	releases := scalingfake.NewReleases(kube)
	chart := scaling.ChartSource{Ref: "../examples/charts/ironflow"}
	if _, err := releases.Install(ctx, "prod", "ironflow", chart.Ref, map[string]any{
		"cluster": map[string]any{"enabled": true}, "storage": map[string]any{"provider": "local"},
	}); err != nil {
		fmt.Println(err)
		return
	}
	client, err := scale.New(&scaling.Cluster{Kube: kube}, scale.Options{Releases: releases, Chart: chart})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "ironflow", Replicas: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.Apply(ctx, plan)
	var state *scale.StatePerInstanceError
	if errors.As(err, &state) {
		fmt.Println("blocked: storage", state.Storage, "for", state.Replicas, "replicas")
		for _, c := range state.Claims {
			fmt.Println("claim", c.Claim, c.AccessModes)
		}
	}

	// The same release with S3 storage: the guard passes.
	if _, err := releases.Upgrade(ctx, "prod", "ironflow", 1, chart, map[string]any{
		"cluster": map[string]any{"enabled": true}, "storage": map[string]any{"provider": "s3"},
	}); err != nil {
		fmt.Println(err)
		return
	}
	plan, err = client.PlanReplicas(ctx, scale.Replicas{Namespace: "prod", Release: "ironflow", Replicas: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, g := range plan.Guards {
		if g.Name == scale.GuardScaleOutState {
			fmt.Printf("[%s] %s\n", g.Outcome, g.Name)
		}
	}
	// Output:
	// blocked: storage local for 3 replicas
	// claim ironflow-storage [ReadWriteOnce]
	// [pass] scale-out-state
}
