// Command kubectl-scaling is the platform's scaling runbook as a kubectl
// plugin: one subcommand per operation of the SDK, each run the Terraform
// way. A command plans and prints the plan; with --out it saves the plan
// for review; `apply PLAN` applies exactly that saved plan later and then
// verifies it; without --auto-approve nothing is written unless a person at
// a terminal answers yes.
//
//	go install ./examples/kubectl-scaling
//	kubectl scaling replicas ironflow 5 -n prod --out scale.json
//	kubectl scaling apply scale.json
//
// Exit codes, for scripts:
//
//	0  done (or nothing to do, or only planned)
//	1  error (bad input, no cluster, not approved: nothing was written)
//	2  blocked by a guard (the guards and their advice are printed)
//	3  the saved plan is stale: live state changed since it was made
//	4  applied, but the verification failed or timed out
//
// The program is also the reference for embedding the SDK: session.go
// builds the clients from kubectl's flags, workflow.go is plan -> approve
// -> apply -> verify, and display.go turns progress events into a live
// display.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
