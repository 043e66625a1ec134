package tenants

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// OpResources is the Plan.Operation of a tenant's Resources plans.
const OpResources = "tenants.Resources"

// Resources sets the requests and limits of a tenant's app (the runbook's
// `--set resources.requests.cpu=500m --set resources.requests.memory=1Gi`
// on the tenant's release) with scale.Resources, whose guards are the
// tenant's: the new requests of every pod the rollout runs (replicas and
// surge) within the tenant's quota, no pod larger than the largest node's
// allocatable, no limit below its request. The tenant's ownership guards
// come first.
type Resources struct {
	Tenant string `json:"tenant"`
	// Requests and Limits are the app container's new resources; a
	// resource not named keeps the chart's value.
	Requests corev1.ResourceList `json:"requests,omitempty"`
	Limits   corev1.ResourceList `json:"limits,omitempty"`
	// ValuePath is the chart value holding the app's resources; default
	// scale.DefaultResourcesPath.
	ValuePath string `json:"valuePath,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

// PlanResources resolves the tenant and plans scale.Resources on its
// release. An invalid tenant name is a *scaling.InvalidInputError before
// any request; a missing namespace or release a *scaling.NotFoundError;
// the inner request's own errors are scale.PlanResources's. A plan that a
// guard blocks is returned, so its reasons can be shown.
func (c *Client) PlanResources(ctx context.Context, r Resources) (*scaling.Plan, error) {
	plan, _, err := c.planResources(ctx, r)
	return plan, err
}

func (c *Client) planResources(ctx context.Context, r Resources) (*scaling.Plan, *wrappedSpec[Resources], error) {
	if err := c.validTenant("Resources.Tenant", r.Tenant); err != nil {
		return nil, nil, err
	}
	t, err := c.tenant(ctx, r.Tenant)
	if err != nil {
		return nil, nil, err
	}
	inner, err := c.scale.PlanResources(ctx, scale.Resources{Namespace: t.Namespace, Release: t.Release.Name,
		Requests: r.Requests, Limits: r.Limits, ValuePath: r.ValuePath, Chart: r.Chart})
	if err != nil {
		return nil, nil, err
	}
	return wrap(OpResources, t, r, inner)
}

func (c *Client) deriveResources(ctx context.Context, spec *wrappedSpec[Resources]) (*scaling.Plan, *wrappedSpec[Resources], error) {
	return c.planResources(ctx, spec.Request)
}

func (c *Client) applyResources(ctx context.Context, plan *scaling.Plan, spec *wrappedSpec[Resources]) (*scaling.Applied, error) {
	return applyWrapped(ctx, c.scale, plan, spec.Inner)
}

func (c *Client) verifyResources(ctx context.Context, plan *scaling.Plan, spec *wrappedSpec[Resources]) (*scaling.Verification, error) {
	return verifyWrapped(ctx, c.scale, plan, spec.Inner)
}
