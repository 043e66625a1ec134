package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ironflow/scaling"
)

// routerFlags are what applying or verifying a saved plan of any package
// may need besides kubectl's flags: how to reach NATS, which terraform
// binary to run, how tenants are named.
func routerFlags(cmd *cobra.Command, s *session) {
	f := cmd.Flags()
	s.opts.nats.add(f)
	s.terraformFlag(f)
	s.tenantFlags(f)
}

// routed loads a saved plan and the router of its package's operation.
func (s *session) routed(ctx context.Context, path string) (*scaling.Plan, *scaling.Router, error) {
	plan, err := load(path)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.router(ctx, plan)
	return plan, r, err
}

func applyCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apply PLAN",
		Short: "Apply exactly the saved plan (any operation's), refusing if live state changed since, then verify it",
		Long: `apply applies a plan saved with --out, through the operation that made it.

The plan is re-checked first: its request is validated again, live state is
read again and every guard is evaluated again. If anything differs from what
the plan shows, nothing is written and the exit code is 3: plan again. An
already-applied plan changes nothing and still verifies.`,
		Example: `  kubectl scaling replicas ironflow 5 --out scale.json
  kubectl scaling show scale.json        # review, approve
  kubectl scaling apply scale.json --auto-approve`,
		Args: args(1, 1, "PLAN"),
		RunE: func(cmd *cobra.Command, a []string) error {
			defer s.close()
			plan, r, err := s.routed(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if s.opts.output == "text" {
				if err := s.print(plan); err != nil {
					return err
				}
			}
			return s.approveApplyVerify(cmd.Context(), r, plan)
		},
	}
	routerFlags(cmd, s)
	_ = cmd.MarkFlagFilename("PLAN", "json")
	return approveFlag(cmd, s.opts)
}

func verifyCommand(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify PLAN",
		Short: "Watch until the saved plan's outcome holds (exit 0) or fails or times out (exit 4)",
		Args:  args(1, 1, "PLAN"),
		RunE: func(cmd *cobra.Command, a []string) error {
			defer s.close()
			plan, r, err := s.routed(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			v, err := s.verifyWithDisplay(cmd.Context(), r, plan)
			if err != nil {
				return err
			}
			if s.opts.output != "text" {
				if err := s.print(v); err != nil {
					return err
				}
			}
			return verificationError(v)
		},
	}
	routerFlags(cmd, s)
	return cmd
}

func showCommand(s *session) *cobra.Command {
	return &cobra.Command{
		Use:   "show PLAN",
		Short: "Print a saved plan (text, or -o json|yaml) without contacting the cluster",
		Args:  args(1, 1, "PLAN"),
		RunE: func(cmd *cobra.Command, a []string) error {
			plan, err := load(a[0])
			if err != nil {
				return err
			}
			return s.print(plan)
		},
	}
}
