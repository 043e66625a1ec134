package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

var shared *Env

// Run is the body of a TestMain: it starts the environment once for the
// test package, runs the tests and stops it. A failure to start fails the
// package (exit code 1, with the component's log tail); it never skips,
// so a broken environment cannot pass as a green run.
func Run(m *testing.M, opts Options) int {
	if fuzzingOnly() {
		return m.Run()
	}
	// A cold build takes ~25 min on 2 cores (several test packages wait on
	// the same build lock), far beyond what starting the components may
	// take: it gets its own budget so the start keeps its 10 minutes.
	bctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	_, err := Binaries(bctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: the real test environment did not start: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	env, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: the real test environment did not start: %v\n", err)
		return 1
	}
	shared = env
	defer func() {
		shared = nil
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stopping the environment: %v\n", err)
		}
	}()
	return m.Run()
}

// fuzzingOnly reports whether this process only fuzzes: a fuzzing worker
// (go test -fuzz starts the test binary again for each, and restarts them
// as it goes), or a coordinator told to run no test and no benchmark. The
// fuzz targets run on fakes; starting a control plane in every worker
// stalled the fuzzing for half a minute at each restart.
func fuzzingOnly() bool {
	if !flag.Parsed() {
		flag.Parse() // TestMain runs before the testing flags are parsed
	}
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	if value("test.fuzzworker") == "true" {
		return true
	}
	return value("test.fuzz") != "" && value("test.run") == "^$" && value("test.bench") == ""
}

// Shared returns the environment Run started, or nil outside Run.
func Shared() *Env { return shared }
