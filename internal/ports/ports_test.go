package ports

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreeHandsOutDistinctBindablePorts(t *testing.T) {
	got, err := Free(16)
	require.NoError(t, err)
	require.Len(t, got, 16)
	seen := map[int]bool{}
	for _, p := range got {
		assert.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		require.NoError(t, err, "port %d is free again once Free returns", p)
		l.Close()
	}
}
