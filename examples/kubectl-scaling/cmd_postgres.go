package main

import (
	"github.com/spf13/cobra"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/postgres"
)

// postgresCommand groups the CloudNativePG runbook.
func postgresCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "postgres",
		Aliases: []string{"pg"},
		Short:   "Switch over, scale, grow and tune CloudNativePG clusters and their PgBouncer poolers",
	}
	cmd.AddCommand(pgSwitchoverCommand(s), pgInstancesCommand(s), pgExpandStorageCommand(s), pgPoolerCommand(s), pgParametersCommand(s))
	return cmd
}

// pgTarget are the flags that say where a release's PostgreSQL values are.
func pgTarget(cmd *cobra.Command, prefix *string, standalone *bool) {
	cmd.Flags().StringVar(prefix, "value-prefix", "", "chart value prefix of the cluster (default "+postgres.DefaultValuePrefix+")")
	cmd.Flags().BoolVar(standalone, "standalone", false, "the release is the official cnpg cluster chart itself")
}

func pgSwitchoverCommand(s *session) *cobra.Command {
	var r postgres.Switchover
	cmd := &cobra.Command{
		Use:   "switchover CLUSTER [INSTANCE]",
		Short: "Promote a replica (the least lagging one, or INSTANCE), refusing a lagging or unready target",
		Example: `  kubectl scaling postgres switchover app-db
  kubectl scaling postgres switchover app-db app-db-2 --pause-pooler`,
		Args: args(1, 2, "CLUSTER [INSTANCE]"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Namespace, r.Cluster = s.namespace(), a[0]
			if len(a) == 2 {
				r.Target = a[1]
			}
			return planWith(s, cmd, s.postgres, func(c *postgres.Client) (*scaling.Plan, error) { return c.PlanSwitchover(cmd.Context(), r) })
		},
	}
	cmd.Flags().Int64Var(&r.MaxLagBytes, "max-lag-bytes", 0, "refuse a target further behind than this (default 16 MiB)")
	cmd.Flags().BoolVar(&r.PausePooler, "pause-pooler", false, "pause the PgBouncer poolers during the promotion, so clients wait instead of failing")
	return planFlags(cmd, s.opts)
}

func pgInstancesCommand(s *session) *cobra.Command {
	var r postgres.ScaleInstances
	cmd := &cobra.Command{
		Use:   "instances RELEASE COUNT",
		Short: "Change the number of PostgreSQL instances (never removing the primary, never below the connection budget)",
		Args:  args(2, 2, "RELEASE COUNT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := parseCount("COUNT", a[1])
			if err != nil {
				return err
			}
			r.Namespace, r.Release, r.Instances = s.namespace(), a[0], n
			return planWith(s, cmd, s.postgres, func(c *postgres.Client) (*scaling.Plan, error) { return c.PlanScaleInstances(cmd.Context(), r) })
		},
	}
	pgTarget(cmd, &r.ValuePrefix, &r.Standalone)
	return s.completeRelease(planFlags(cmd, s.opts))
}

func pgExpandStorageCommand(s *session) *cobra.Command {
	var r postgres.ExpandStorage
	cmd := &cobra.Command{
		Use:   "expand-storage RELEASE SIZE",
		Short: "Grow the PostgreSQL volumes in place",
		Args:  args(2, 2, "RELEASE SIZE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Namespace, r.Release, r.Size = s.namespace(), a[0], a[1]
			return planWith(s, cmd, s.postgres, func(c *postgres.Client) (*scaling.Plan, error) { return c.PlanExpandStorage(cmd.Context(), r) })
		},
	}
	pgTarget(cmd, &r.ValuePrefix, &r.Standalone)
	return s.completeRelease(planFlags(cmd, s.opts))
}

func pgPoolerCommand(s *session) *cobra.Command {
	var r postgres.ConfigurePooler
	cmd := &cobra.Command{
		Use:   "pooler RELEASE",
		Short: "Configure the PgBouncer pooler (instances, pool mode, pool sizes) within PostgreSQL's connection budget",
		Args:  args(1, 1, "RELEASE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Namespace, r.Release = s.namespace(), a[0]
			return planWith(s, cmd, s.postgres, func(c *postgres.Client) (*scaling.Plan, error) { return c.PlanConfigurePooler(cmd.Context(), r) })
		},
	}
	f := cmd.Flags()
	f.Int32Var(&r.Instances, "instances", 0, "PgBouncer instances (0: keep)")
	f.StringVar(&r.Type, "type", "", "pooler type: rw (in front of the primary), ro or r (empty: keep)")
	f.StringVar(&r.PoolMode, "pool-mode", "", "session or transaction (empty: keep)")
	f.Int64Var(&r.MaxClientConn, "max-client-conn", 0, "PgBouncer max_client_conn (0: keep)")
	f.Int64Var(&r.DefaultPoolSize, "default-pool-size", 0, "PgBouncer default_pool_size (0: keep)")
	f.IntVar(&r.Pairs, "pairs", 0, "database/user pairs the pool serves, for the budget (default 1)")
	f.Int64Var(&r.Others, "others", 0, "connections to PostgreSQL from outside the pooler, for the budget")
	f.IntVar(&r.MaxConnections, "max-connections", 0, "PostgreSQL max_connections (0: the cluster's, else 100)")
	f.StringVar(&r.PoolSizePath, "pool-size-path", "", "chart value of the service's own pool size (default "+postgres.DefaultPoolSizePath+")")
	pgTarget(cmd, &r.ValuePrefix, &r.Standalone)
	return s.completeRelease(planFlags(cmd, s.opts))
}

func pgParametersCommand(s *session) *cobra.Command {
	var r postgres.Parameters
	cmd := &cobra.Command{
		Use:     "parameters RELEASE [NAME=VALUE ...]",
		Short:   "Change PostgreSQL parameters, saying which need a restart; or size max_connections to the pooler",
		Example: `  kubectl scaling postgres parameters ironflow work_mem=16MB max_connections=200`,
		Args:    args(1, 64, "RELEASE [NAME=VALUE ...]"),
		RunE: func(cmd *cobra.Command, a []string) error {
			set, err := parseSettings("parameter", a[1:])
			if err != nil {
				return err
			}
			r.Namespace, r.Release, r.Set = s.namespace(), a[0], set
			return planWith(s, cmd, s.postgres, func(c *postgres.Client) (*scaling.Plan, error) { return c.PlanParameters(cmd.Context(), r) })
		},
	}
	cmd.Flags().BoolVar(&r.RecommendMaxConnections, "recommend-max-connections", false, "set max_connections to what the pooler and the other clients need")
	cmd.Flags().Int64Var(&r.Others, "others", 0, "connections from outside the pooler, for the recommendation")
	pgTarget(cmd, &r.ValuePrefix, &r.Standalone)
	return s.completeRelease(planFlags(cmd, s.opts))
}
