package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/postgres"
)

// runPostgres is the demo's third part, the runbook's "PostgreSQL failover
// (planned maintenance)": the release's CNPG cluster (3 instances behind a
// PgBouncer Pooler) runs on real PostgreSQL 15 servers and a real
// PgBouncer, played by the environment's operator double; a client commits
// rows through the pooler while the primary moves to the least-lagging
// replica with the pooler paused, and the demo shows what the client saw.
func runPostgres(ctx context.Context, env *testenv.Env, namespace, release string, progress scaling.Progress) error {
	dir, err := os.MkdirTemp("", "quickstart-pg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	backend, err := testenv.NewPostgresBackend(dir)
	if err != nil {
		return err
	}
	fmt.Println("\nStarting the CloudNativePG operator double with real PostgreSQL 15 servers and PgBouncer behind the pods...")
	op, err := env.StartOperator(ctx, testenv.OperatorOptions{Namespace: namespace, Backend: backend})
	if err != nil {
		return err
	}
	defer op.Stop()
	cluster, err := scaling.NewCluster(op.WrapConfig(env.RESTConfig()))
	if err != nil {
		return err
	}
	name, pooler := release+"-pg", release+"-pg-pooler-rw"
	if err := waitFor(ctx, func() bool {
		u, err := cluster.Dynamic.Resource(testenv.ClustersGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		st, _ := u.Object["status"].(map[string]any)
		return st["phase"] == testenv.PhaseHealthy && st["readyInstances"] == int64(3) && backend.Bouncer(namespace, pooler) != nil
	}); err != nil {
		return fmt.Errorf("cluster %s did not become healthy: %w", name, err)
	}
	primary := backend.Server(namespace, name+"-1")
	conn, err := pgx.Connect(ctx, primary.DSN("app", "app"))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS orders (n bigint PRIMARY KEY)")
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}

	w, err := startClient(ctx, backend.Bouncer(namespace, pooler).DSN("app", "app"))
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	fmt.Printf("A client commits rows through PgBouncer (%s); %d committed so far.\n", pooler, w.snapshot().committed)
	client, err := postgres.New(cluster, postgres.Options{Progress: progress})
	if err != nil {
		return err
	}
	if err := planApplyVerify(ctx, client, func() (*scaling.Plan, error) {
		return client.PlanSwitchover(ctx, postgres.Switchover{Namespace: namespace, Cluster: name, PausePooler: true})
	}); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	got := w.stop()
	var rows int
	u, err := cluster.Dynamic.Resource(testenv.ClustersGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now, _ := u.Object["status"].(map[string]any)["currentPrimary"].(string)
	conn, err = pgx.Connect(ctx, backend.Server(namespace, now).DSN("app", "app"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&rows); err != nil {
		return err
	}
	fmt.Printf("\nThe client committed %d rows, saw %d errors, and stalled at most %s; the new primary %s holds %d rows.\n",
		got.committed, got.errors, got.stall.Round(time.Millisecond), now, rows)
	if rows != got.committed || got.errors != 0 {
		return fmt.Errorf("the switchover lost rows or failed the client: %d committed, %d on the primary, %d errors", got.committed, rows, got.errors)
	}
	return nil
}

// client commits numbered rows one by one until stopped.
type client struct {
	mu sync.Mutex
	s  clientStats
	// halt ends the loop between two inserts: cancelling one in flight
	// could lose its reply while its row commits.
	halt chan struct{}
	done chan struct{}
}

type clientStats struct {
	committed, errors int
	stall             time.Duration
}

func startClient(ctx context.Context, dsn string) (*client, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	c := &client{halt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer conn.Close(context.WithoutCancel(ctx))
		last := time.Now()
		for i := 1; ; i++ {
			select {
			case <-c.halt:
				return
			default:
			}
			_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO orders (n) VALUES (%d)", i))
			c.mu.Lock()
			if err != nil {
				c.s.errors++
				c.mu.Unlock()
				return
			}
			c.s.committed++
			c.s.stall = max(c.s.stall, time.Since(last))
			last = time.Now()
			c.mu.Unlock()
		}
	}()
	return c, nil
}

func (c *client) snapshot() clientStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

func (c *client) stop() clientStats {
	close(c.halt)
	<-c.done
	return c.snapshot()
}

// waitFor waits until ok holds, checking on each tick (the demo's own
// readiness wait, not the library's).
func waitFor(ctx context.Context, ok func() bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
