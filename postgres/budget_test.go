package postgres_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"

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

// The issue's scenario: 10 app replicas with pools of 25 against
// max_connections 100 do not fit directly (250 + surge), and do through a
// pooler whose own pools fit: 2 instances x 20 = 40 server connections,
// while PgBouncer accepts 2 x 1000 clients.
func TestAPoolerHoldsTheServerConnections(t *testing.T) {
	direct := postgres.Budget{Replicas: 10, Surge: 3, Pool: 25, MaxConnections: 100, Reserved: 3}
	assert.False(t, direct.Fits())
	assert.Equal(t, int64(325), direct.Peak())
	assert.Equal(t, int64(328), direct.Recommended(), "what max_connections would have to be")

	pooled := direct
	pooled.Pooler = &postgres.Pooler{Name: "pg-pooler-rw", Instances: 2, MaxClientConn: 1000}
	assert.True(t, pooled.Fits(), pooled.String())
	assert.Equal(t, int64(40), pooled.Peak(), "2 instances x the default pool of 20")
	assert.Equal(t, int64(2000), pooled.ClientLimit())
	assert.Equal(t, "Pooler pg-pooler-rw: (2 instances + 0 surge) x (default_pool_size 20 + reserve 0) x 1 user/db pairs + 0 others = 40 server connections; "+
		"max_connections 100 - 3 reserved = 97; clients (10 replicas + 3 surge) x pool 25 = 325, PgBouncer accepts 2 instances x max_client_conn 1000 = 2000", pooled.String())
}

// A pooler is not a pass by itself: its own pools can exceed the server,
// and the pods can exceed what PgBouncer accepts.
func TestAPoolerCanStillExceedTheBudget(t *testing.T) {
	big := postgres.Budget{Replicas: 3, Pool: 10, MaxConnections: 100, Reserved: 3,
		Pooler: &postgres.Pooler{Instances: 3, Surge: 1, DefaultPoolSize: 20, ReservePoolSize: 5}}
	assert.Equal(t, int64(100), big.Peak(), "(3 + 1) x (20 + 5)")
	assert.False(t, big.Fits(), "100 > 97")
	assert.Equal(t, int64(103), big.Recommended())

	refused := postgres.Budget{Replicas: 12, Pool: 10, MaxConnections: 100, Reserved: 3, Pooler: &postgres.Pooler{}}
	assert.Equal(t, int64(20), refused.Peak())
	assert.Equal(t, int64(100), refused.ClientLimit(), "one instance x PgBouncer's default 100")
	assert.False(t, refused.Fits(), "120 clients, PgBouncer accepts 100")
}

func TestPoolerOfReadsTheRenderedPooler(t *testing.T) {
	p, err := postgres.PoolerOf(map[string]any{
		"metadata": map[string]any{"name": "pg-pooler-rw"},
		"spec": map[string]any{"instances": int64(2), "pgbouncer": map[string]any{"parameters": map[string]any{
			"default_pool_size": "30", "max_client_conn": "1000", "reserve_pool_size": "5"}}},
	})
	assert.NoError(t, err)
	assert.Equal(t, &postgres.Pooler{Name: "pg-pooler-rw", Instances: 2, DefaultPoolSize: 30, ReservePoolSize: 5, MaxClientConn: 1000}, p)

	p, err = postgres.PoolerOf(map[string]any{"spec": map[string]any{}})
	assert.NoError(t, err)
	assert.Equal(t, &postgres.Pooler{}, p, "unset: the defaults apply")

	_, err = postgres.PoolerOf(map[string]any{"spec": map[string]any{"pgbouncer": map[string]any{"parameters": map[string]any{"default_pool_size": "lots"}}}})
	assert.ErrorContains(t, err, `default_pool_size "lots" is not a count`)
}

// TestConnectionBudgetCountsTheHPAMaximumAndTheRollouts: the HPA's
// maxReplicas, the app's surge and, when the pooler rolls, its own.
func TestConnectionBudgetCountsTheHPAMaximumAndTheRollouts(t *testing.T) {
	r, err := postgres.ConnectionBudget(postgres.Connections{Replicas: 3, HPA: &postgres.HPALimit{Name: "web", MaxReplicas: 10}, Strategy: &appsv1.DeploymentStrategy{}, Pool: 10})
	require.NoError(t, err)
	assert.Equal(t, int32(10), r.Budget.Replicas)
	assert.Equal(t, int32(3), r.Budget.Surge, "25% of 10, rounded up")
	assert.Equal(t, int64(130), r.Peak)
	assert.Equal(t, int64(133), r.Recommended)
	assert.False(t, r.Fits)
	assert.Equal(t, "HPA web maxReplicas", r.ReplicasSource)
	assert.Equal(t, "PostgreSQL's default", r.MaxConnectionsSource)

	cluster := map[string]any{"spec": map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"max_connections": "200"}}}}
	r, err = postgres.ConnectionBudget(postgres.Connections{Replicas: 3, Pool: 10, Cluster: cluster, ClusterName: "pg",
		Pooler: &postgres.Pooler{Name: "pg-pooler-rw", Instances: 4, DefaultPoolSize: 20, ReservePoolSize: 5}, PoolerRollout: true})
	require.NoError(t, err)
	assert.Equal(t, int32(1), r.Budget.Pooler.Surge)
	assert.Equal(t, int64(125), r.Peak, "(4 + 1) x (20 + 5)")
	assert.Equal(t, "CNPG Cluster pg", r.MaxConnectionsSource)
	assert.True(t, r.Fits)

	_, err = postgres.ConnectionBudget(postgres.Connections{Replicas: -1})
	assert.Error(t, err)
	assert.Equal(t, int32(0), postgres.Surge(nil, 10), "a StatefulSet: no surge")
	assert.Equal(t, int32(0), postgres.Surge(&appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, 10))
}
