package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/testenv"
	"github.com/ironflow/scaling/postgres"
)

// These tests run real PostgreSQL 15 servers behind the instance pods (a
// primary and streaming replicas) and a real PgBouncer behind the Pooler:
// the positions the plan reads are theirs, the switchover really promotes
// a replica and rewinds the old primary, and rows really survive it.

func newRealPG(t *testing.T, instances int, pooler bool) (*pgEnv, *testenv.PostgresBackend) {
	t.Helper()
	backend, err := testenv.NewPostgresBackend(t.TempDir())
	require.NoError(t, err)
	return newPGEnv(t, pgFixture{instances: instances, pooler: pooler, backend: backend}), backend
}

func connect(t testing.TB, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// writer commits one row at a time through dsn until stopped, and keeps
// what a client application sees: rows committed, errors, and the longest
// time between two commits.
type writer struct {
	mu        sync.Mutex
	committed int
	errs      []error
	stall     time.Duration
	stop      chan struct{}
	done      chan struct{}
}

// startWriter's rows are numbered from first (a table that outlives one
// writer takes a new range).
func startWriter(t testing.TB, dsn string, first int) *writer {
	t.Helper()
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	go func() {
		defer close(w.done)
		defer func() { _ = conn.Close(ctx) }()
		last := time.Now()
		for i := first; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := conn.Exec(qctx, fmt.Sprintf("INSERT INTO orders (n) VALUES (%d)", i))
			cancel()
			w.mu.Lock()
			if err != nil {
				w.errs = append(w.errs, err)
				w.mu.Unlock()
				// A client reconnects, as a pool would.
				_ = conn.Close(ctx)
				if conn, err = pgx.Connect(ctx, dsn); err != nil {
					time.Sleep(50 * time.Millisecond)
				}
				continue
			}
			w.committed++
			w.stall = max(w.stall, time.Since(last))
			last = time.Now()
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) halt() (committed int, errs []error, stall time.Duration) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed, w.errs, w.stall
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed
}

// The runbook's planned failover with clients writing: 3 instances, one
// replica lagging (its replay paused), a writer committing through the
// pooler; the switchover, with the pooler paused, promotes the other
// replica, and every committed row is on the new primary.
func TestSwitchoverOnRealPostgreSQLLosesNoCommittedRow(t *testing.T) {
	e, pg := newRealPG(t, 3, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	primary, lagging, best := instance(e, 1), instance(e, 2), instance(e, 3)
	admin := connect(t, ctx, pg.Server(e.ns, primary).DSN("app", "app"))
	_, err := admin.Exec(ctx, "CREATE TABLE orders (n bigint PRIMARY KEY, at timestamptz DEFAULT now())")
	require.NoError(t, err)

	require.NoError(t, pg.Server(e.ns, lagging).PauseReplay(ctx))
	// The double starts the pooler's PgBouncer when it sees the Pooler,
	// which Helm may create after the Cluster turned healthy.
	for pg.Bouncer(e.ns, e.pooler) == nil {
		require.NoError(t, ctx.Err(), "no PgBouncer behind %s", e.pooler)
		time.Sleep(20 * time.Millisecond)
	}
	w := startWriter(t, pg.Bouncer(e.ns, e.pooler).DSN("app", "app"), 1)
	for w.count() < 200 {
		time.Sleep(10 * time.Millisecond)
	}

	plan, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, PausePooler: true})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	require.Len(t, plan.Steps, 3)
	assert.Equal(t, best, plan.Steps[1].After, "the replica whose replay is paused lags: the other is promoted")

	// The lagging replica named as the target is refused with its real lag.
	refused, err := e.client.PlanSwitchover(ctx, postgres.Switchover{Namespace: e.ns, Cluster: e.cluster, Target: lagging, MaxLagBytes: 1024})
	require.NoError(t, err)
	g, ok := refused.Guard(postgres.GuardLag)
	require.True(t, ok)
	require.Equal(t, scaling.Block, g.Outcome, refused.String())
	var lag *postgres.LagError
	require.ErrorAs(t, g.Cause, &lag)
	assert.Greater(t, lag.LagBytes, int64(1024))
	t.Logf("real replay lag of %s: %d bytes", lagging, lag.LagBytes)
	require.NoError(t, pg.Server(e.ns, lagging).ResumeReplay(ctx))

	start := time.Now()
	_, err = e.client.Apply(ctx, plan)
	require.NoError(t, err)
	v, err := e.client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	took := time.Since(start)
	before := w.count()
	for w.count() < before+100 {
		time.Sleep(10 * time.Millisecond)
	}
	committed, errs, stall := w.halt()
	t.Logf("switchover %s -> %s: %s end to end; the writer committed %d rows, longest stall %s, %d errors", primary, best, took.Round(time.Millisecond), committed, stall.Round(time.Millisecond), len(errs))
	assert.Empty(t, errs, "a paused pooler holds the client: it stalls, it does not fail")

	st, err := pg.Server(e.ns, best).Status(ctx)
	require.NoError(t, err)
	assert.True(t, st.IsPrimary, "the target really is the primary")
	newPrimary := connect(t, ctx, pg.Server(e.ns, best).DSN("app", "app"))
	var rows, maxN int
	require.NoError(t, newPrimary.QueryRow(ctx, "SELECT count(*), coalesce(max(n), 0) FROM orders").Scan(&rows, &maxN))
	assert.Equal(t, committed, rows, "every committed row is on the new primary")
	assert.Equal(t, committed, maxN)
	for _, r := range []string{primary, lagging} {
		st, err := pg.Server(e.ns, r).Status(ctx)
		require.NoError(t, err)
		assert.False(t, st.IsPrimary, r)
		assert.True(t, st.IsWalReceiverActive, "%s streams from the new primary", r)
	}
}

// max_connections raised to the connection budget's recommendation, the
// restart it takes said by the live server's pg_settings, and read back
// with SHOW on every instance.
func TestParametersRaiseMaxConnectionsOnRealPostgreSQL(t *testing.T) {
	backend, err := testenv.NewPostgresBackend(t.TempDir())
	require.NoError(t, err)
	// Four app pods with 25 connections each outgrow the servers' 50.
	e := newPGEnv(t, pgFixture{instances: 2, backend: backend, values: map[string]any{"replicaCount": 4, "database.poolSize": 25}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := postgres.New(e.sc, postgres.Options{Settings: postgres.PSQL{Exec: backend.Exec}, Chart: scaling.ChartSource{Ref: testenv.ChartPath("ironflow")}, Releases: e.releases})
	require.NoError(t, err)
	plan, err := client.PlanParameters(ctx, postgres.Parameters{Namespace: e.ns, Release: release, RecommendMaxConnections: true, Set: map[string]string{"work_mem": "8MB"}})
	require.NoError(t, err)
	require.Empty(t, plan.Blocking(), plan.String())
	t.Logf("%s", plan.String())
	g, ok := plan.Guard("restart")
	require.True(t, ok, plan.String())
	assert.Equal(t, scaling.Warn, g.Outcome, "max_connections is a postmaster parameter: a restart")
	assert.Contains(t, g.Reason, "max_connections")
	var want string
	for _, s := range plan.Steps {
		if s.Field == "postgresql.maxConnections" || s.Field == "postgresql.parameters.max_connections" {
			want = s.After
		}
	}
	require.NotEmpty(t, want, "the plan sets max_connections: %s", plan.String())
	before, err := backend.Server(e.ns, instance(e, 1)).Show(ctx, "max_connections")
	require.NoError(t, err)
	n, _ := strconv.Atoi(want)
	b, _ := strconv.Atoi(before)
	assert.Greater(t, n, b, "raised from the live %s", before)

	applied, err := client.Apply(ctx, plan)
	require.NoError(t, err)
	require.True(t, applied.Changed)
	v, err := client.Verify(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, scaling.Succeeded, v.Phase, v.String())
	for _, i := range []string{instance(e, 1), instance(e, 2)} {
		got, err := backend.Server(e.ns, i).Show(ctx, "max_connections")
		require.NoError(t, err)
		assert.Equal(t, want, got, "SHOW max_connections on %s", i)
		got, err = backend.Server(e.ns, i).Show(ctx, "work_mem")
		require.NoError(t, err)
		assert.Equal(t, "8MB", got, i)
	}
}
