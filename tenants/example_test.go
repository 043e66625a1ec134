package tenants_test

import (
	"context"
	"fmt"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ironflow/scaling"
	scalingfake "github.com/ironflow/scaling/fake"
	"github.com/ironflow/scaling/tenants"
)

// Raise a tenant's quota the runbook's way, through its release, keeping
// its other values. The in-memory releases of package fake stand in for a
// cluster, as they can in your own tests.
func ExampleClient_PlanUpdateQuota() {
	ctx := context.Background()
	kube := fake.NewClientset()
	releases := scalingfake.NewReleases(kube)
	// kubectl create namespace tenant-acme; kubectl label namespace
	// tenant-acme ironflow.io/tenant=acme
	_, _ = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-acme",
		Labels: map[string]string{"ironflow.io/tenant": "acme"}}}, metav1.CreateOptions{})
	// helm install acme ./ironflow -n tenant-acme -f values-multi-tenant.yaml
	//   --set ingress.host=acme.ironflow.example.com
	chart := "../examples/charts/ironflow"
	profile, err := chartutil.ReadValuesFile(filepath.Join(chart, "values-multi-tenant.yaml"))
	if err != nil {
		fmt.Println(err)
		return
	}
	vals := profile.AsMap()
	vals["ingress"] = map[string]any{"host": "acme.ironflow.example.com"}
	if _, err := releases.Install(ctx, "tenant-acme", "acme", chart, vals); err != nil {
		fmt.Println(err)
		return
	}
	client, err := tenants.New(&scaling.Cluster{Kube: kube}, tenants.Options{Releases: releases, Chart: scaling.ChartSource{Ref: chart}})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := client.PlanUpdateQuota(ctx, tenants.UpdateQuota{Tenant: "acme", Hard: corev1.ResourceList{
		"requests.cpu": resource.MustParse("4"), "limits.cpu": resource.MustParse("8"),
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps[1:] {
		fmt.Printf("%s %s %s: %s -> %s\n", s.Action, s.Object, s.Field, s.Before, s.After)
	}
	// A fake clientset lists no nodes: the overcommit guard warns that it
	// could not judge.
	for _, g := range plan.Guards {
		fmt.Printf("[%s] %s\n", g.Outcome, g.Name)
	}
	applied, err := client.Apply(ctx, plan)
	fmt.Println("changed:", applied.Changed, err)
	rel, _ := releases.Last(ctx, "tenant-acme", "acme")
	fmt.Println("revision", rel.Revision, "ingress.host", rel.Values["ingress"].(map[string]any)["host"])
	// Output:
	// set quota ResourceQuota/tenant-acme/acme-ironflow-quota spec.hard.limits.cpu: 4 -> 8
	// set quota ResourceQuota/tenant-acme/acme-ironflow-quota spec.hard.requests.cpu: 2 -> 4
	// [pass] tenant-namespace
	// [pass] tenant-scope
	// [pass] quota-owner
	// [pass] quota-drift
	// [pass] below-usage
	// [warn] overcommit
	// [pass] blast-radius
	// changed: true <nil>
	// revision 2 ingress.host acme.ironflow.example.com
}
