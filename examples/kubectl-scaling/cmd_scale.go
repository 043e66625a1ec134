package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/scale"
)

// scaleCommands are the service's runbook steps, at the top level as the
// runbook says them: replicas, down, autoscale, template, ...
func scaleCommands(s *session) []*cobra.Command {
	return []*cobra.Command{
		replicasCommand(s), downCommand(s), autoscaleCommand(s), templateCommand(s),
		resourcesCommand(s), rolloutRestartCommand(s), recommendCommand(s),
	}
}

func replicasCommand(s *session) *cobra.Command {
	var r scale.Replicas
	cmd := &cobra.Command{
		Use:   "replicas (RELEASE | deployment/NAME | statefulset/NAME) COUNT",
		Short: "Set a release's (or a workload's) replica count, guarded against the HPA, clustering and quotas",
		Example: `  kubectl scaling replicas ironflow 5 -n prod
  kubectl scaling replicas ironflow 5 --out scale.json && kubectl scaling apply scale.json`,
		Args: args(2, 2, "RELEASE COUNT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ns := s.namespace()
			ref, isWorkload, err := parseWorkload(a[0], ns)
			if err != nil {
				return err
			}
			if isWorkload {
				r.Workload = &ref
			} else {
				r.Release = a[0]
			}
			if r.Replicas, err = parseCount("COUNT", a[1]); err != nil {
				return err
			}
			r.Namespace = ns
			return planWith(s, cmd, s.scale, func(c *scale.Client) (*scaling.Plan, error) { return c.PlanReplicas(cmd.Context(), r) })
		},
	}
	cmd.Flags().StringVar(&r.ValuePath, "value-path", "", "chart value of the replica count (default "+scale.DefaultReplicasPath+")")
	cmd.Flags().StringVar(&r.ClusteringPath, "clustering-path", "", "chart value that turns clustering on (default: the chart's)")
	return s.completeRelease(planFlags(cmd, s.opts))
}

func downCommand(s *session) *cobra.Command {
	var d scale.Down
	var replicas int32
	cmd := &cobra.Command{
		Use:   "down RELEASE",
		Short: "Scale a release down for off-hours: the replica count and the HPA minimum together",
		Args:  args(1, 1, "RELEASE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			d.Namespace, d.Release = s.namespace(), a[0]
			if cmd.Flags().Changed("replicas") {
				d.Replicas = &replicas
			}
			return planWith(s, cmd, s.scale, func(c *scale.Client) (*scaling.Plan, error) { return c.PlanDown(cmd.Context(), d) })
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", 1, "replicas to keep")
	return s.completeRelease(planFlags(cmd, s.opts))
}

func autoscaleCommand(s *session) *cobra.Command {
	var a scale.Autoscale
	cmd := &cobra.Command{
		Use:   "autoscale RELEASE --min N --max N",
		Short: "Turn on (or change) a release's HPA through its chart values",
		Args:  args(1, 1, "RELEASE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.Namespace, a.Release = s.namespace(), args[0]
			return planWith(s, cmd, s.scale, func(c *scale.Client) (*scaling.Plan, error) { return c.PlanAutoscale(cmd.Context(), a) })
		},
	}
	f := cmd.Flags()
	f.Int32Var(&a.MinReplicas, "min", 0, "HPA minReplicas")
	f.Int32Var(&a.MaxReplicas, "max", 0, "HPA maxReplicas")
	f.Int32Var(&a.TargetCPUUtilization, "cpu", 0, "target CPU utilisation in percent (0: keep the chart's)")
	f.Int32Var(&a.TargetMemoryUtilization, "memory", 0, "target memory utilisation in percent (0: keep the chart's)")
	_ = cmd.MarkFlagRequired("min")
	_ = cmd.MarkFlagRequired("max")
	return s.completeRelease(planFlags(cmd, s.opts))
}

func templateCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "template RELEASE (small | medium | large | xl | enterprise)",
		Short: "Move a release to one of the runbook's size templates (replicas, HPA, resources, NATS and PostgreSQL sizes)",
		Args:  args(2, 2, "RELEASE TIER"),
		RunE: func(cmd *cobra.Command, a []string) error {
			tier, ok := scale.TierNamed(a[1])
			if !ok {
				return &scaling.InvalidInputError{Field: "template", Value: a[1], Reason: "must be one of " + strings.Join(tierNames(), ", ")}
			}
			t := scale.Template{Namespace: s.namespace(), Release: a[0], To: tier.Preset}
			return planWith(s, cmd, s.scale, func(c *scale.Client) (*scaling.Plan, error) { return c.PlanTemplate(cmd.Context(), t) })
		},
	}
	return s.completeRelease(planFlags(cmd, s.opts), tierNames()...)
}

func resourcesCommand(s *session) *cobra.Command {
	var requests, limits []string
	var valuePath string
	cmd := &cobra.Command{
		Use:     "resources RELEASE [--requests cpu=500m,memory=1Gi] [--limits ...]",
		Short:   "Change a release's container requests and limits, checked against the namespace's quota",
		Example: `  kubectl scaling resources ironflow --requests cpu=1,memory=2Gi --limits memory=2Gi`,
		Args:    args(1, 1, "RELEASE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r := scale.Resources{Namespace: s.namespace(), Release: a[0], ValuePath: valuePath}
			var err error
			if r.Requests, err = parseResources("--requests", requests); err != nil {
				return err
			}
			if r.Limits, err = parseResources("--limits", limits); err != nil {
				return err
			}
			return planWith(s, cmd, s.scale, func(c *scale.Client) (*scaling.Plan, error) { return c.PlanResources(cmd.Context(), r) })
		},
	}
	cmd.Flags().StringSliceVar(&requests, "requests", nil, "requests as NAME=QUANTITY pairs")
	cmd.Flags().StringSliceVar(&limits, "limits", nil, "limits as NAME=QUANTITY pairs")
	cmd.Flags().StringVar(&valuePath, "value-path", "", "chart value of the resources (default "+scale.DefaultResourcesPath+")")
	return s.completeRelease(planFlags(cmd, s.opts))
}

func rolloutRestartCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout-restart (deployment/NAME | statefulset/NAME)",
		Short: "Restart a workload's pods as kubectl rollout restart does, then watch the rollout finish",
		Args:  args(1, 1, "deployment/NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ref, ok, err := parseWorkload(a[0], s.namespace())
			if err != nil {
				return err
			}
			if !ok {
				return &scaling.InvalidInputError{Field: "workload", Value: a[0], Reason: "must be deployment/NAME or statefulset/NAME"}
			}
			r := scale.RolloutRestart{Workload: ref}
			return planWith(s, cmd, s.scale, func(c *scale.Client) (*scaling.Plan, error) { return c.PlanRolloutRestart(cmd.Context(), r) })
		},
	}
	return planFlags(cmd, s.opts)
}

func recommendCommand(s *session) *cobra.Command {
	var r scale.Recommend
	cmd := &cobra.Command{
		Use:   "recommend RELEASE",
		Short: "Read the release's load and say which size template fits (reads only)",
		Args:  args(1, 1, "RELEASE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			r.Namespace, r.Release = s.namespace(), a[0]
			c, err := s.scale(cmd.Context())
			if err != nil {
				return err
			}
			rec, err := c.Recommend(cmd.Context(), r)
			if err != nil {
				return err
			}
			return s.print(rec)
		},
	}
	cmd.Flags().DurationVar(&r.Window, "window", 0, "how long to sample the metrics (0: one reading)")
	cmd.Flags().Int64Var(&r.Connections, "connections", 0, "concurrent connections the service holds (from your dashboards), for the connection signal")
	return s.completeRelease(cmd)
}

func tierNames() []string {
	var names []string
	for _, t := range scale.Tiers() {
		names = append(names, t.Short())
	}
	return names
}
