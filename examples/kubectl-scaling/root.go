package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/ironflow/scaling"
)

// The exit codes a script branches on (documented in the package comment
// and the README).
const (
	exitOK       = 0
	exitFailed   = 1
	exitBlocked  = 2
	exitStale    = 3
	exitVerify   = 4
	exitCanceled = exitFailed
)

// streams are the program's standard streams, swapped for buffers and
// pipes in tests.
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// exitError carries the exit code an error maps to, for errors the
// workflow classifies itself (a plan blocked while planning, a verification
// that did not succeed), which are not errors of the SDK.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errShown is an exitError whose message the workflow already printed in
// full (a blocked plan's guards, a failed verification).
var errShown = errors.New("shown")

// exitCode maps an error to the documented exit code: the SDK's sentinels
// say which class a failure is, so the mapping never parses messages.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, scaling.ErrGuardBlocked):
		return exitBlocked
	case errors.Is(err, scaling.ErrStalePlan), errors.Is(err, scaling.ErrPlanMismatch):
		// Both mean "what was approved is no longer what would run":
		// the answer to either is a new plan.
		return exitStale
	default:
		return exitFailed
	}
}

// run is main without the process: it parses args, runs the command and
// returns the exit code, printing errors to ErrOut.
func run(ctx context.Context, args []string, s streams) int {
	root := newRoot(s)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	err := root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errShown) {
		printError(s.ErrOut, err)
	}
	return exitCode(err)
}

// printError prints an error with the advice the SDK's typed errors carry:
// a guard's remedy, a stale plan's drift.
func printError(w io.Writer, err error) {
	var blocked *scaling.GuardBlockedError
	var stale *scaling.StalePlanError
	switch {
	case errors.As(err, &blocked):
		fmt.Fprintf(w, "Error: %s is blocked by %d guard(s); nothing was changed.\n", blocked.Operation, len(blocked.Guards))
		printGuards(w, blocked.Guards)
	case errors.As(err, &stale):
		fmt.Fprintf(w, "Error: the plan is stale; nothing was changed. Live state changed since it was made:\n")
		for _, d := range stale.Drift {
			live := d.Live
			if live == "" {
				live = "(gone)"
			}
			fmt.Fprintf(w, "  %s: planned %s, live %s\n", d.Key, d.Planned, live)
		}
		fmt.Fprintln(w, "Plan again, review the new plan, and apply that one.")
	default:
		fmt.Fprintf(w, "Error: %v\n", err)
	}
}

func printGuards(w io.Writer, guards []scaling.GuardResult) {
	for _, g := range guards {
		fmt.Fprintf(w, "  [%s] %s: %s\n", g.Outcome, g.Name, g.Reason)
		if g.Remedy != "" {
			fmt.Fprintf(w, "         -> %s\n", asFlags(g.Remedy))
		}
	}
}

// requestFields are the SDK request fields a guard's advice names, and the
// flags that set them here: "set DisableClustering" reads "set
// --disable-clustering" to someone at a shell.
var requestFields = regexp.MustCompile(`\b(DisableClustering|LowerStreamReplicas|Evacuate|RaiseStreamReplicas|AcceptDataLoss|AcceptDowntime|AcceptReplacement|ConfirmBackups|PausePooler|RecommendMaxConnections)\b`)

// asFlags rewrites the request fields in a text for people into the
// plugin's flags.
func asFlags(text string) string {
	return requestFields.ReplaceAllStringFunc(text, func(field string) string {
		var b strings.Builder
		b.WriteString("--")
		for i, r := range field {
			if unicode.IsUpper(r) && i > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
		}
		return b.String()
	})
}

// options are the flags every command shares besides kubectl's.
type options struct {
	output      string
	out         string
	autoApprove bool
	quiet       bool
	timeout     time.Duration
	chart       scaling.ChartSource
	nats        natsFlags
}

func newRoot(s streams) *cobra.Command {
	kube := genericclioptions.NewConfigFlags(true)
	o := &options{}
	root := &cobra.Command{
		Use:   "kubectl-scaling",
		Short: "The scaling runbook as planned, guarded, verified operations",
		Long: `kubectl scaling runs the platform's scaling runbook the Terraform way.

Every operation plans first and prints the plan: its steps, its guards with
their reasons and advice, and the diff. Save it with --out and apply exactly
that plan later with 'kubectl scaling apply PLAN'; or apply it now, with
--auto-approve or by answering yes at a terminal. Nothing is written without
one of them. After applying, the outcome is verified by watching the cluster.

Exit codes: 0 done, 1 error, 2 blocked by a guard, 3 stale plan,
4 verification failed or timed out.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: false,
		},
		Annotations: map[string]string{
			// kubectl shows plugins under this name in its completion.
			cobra.CommandDisplayNameAnnotation: "kubectl scaling",
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.validate()
		},
	}
	pf := root.PersistentFlags()
	kube.AddFlags(pf)
	pf.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	pf.BoolVarP(&o.quiet, "quiet", "q", false, "no progress display and no text beyond errors (-o json|yaml output is still written)")
	pf.DurationVar(&o.timeout, "timeout", 0, "how long to verify the outcome (0: the operation's default, 2-5 min)")
	pf.StringVar(&o.chart.Ref, "chart", os.Getenv("SCALING_CHART"), "chart of every Helm upgrade, as helm upgrade takes it: a folder, an archive, oci://..., or a name in --chart-repo (default $SCALING_CHART; required for charts with subcharts)")
	pf.StringVar(&o.chart.RepoURL, "chart-repo", "", "chart repository URL (helm upgrade --repo)")
	pf.StringVar(&o.chart.Version, "chart-version", "", "chart version (helm upgrade --version)")

	sess := &session{kube: kube, opts: o, streams: s}
	root.AddCommand(
		scaleCommands(sess)...,
	)
	root.AddCommand(
		natsCommand(sess),
		postgresCommand(sess),
		nodesCommand(sess),
		tenantsCommand(sess),
		applyCommand(sess),
		verifyCommand(sess),
		showCommand(sess),
	)
	return root
}

// planFlags are the flags of a command that makes a plan.
func planFlags(cmd *cobra.Command, o *options) *cobra.Command {
	cmd.Flags().StringVar(&o.out, "out", "", "save the plan to this file (JSON) and apply nothing; apply it later with 'kubectl scaling apply FILE'")
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "apply the plan without asking")
	_ = cmd.MarkFlagFilename("out", "json")
	return cmd
}

// approveFlag is the --auto-approve of apply.
func approveFlag(cmd *cobra.Command, o *options) *cobra.Command {
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "apply the plan without asking")
	return cmd
}

func (o *options) validate() error {
	switch o.output {
	case "text", "json", "yaml":
	default:
		return &scaling.InvalidInputError{Field: "--output", Value: o.output, Reason: "must be text, json or yaml"}
	}
	if o.timeout < 0 {
		return &scaling.InvalidInputError{Field: "--timeout", Value: o.timeout, Reason: "must not be negative"}
	}
	if o.out != "" && o.autoApprove {
		return &scaling.InvalidInputError{Field: "--out", Value: o.out, Reason: "saves a plan for a later apply; it cannot be combined with --auto-approve"}
	}
	if o.out != "" && strings.TrimSpace(o.out) == "" {
		return &scaling.InvalidInputError{Field: "--out", Value: o.out, Reason: "is not a file name"}
	}
	return nil
}
