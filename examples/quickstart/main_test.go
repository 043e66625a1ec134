package main

import "testing"

// The README's demo, run as CI runs the tests: it starts its own embedded
// control plane, installs the chart, and must end with Succeeded verifies of
// the app scale and both NATS scales (run returns an error otherwise).
func TestDemoOnEmbeddedEnvironment(t *testing.T) {
	if err := run("", "", "demo", "ironflow", 5, natsOptions{}); err != nil {
		t.Fatal(err)
	}
}
