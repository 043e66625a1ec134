package postgres_test

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/ironflow/scaling/postgres"
)

// An app whose HPA may run 10 pods with pools of 10, through the
// reference chart's Pooler of 2 PgBouncer instances (pools of 20) during
// the pooler's own rollout, against max_connections 100: the budget counts
// the HPA's maximum, not today's 3 pods, and says what max_connections
// would hold the pooler's peak.
func ExampleConnectionBudget() {
	r, err := postgres.ConnectionBudget(postgres.Connections{
		Replicas: 3, HPA: &postgres.HPALimit{Name: "ironflow", MaxReplicas: 10}, Strategy: &appsv1.DeploymentStrategy{}, Pool: 10,
		MaxConnections: 100,
		Pooler:         &postgres.Pooler{Name: "ironflow-pg-pooler-rw", Instances: 2, DefaultPoolSize: 20, MaxClientConn: 1000}, PoolerRollout: true,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("replicas:", r.Budget.Replicas, "from", r.ReplicasSource)
	fmt.Println("server connections at the peak:", r.Peak, "of", r.Usable, "usable")
	fmt.Println("clients accepted:", r.ClientLimit, "fits:", r.Fits, "recommended max_connections:", r.Recommended)
	// Output:
	// replicas: 10 from HPA ironflow maxReplicas
	// server connections at the peak: 60 of 97 usable
	// clients accepted: 2000 fits: true recommended max_connections: 63
}

// Without a pooler the same app needs (10 + 3 surge) x 10 connections.
func ExampleConnectionBudget_direct() {
	r, _ := postgres.ConnectionBudget(postgres.Connections{Replicas: 3, HPA: &postgres.HPALimit{Name: "ironflow", MaxReplicas: 10}, Strategy: &appsv1.DeploymentStrategy{}, Pool: 10})
	fmt.Println(r.Budget)
	fmt.Println("fits:", r.Fits, "recommended max_connections:", r.Recommended)
	// Output:
	// (10 replicas + 3 surge) x pool 10 + 0 others = 130 connections; max_connections 100 - 3 reserved = 97
	// fits: false recommended max_connections: 133
}
