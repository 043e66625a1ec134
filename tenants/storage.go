package tenants

import (
	"context"
	"fmt"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
	"github.com/ironflow/scaling/postgres"
)

// OpStorage is the Plan.Operation of a tenant's Storage plans.
const OpStorage = "tenants.Storage"

// Volume names which of a tenant's volumes Storage grows.
type Volume string

// The volumes of a tenant's release.
const (
	// PostgreSQL is the CloudNativePG cluster's instance volumes
	// (postgresql.persistence.size), grown by postgres.ExpandStorage.
	PostgreSQL Volume = "postgresql"
	// NATS is the JetStream file store of each NATS server
	// (nats.config.jetstream.fileStore.pvc.size), grown by
	// nats.ExpandStorage.
	NATS Volume = "nats"
)

// Storage grows one volume of a tenant's release (the runbook's `--set
// postgresql.persistence.size=20Gi` on the tenant's release) with the
// postgres or nats storage operation, whose guards are the tenant's: the
// growth within the tenant's requests.storage quota (and the per-class
// quota and claim LimitRanges of its namespace), a StorageClass that
// expands in place, never a shrink. The tenant's ownership guards come
// first.
type Storage struct {
	Tenant string `json:"tenant"`
	Volume Volume `json:"volume"`
	// Size is the new size of each volume, e.g. "20Gi".
	Size string `json:"size"`
	// AcceptDataLoss is nats.ExpandStorage's: on a class that cannot
	// expand, each server's volume is replaced and resynced from its peers.
	AcceptDataLoss bool `json:"acceptDataLoss,omitempty"`
	// Chart is the chart source of the upgrade; zero means Options.Chart.
	Chart scaling.ChartSource `json:"chart,omitzero"`
}

// PlanStorage resolves the tenant and plans the volume's growth on its
// release with the volume's package. An invalid request is a
// *scaling.InvalidInputError before any request (a NATS volume also needs
// Options.NATS, a PostgreSQL one a cluster with a dynamic client); a
// missing namespace or release a *scaling.NotFoundError; the inner
// operation's own errors are its package's. A plan that a guard blocks is
// returned, so its reasons can be shown.
func (c *Client) PlanStorage(ctx context.Context, r Storage) (*scaling.Plan, error) {
	plan, _, err := c.planStorage(ctx, r)
	return plan, err
}

func (c *Client) planStorage(ctx context.Context, r Storage) (*scaling.Plan, *wrappedSpec[Storage], error) {
	if err := c.validTenant("Storage.Tenant", r.Tenant); err != nil {
		return nil, nil, err
	}
	if r.Volume != PostgreSQL && r.Volume != NATS {
		return nil, nil, &scaling.InvalidInputError{Field: "Storage.Volume", Value: r.Volume, Reason: `must be "postgresql" or "nats"`}
	}
	inner, err := c.storageOperator(r)
	if err != nil {
		return nil, nil, err
	}
	t, err := c.tenant(ctx, r.Tenant)
	if err != nil {
		return nil, nil, err
	}
	var plan *scaling.Plan
	switch op := inner.(type) {
	case *postgres.Client:
		plan, err = op.PlanExpandStorage(ctx, postgres.ExpandStorage{Namespace: t.Namespace, Release: t.Release.Name, Size: r.Size, Chart: r.Chart})
	case *nats.Client:
		plan, err = op.PlanExpandStorage(ctx, nats.ExpandStorage{Namespace: t.Namespace, Release: t.Release.Name, Size: r.Size, AcceptDataLoss: r.AcceptDataLoss, Chart: r.Chart})
	}
	if err != nil {
		return nil, nil, err
	}
	return wrap(OpStorage, t, r, plan)
}

// storageOperator is the client of the volume's package.
func (c *Client) storageOperator(r Storage) (scaling.Operator, error) {
	if r.Volume == PostgreSQL {
		if c.postgres == nil {
			return nil, &scaling.InvalidInputError{Field: "Storage.Volume", Value: r.Volume, Reason: "the cluster has no dynamic client: CloudNativePG's Cluster is read through it"}
		}
		return c.postgres, nil
	}
	if c.opts.NATS == nil {
		return nil, &scaling.InvalidInputError{Field: "Options.NATS", Value: nil, Reason: "a NATS volume needs the tenant's NATS client"}
	}
	n, err := c.opts.NATS(r.Tenant)
	if err != nil {
		return nil, fmt.Errorf("the NATS client of tenant %s: %w", r.Tenant, err)
	}
	if n == nil {
		return nil, &scaling.InvalidInputError{Field: "Options.NATS", Value: r.Tenant, Reason: "returned no client for the tenant"}
	}
	return n, nil
}

func (c *Client) deriveStorage(ctx context.Context, spec *wrappedSpec[Storage]) (*scaling.Plan, *wrappedSpec[Storage], error) {
	return c.planStorage(ctx, spec.Request)
}

func (c *Client) applyStorage(ctx context.Context, plan *scaling.Plan, spec *wrappedSpec[Storage]) (*scaling.Applied, error) {
	op, err := c.storageOperator(spec.Request)
	if err != nil {
		return nil, err
	}
	return applyWrapped(ctx, op, plan, spec.Inner)
}

func (c *Client) verifyStorage(ctx context.Context, plan *scaling.Plan, spec *wrappedSpec[Storage]) (*scaling.Verification, error) {
	op, err := c.storageOperator(spec.Request)
	if err != nil {
		return nil, err
	}
	return verifyWrapped(ctx, op, plan, spec.Inner)
}
