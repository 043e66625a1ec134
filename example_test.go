package scaling_test

import (
	"errors"
	"fmt"

	"github.com/ironflow/scaling"
)

// A plan carries everything needed to show it, approve it and apply it later.
func ExamplePlan_String() {
	p := &scaling.Plan{
		Version:   scaling.PlanVersion,
		Operation: "scale.Replicas",
		Target:    scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"},
		Steps: []scaling.Step{{Action: "helm upgrade", Object: scaling.ObjectRef{Kind: "HelmRelease", Namespace: "prod", Name: "ironflow"},
			Field: "replicaCount", Before: "3", After: "5"}},
		Guards: []scaling.GuardResult{{Name: "clustering", Outcome: scaling.Pass, Reason: "cluster.enabled is true"}},
	}
	fmt.Print(p)
	// Output:
	// Plan: scale.Replicas on HelmRelease/prod/ironflow
	//
	// Steps:
	//   1. helm upgrade HelmRelease/prod/ironflow replicaCount: 3 -> 5
	//
	// Guards:
	//   [pass] clustering: cluster.enabled is true
	//
	// Plan: 1 step(s) to apply.
}

// Apply's refusals are typed: branch on the class with errors.Is, read the
// details with errors.As.
func ExampleStalePlanError() {
	var err error = &scaling.StalePlanError{Operation: "scale.Replicas",
		Drift: []scaling.Drift{{Key: "Deployment/prod/ironflow generation", Planned: "4", Live: "5"}}}
	var stale *scaling.StalePlanError
	if errors.Is(err, scaling.ErrStalePlan) && errors.As(err, &stale) {
		fmt.Println("plan again:", stale.Drift[0].Key, "moved from", stale.Drift[0].Planned, "to", stale.Drift[0].Live)
	}
	// Output:
	// plan again: Deployment/prod/ironflow generation moved from 4 to 5
}
