package postgres_test

import (
	"fmt"

	"github.com/ironflow/scaling/postgres"
)

// Ten app replicas with pools of 25 against PostgreSQL's default
// max_connections: directly, the rollout's peak does not fit; through a
// PgBouncer Pooler of two instances it does, and the budget says what
// max_connections the direct way would need.
func ExampleBudget_pooler() {
	direct := postgres.Budget{Replicas: 10, Surge: 3, Pool: 25, MaxConnections: postgres.DefaultMaxConnections, Reserved: postgres.DefaultReserved}
	fmt.Println("direct:", direct.Fits(), "peak", direct.Peak(), "recommended max_connections", direct.Recommended())
	pooled := direct
	pooled.Pooler = &postgres.Pooler{Name: "pg-pooler-rw", Instances: 2, MaxClientConn: 1000}
	fmt.Println("pooled:", pooled.Fits(), "peak", pooled.Peak(), "clients accepted", pooled.ClientLimit())
	// Output:
	// direct: false peak 325 recommended max_connections 328
	// pooled: true peak 40 clients accepted 2000
}

// How far a replica replays behind its primary, in bytes, from the
// positions the instance managers report.
func ExampleLSN_Behind() {
	primary, _ := postgres.ParseLSN("0/5000000")
	replica, _ := postgres.ParseLSN("0/4F00000")
	fmt.Println(replica.Behind(primary), "bytes behind; limit", postgres.DefaultMaxLagBytes)
	// Output: 1048576 bytes behind; limit 16777216
}
