package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

var shared *Env

// Run is the body of a TestMain: it starts the environment once for the
// test package, runs the tests and stops it. A failure to start fails the
// package (exit code 1, with the component's log tail); it never skips.
func Run(m *testing.M, opts Options) int {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	env, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: the real test environment did not start: %v\n", err)
		return 1
	}
	shared = env
	defer env.Stop()
	return m.Run()
}

// Shared returns the environment Run started, or nil outside Run.
func Shared() *Env { return shared }
