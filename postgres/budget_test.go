package postgres_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ironflow/scaling/postgres"
)

func TestBudgetCountsTheSurge(t *testing.T) {
	b := postgres.Budget{Replicas: 5, Surge: 2, Pool: 10, Others: 5, MaxConnections: 80, Reserved: 3}
	assert.Equal(t, int64(75), b.Peak(), "(5 + 2) x 10 + 5")
	assert.Equal(t, int64(77), b.Usable())
	assert.True(t, b.Fits())
	b.Others = 8
	assert.False(t, b.Fits(), "78 > 77")
}

// TestBudgetDoesNotWrap: 1,800,000,000 replicas with their surge are more
// than int32 holds; the peak stays positive and the budget refuses it
// (issue 11: it wrapped to a negative peak and passed).
func TestBudgetDoesNotWrap(t *testing.T) {
	b := postgres.Budget{Replicas: 1_800_000_000, Surge: 450_000_000, Pool: 10, MaxConnections: 100, Reserved: 3}
	assert.Equal(t, int64(22_500_000_000), b.Peak())
	assert.False(t, b.Fits())
}

func TestMaxConnectionsReadsTheClustersParameter(t *testing.T) {
	cluster := map[string]any{"spec": map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"max_connections": "200"}}}}
	n, ok := postgres.MaxConnections(cluster)
	assert.True(t, ok)
	assert.Equal(t, 200, n)
	for name, c := range map[string]map[string]any{
		"unset":      {"spec": map[string]any{"instances": int64(3)}},
		"not a text": {"spec": map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"max_connections": int64(200)}}}},
		"no number":  {"spec": map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"max_connections": "many"}}}},
	} {
		_, ok := postgres.MaxConnections(c)
		assert.False(t, ok, name)
	}
}

func ExampleBudget() {
	b := postgres.Budget{Replicas: 5, Surge: 2, Pool: 20, MaxConnections: postgres.DefaultMaxConnections, Reserved: postgres.DefaultReserved}
	fmt.Println(b)
	fmt.Println("fits:", b.Fits())
	// Output:
	// (5 replicas + 2 surge) x pool 20 + 0 others = 140 connections; max_connections 100 - 3 reserved = 97
	// fits: false
}
