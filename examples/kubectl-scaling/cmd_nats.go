package main

import (
	"github.com/spf13/cobra"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/nats"
)

// natsCommand groups the NATS JetStream runbook: scale the cluster, grow
// its volumes, read its state. Every one of them talks to the cluster's
// system account (--nats-url and credentials) as well as to Kubernetes.
func natsCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nats",
		Short: "Scale a NATS JetStream cluster and its storage without losing quorum or data",
	}
	s.opts.nats.add(cmd.PersistentFlags())
	cmd.AddCommand(natsScaleCommand(s), natsExpandStorageCommand(s), natsReportCommand(s))
	return cmd
}

// natsTarget are the flags that say where a release's NATS servers are.
func natsTarget(cmd *cobra.Command, prefix *string, standalone *bool, statefulSet *string) {
	f := cmd.Flags()
	f.StringVar(prefix, "value-prefix", "", "chart value prefix of the NATS subchart (default nats)")
	f.BoolVar(standalone, "standalone", false, "the release is the official NATS chart itself, not a subchart")
	f.StringVar(statefulSet, "statefulset", "", "the NATS StatefulSet's name (default: found from the release)")
}

func natsScaleCommand(s *session) *cobra.Command {
	var r nats.ScaleCluster
	cmd := &cobra.Command{
		Use:   "scale RELEASE SERVERS",
		Short: "Change the number of NATS servers: peer-remove before scale-down, streams moved or lowered first",
		Example: `  kubectl scaling nats scale ironflow 3 --lower-stream-replicas --nats-url nats://nats:4222
  kubectl scaling nats scale ironflow 5 --raise-stream-replicas 5`,
		Args: args(2, 2, "RELEASE SERVERS"),
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := parseCount("SERVERS", a[1])
			if err != nil {
				return err
			}
			r.Namespace, r.Release, r.Replicas = s.namespace(), a[0], int(n)
			return planWith(s, cmd, s.nats, func(c *nats.Client) (*scaling.Plan, error) { return c.PlanScaleCluster(cmd.Context(), r) })
		},
	}
	natsTarget(cmd, &r.ValuePrefix, &r.Standalone, &r.StatefulSet)
	f := cmd.Flags()
	f.BoolVar(&r.LowerStreamReplicas, "lower-stream-replicas", false, "lower streams with more replicas than the new size to it (instead of refusing)")
	f.BoolVar(&r.Evacuate, "evacuate", false, "move stream replicas off the leaving servers before they go")
	f.BoolVar(&r.DisableClustering, "disable-clustering", false, "allow going to one server, which turns clustering off")
	f.IntVar(&r.RaiseStreamReplicas, "raise-stream-replicas", 0, "after a scale-up, raise streams to this many replicas")
	return s.completeRelease(planFlags(cmd, s.opts))
}

func natsExpandStorageCommand(s *session) *cobra.Command {
	var r nats.ExpandStorage
	cmd := &cobra.Command{
		Use:   "expand-storage RELEASE SIZE",
		Short: "Grow the NATS servers' JetStream volumes (in place where the StorageClass allows)",
		Args:  args(2, 2, "RELEASE SIZE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Namespace, r.Release, r.Size = s.namespace(), a[0], a[1]
			return planWith(s, cmd, s.nats, func(c *nats.Client) (*scaling.Plan, error) { return c.PlanExpandStorage(cmd.Context(), r) })
		},
	}
	natsTarget(cmd, &r.ValuePrefix, &r.Standalone, &r.StatefulSet)
	cmd.Flags().BoolVar(&r.AcceptDataLoss, "accept-data-loss", false, "allow recreating volumes that cannot grow in place (their data is lost)")
	return s.completeRelease(planFlags(cmd, s.opts))
}

func natsReportCommand(s *session) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "Show the NATS cluster: servers, meta leader, streams and their replicas, storage use (reads only)",
		Args:  args(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			defer s.close()
			c, err := s.nats(cmd.Context())
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
