package main

import (
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nodes"
)

// nodesCommand groups the worker-node runbook: why pods are pending,
// draining a node safely, and adding or destroying workers with Terraform.
func nodesCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "Diagnose capacity, drain nodes safely, add or destroy Terraform-managed workers",
	}
	s.terraformFlag(cmd.PersistentFlags())
	cmd.AddCommand(nodesDiagnoseCommand(s), nodesDrainCommand(s), nodesAddWorkerCommand(s), nodesDestroyCommand(s))
	return cmd
}

// terraformFlag is --terraform, of the nodes commands and of apply/verify
// (for a nodes plan).
func (s *session) terraformFlag(fs *pflag.FlagSet) {
	fs.StringVar(&s.terraform, "terraform", "", "terraform or tofu binary (default: tofu, then terraform, on PATH)")
}

func nodesDiagnoseCommand(s *session) *cobra.Command {
	var r nodes.Diagnose
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Say why pods are pending and how many workers of which server type would fit them (reads only)",
		Args:  args(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := s.nodes(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.Diagnose(cmd.Context(), r)
			if err != nil {
				return err
			}
			return s.print(d)
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.Namespace, "pods-namespace", "", "only pending pods in this namespace (default: all)")
	f.StringVar(&r.Selector, "selector", "", "only pending pods with these labels")
	f.StringVar(&r.ServerType, "server-type", "", "size the recommendation in this Hetzner server type (default: the workers')")
	f.StringVar(&r.NodeSelector, "node-selector", "", "the worker pool's nodes (default: all)")
	return cmd
}

func nodesDrainCommand(s *session) *cobra.Command {
	var r nodes.Drain
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Drain a node: switch PostgreSQL primaries and NATS leaders away first, respect disruption budgets",
		Args:  args(1, 1, "NODE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Node = a[0]
			return planWith(s, cmd, s.nodes, func(c *nodes.Client) (*scaling.Plan, error) { return c.PlanDrain(cmd.Context(), r) })
		},
	}
	cmd.Flags().BoolVar(&r.AcceptDowntime, "accept-downtime", false, "drain even when a workload on the node has no other replica")
	cmd.Flags().Int64Var(&r.MaxLagBytes, "max-lag-bytes", 0, "a primary's switchover target may lag at most this (default 16 MiB)")
	return planFlags(cmd, s.opts)
}

func nodesAddWorkerCommand(s *session) *cobra.Command {
	var r nodes.AddWorker
	cmd := &cobra.Command{
		Use:   "add-worker DIR COUNT",
		Short: "Raise worker_count in DIR's terraform.tfvars, run terraform plan and apply, and wait for the nodes and pending pods",
		Example: `  kubectl scaling nodes add-worker deploy/terraform/hetzner 4 --out workers.json
  kubectl scaling apply workers.json`,
		Args: args(2, 2, "DIR COUNT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := strconv.Atoi(a[1])
			if err != nil {
				return &scaling.InvalidInputError{Field: "COUNT", Value: a[1], Reason: "must be a whole number"}
			}
			r.Dir, r.Count = a[0], n
			return planWith(s, cmd, s.nodes, func(c *nodes.Client) (*scaling.Plan, error) { return c.PlanAddWorker(cmd.Context(), r) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.TFVars, "tfvars", "", "variables file in DIR (default "+nodes.DefaultTFVars+")")
	f.StringVar(&r.Type, "type", "", "server type of the workers (changing it replaces them)")
	f.BoolVar(&r.Note, "note", false, `append "# was OLD" to each line it edits`)
	f.BoolVar(&r.AcceptReplacement, "accept-replacement", false, "go ahead when the plan replaces existing workers")
	f.StringVar(&r.NodeSelector, "node-selector", "", "the worker pool's nodes, for the verification")
	_ = cmd.MarkFlagDirname("tfvars")
	return planFlags(cmd, s.opts)
}

func nodesDestroyCommand(s *session) *cobra.Command {
	var r nodes.Destroy
	cmd := &cobra.Command{
		Use:   "destroy DIR",
		Short: "terraform destroy DIR's infrastructure, only once every PostgreSQL cluster's backups are confirmed",
		Args:  args(1, 1, "DIR"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Dir = a[0]
			return planWith(s, cmd, s.nodes, func(c *nodes.Client) (*scaling.Plan, error) { return c.PlanDestroy(cmd.Context(), r) })
		},
	}
	cmd.Flags().BoolVar(&r.ConfirmBackups, "confirm-backups", false, "confirm the PostgreSQL backups listed in the plan are restorable")
	return planFlags(cmd, s.opts)
}
