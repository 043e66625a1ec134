package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/tenants"
)

// tenantsCommand groups the per-tenant runbook: quotas, the tenant's
// resources, its volumes, and a report of usage against limits.
func tenantsCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tenants",
		Aliases: []string{"tenant"},
		Short:   "Change tenants' quotas, resources and volumes, never below what they use",
	}
	pf := cmd.PersistentFlags()
	s.tenantFlags(pf)
	s.opts.nats.add(pf)
	cmd.AddCommand(tenantsQuotaCommand(s), tenantsResourcesCommand(s), tenantsStorageCommand(s), tenantsReportCommand(s))
	return cmd
}

// tenantFlags say how tenants are named, for the tenants commands and for
// apply/verify of a tenants plan.
func (s *session) tenantFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.tenantOpts.NamespacePrefix, "tenant-prefix", "", `a tenant's namespace is this prefix and its name (default "tenant-")`)
	fs.StringVar(&s.tenantOpts.TenantLabel, "tenant-label", "", `label a tenant's namespace carries (default "ironflow.io/tenant")`)
}

func tenantsQuotaCommand(s *session) *cobra.Command {
	var valuePath string
	cmd := &cobra.Command{
		Use:     "quota TENANT NAME=QUANTITY ...",
		Short:   "Set a tenant's ResourceQuota through its release, refusing a limit below what it uses",
		Example: `  kubectl scaling tenants quota acme requests.cpu=8 requests.memory=16Gi pods=40`,
		Args:    args(2, 64, "TENANT NAME=QUANTITY ..."),
		RunE: func(cmd *cobra.Command, a []string) error {
			hard, err := parseResources("quota", a[1:])
			if err != nil {
				return err
			}
			r := tenants.UpdateQuota{Tenant: a[0], Hard: hard, ValuePath: valuePath}
			return planWith(s, cmd, s.tenants, func(c *tenants.Client) (*scaling.Plan, error) { return c.PlanUpdateQuota(cmd.Context(), r) })
		},
	}
	cmd.Flags().StringVar(&valuePath, "value-path", "", "chart value of the quota (default "+tenants.DefaultHardPath+")")
	return planFlags(cmd, s.opts)
}

func tenantsResourcesCommand(s *session) *cobra.Command {
	var requests, limits []string
	cmd := &cobra.Command{
		Use:   "resources TENANT [--requests ...] [--limits ...]",
		Short: "Change a tenant's container requests and limits, checked against its quota",
		Args:  args(1, 1, "TENANT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r := tenants.Resources{Tenant: a[0]}
			var err error
			if r.Requests, err = parseResources("--requests", requests); err != nil {
				return err
			}
			if r.Limits, err = parseResources("--limits", limits); err != nil {
				return err
			}
			return planWith(s, cmd, s.tenants, func(c *tenants.Client) (*scaling.Plan, error) { return c.PlanResources(cmd.Context(), r) })
		},
	}
	cmd.Flags().StringSliceVar(&requests, "requests", nil, "requests as NAME=QUANTITY pairs")
	cmd.Flags().StringSliceVar(&limits, "limits", nil, "limits as NAME=QUANTITY pairs")
	return planFlags(cmd, s.opts)
}

func tenantsStorageCommand(s *session) *cobra.Command {
	var acceptDataLoss bool
	cmd := &cobra.Command{
		Use:       "storage TENANT (postgresql | nats) SIZE",
		Short:     "Grow a tenant's PostgreSQL or NATS volumes",
		Args:      args(3, 3, "TENANT postgresql|nats SIZE"),
		ValidArgs: []string{string(tenants.PostgreSQL), string(tenants.NATS)},
		RunE: func(cmd *cobra.Command, a []string) error {
			r := tenants.Storage{Tenant: a[0], Volume: tenants.Volume(a[1]), Size: a[2], AcceptDataLoss: acceptDataLoss}
			return planWith(s, cmd, s.tenants, func(c *tenants.Client) (*scaling.Plan, error) { return c.PlanStorage(cmd.Context(), r) })
		},
	}
	cmd.Flags().BoolVar(&acceptDataLoss, "accept-data-loss", false, "NATS only: allow recreating volumes that cannot grow in place")
	return planFlags(cmd, s.opts)
}

func tenantsReportCommand(s *session) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "Show every tenant's usage against its quota, with the limits it is near (reads only)",
		Args:  args(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := s.tenants(cmd.Context())
			if err != nil {
				return err
			}
			r, err := c.Report(cmd.Context())
			if err != nil {
				return err
			}
			return s.print(r)
		},
	}
}
