package main

import (
	"testing"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
)

// The README's demo, run as CI runs the tests: it starts its own embedded
// control plane, installs the chart, and must end with Succeeded verifies of
// the app scale and both NATS scales (run returns an error otherwise).
func TestDemoOnEmbeddedEnvironment(t *testing.T) {
	chart := scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}
	if err := run("", "", "demo", "ironflow", 5, chart, natsOptions{}); err != nil {
		t.Fatal(err)
	}
}
