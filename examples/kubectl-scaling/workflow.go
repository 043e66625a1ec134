package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	"github.com/ironflow/scaling"
)

// result is what -o json|yaml prints for a command that applied: the plan,
// what Apply did, and what Verify saw, in one document a script can parse.
type result struct {
	Plan         *scaling.Plan         `json:"plan"`
	Applied      *scaling.Applied      `json:"applied,omitempty"`
	Verification *scaling.Verification `json:"verification,omitempty"`
}

// planWith is a planning command's body: connect the package's client,
// make its plan, and run the plan workflow on it.
func planWith[C scaling.Operator](s *session, cmd *cobra.Command, client func(context.Context) (C, error), plan func(C) (*scaling.Plan, error)) error {
	c, err := client(cmd.Context())
	if err != nil {
		return err
	}
	p, err := plan(c)
	if err != nil {
		return err
	}
	return s.planned(cmd.Context(), c, p)
}

// planned is the workflow of every planning command, terraform's: print
// the plan; stop if a guard blocks it (exit 2) or if it changes nothing;
// save it with --out; otherwise apply it only with --auto-approve or a yes
// typed at a terminal, then verify it.
func (s *session) planned(ctx context.Context, op scaling.Operator, plan *scaling.Plan) error {
	defer s.close()
	o := s.opts
	blocked := plan.Blocking()
	applying := o.out == "" && len(blocked) == 0 && !plan.NoOp
	// With -o json|yaml, a run that applies prints one document at its
	// end (plan, applied, verification); any other run prints the plan.
	if !applying || o.output == "text" {
		if err := s.print(plan); err != nil {
			return err
		}
	}
	switch {
	case len(blocked) > 0:
		if o.output != "text" || o.quiet {
			// The text plan shows the guards; a document on stdout does
			// not speak to the person reading stderr.
			fmt.Fprintf(s.streams.ErrOut, "Blocked by %d guard(s); nothing was changed:\n", len(blocked))
			printGuards(s.streams.ErrOut, blocked)
		}
		return &exitError{code: exitBlocked, err: fmt.Errorf("%s is blocked by %d guard(s): %w", plan.Operation, len(blocked), errShown)}
	case plan.NoOp:
		return nil
	case o.out != "":
		return s.save(plan)
	}
	return s.approveApplyVerify(ctx, op, plan)
}

// approveApplyVerify asks for approval (unless --auto-approve), applies the
// plan with a live display of its steps, and verifies it with one of its
// checks.
func (s *session) approveApplyVerify(ctx context.Context, op scaling.Operator, plan *scaling.Plan) error {
	o := s.opts
	if !o.autoApprove {
		ok, err := s.confirm(plan)
		if err != nil || !ok {
			return err
		}
	}
	res := result{Plan: plan}
	d := s.newDisplay()
	s.setSink(d.event)
	d.begin("Applying", plan)
	applied, err := op.Apply(ctx, plan)
	d.end(err)
	if err != nil {
		return err
	}
	res.Applied = applied
	if !applied.Changed {
		s.info("Nothing to change: %s\n", applied.Reason)
	}
	res.Verification, err = s.verifyWithDisplay(ctx, op, plan)
	if err != nil {
		return err
	}
	if o.output != "text" {
		if err := s.print(res); err != nil {
			return err
		}
	}
	return verificationError(res.Verification)
}

// verifyWithDisplay runs Verify with a live display of its checks and
// prints the verification as text (unless -o or --quiet say otherwise).
func (s *session) verifyWithDisplay(ctx context.Context, op scaling.Operator, plan *scaling.Plan) (*scaling.Verification, error) {
	d := s.newDisplay()
	s.setSink(d.event)
	d.begin("Verifying", plan)
	v, err := op.Verify(ctx, plan)
	s.setSink(nil)
	if err != nil {
		d.end(err)
		return nil, err
	}
	d.end(verificationError(v))
	if s.opts.output == "text" && !s.opts.quiet {
		fmt.Fprint(s.streams.Out, "\n"+v.String())
	}
	return v, nil
}

// verificationError is exit 4 for any phase but Succeeded: Overridden
// (an HPA or a person changed it back) is not done either.
func verificationError(v *scaling.Verification) error {
	if v.Phase == scaling.Succeeded {
		return nil
	}
	err := fmt.Errorf("verification %s: %s", v.Phase, v.Reason)
	if v.Err != nil {
		err = fmt.Errorf("verification %s: %w", v.Phase, v.Err)
	}
	return &exitError{code: exitVerify, err: err}
}

// confirm asks at a terminal. Without one (a pipe, CI) it applies nothing
// and fails: a script must opt in with --auto-approve.
func (s *session) confirm(plan *scaling.Plan) (bool, error) {
	if !isTerminal(s.streams.In) {
		// Exit 1, not 0: a script that forgot --auto-approve must not
		// read "done".
		return false, &exitError{code: exitFailed, err: errors.New("not applied: no terminal to ask on and no --auto-approve; nothing was written (save the plan with --out to apply it later)")}
	}
	if s.opts.output != "text" || s.opts.quiet {
		// Nobody approves a plan they were not shown.
		fmt.Fprint(s.streams.ErrOut, asFlags(plan.String()))
	}
	fmt.Fprintf(s.streams.ErrOut, "\nApply this plan (%d step(s) on %s)?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", len(plan.Steps), plan.Target)
	line, err := bufio.NewReader(s.streams.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if strings.TrimSpace(line) != "yes" {
		return false, &exitError{code: exitCanceled, err: errors.New("apply cancelled; nothing was written")}
	}
	return true, nil
}

// save writes the plan for a later `apply`. It writes a new file, never
// through a symlink an attacker placed, and only the plan's own JSON.
func (s *session) save(plan *scaling.Plan) error {
	data, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.opts.out, append(data, '\n'), 0o600); err != nil {
		return err
	}
	s.info("\nSaved the plan to %s. Apply exactly this plan with:\n  kubectl scaling apply %s\n", s.opts.out, s.opts.out)
	return nil
}

// load reads a saved plan.
func load(path string) (*scaling.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return scaling.Decode(data)
}

// print writes v as -o asks: text through its String method, or JSON or
// YAML of its fields.
func (s *session) print(v any) error {
	w := s.streams.Out
	switch s.opts.output {
	case "json":
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	if s.opts.quiet {
		return nil
	}
	if str, ok := v.(fmt.Stringer); ok {
		_, err := fmt.Fprint(w, asFlags(str.String()))
		return err
	}
	return fmt.Errorf("no text form for %T", v)
}

// info is a message for people: to stderr, so stdout stays the document.
func (s *session) info(format string, args ...any) {
	if s.opts.quiet {
		return
	}
	fmt.Fprintf(s.streams.ErrOut, format, args...)
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
