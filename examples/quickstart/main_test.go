package main

import (
	"testing"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
)

// The README's demo, run as CI runs the tests: it starts its own embedded
// control plane, installs the chart, and must end with Succeeded verifies of
// the app scale, both NATS scales, the PostgreSQL switchover, the added
// worker, the rebalance and the destroy, with no
// row the client committed lost (run returns an error otherwise).
func TestDemoOnEmbeddedEnvironment(t *testing.T) {
	chart := scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}
	if err := run("", "", "demo", "ironflow", 5, chart, natsOptions{}); err != nil {
		t.Fatal(err)
	}
}
