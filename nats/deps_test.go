package nats_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The package reads and changes JetStream with nats.go and jsm.go's API
// types only: importing jsm.go's root package or nats-server would link a
// whole server (about 8 MB) into every program that embeds these
// operations.
func TestNatsDoesNotLinkAServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ironflow/scaling/nats").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/nats-io/nats.go")
	require.Contains(t, deps, "github.com/nats-io/jsm.go/api")
	for _, d := range deps {
		require.False(t, strings.HasPrefix(d, "github.com/nats-io/nats-server"), "nats links %s", d)
		require.NotEqual(t, "github.com/nats-io/jsm.go", d, "nats links jsm.go's root package, which embeds the server")
	}
}
