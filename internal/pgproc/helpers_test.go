package pgproc

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// findTools locates the real programs; CI installs them (.ci/run), so their
// absence fails the test with the package to install.
func findTools(t *testing.T) *Tools {
	t.Helper()
	tl, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// testLog streams server logs to stderr when PGPROC_LOG is set; otherwise
// they stay in each server's folder (and in start errors).
func testLog() io.Writer {
	if os.Getenv("PGPROC_LOG") != "" {
		return os.Stderr
	}
	return nil
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startPrimary(t *testing.T, ctx context.Context, tl *Tools, dir, name string, params map[string]string) *Server {
	t.Helper()
	t0 := time.Now()
	s, err := tl.StartPrimary(ctx, name, ServerOptions{Dir: dir, Parameters: params, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	t.Logf("primary %s started in %v (initdb + start + roles)", name, time.Since(t0).Round(time.Millisecond))
	return s
}

func startReplica(t *testing.T, ctx context.Context, tl *Tools, dir, name string, primary *Server) *Server {
	t.Helper()
	t0 := time.Now()
	s, err := tl.StartReplica(ctx, name, primary, ServerOptions{Dir: dir, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	t.Logf("replica %s streaming in %v (pg_basebackup + start)", name, time.Since(t0).Round(time.Millisecond))
	return s
}

// sqlExec runs statements on the app database of s as user app.
func sqlExec(t *testing.T, ctx context.Context, s *Server, statements ...string) {
	t.Helper()
	c, err := pgx.Connect(ctx, s.DSN(AppDatabase, AppUser))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, st := range statements {
		if _, err := c.Exec(ctx, st); err != nil {
			t.Fatalf("%s on %s: %v", st, s.Name, err)
		}
	}
}

// rows summarises table items on s: how many rows, how many distinct ids,
// the largest id.
type rows struct{ n, distinct, max int }

func itemRows(ctx context.Context, s *Server, table string) (rows, error) {
	c, err := pgx.Connect(ctx, s.DSN(AppDatabase, AppUser))
	if err != nil {
		return rows{}, err
	}
	defer c.Close(context.Background())
	var r rows
	err = c.QueryRow(ctx, "SELECT count(*), count(DISTINCT id), coalesce(max(id), 0) FROM "+table).Scan(&r.n, &r.distinct, &r.max)
	return r, err
}

// eventually calls ok every 50 ms until it returns true (or ctx ends, which
// fails the test with the last state ok described).
func eventually(t *testing.T, ctx context.Context, what string, ok func() (bool, string)) {
	t.Helper()
	last := ""
	for {
		done, state := ok()
		if done {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: gave up (%v); last: %s", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func mustStatus(t *testing.T, ctx context.Context, s *Server) *Status {
	t.Helper()
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustLSN(t *testing.T, lsn string) uint64 {
	t.Helper()
	n, err := ParseLSN(lsn)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// replayedTo reports whether replica s has replayed up to lsn.
func replayedTo(ctx context.Context, s *Server, lsn uint64) (bool, string) {
	st, err := s.Status(ctx)
	if err != nil {
		return false, err.Error()
	}
	replay, err := ParseLSN(st.ReplayLSN)
	return err == nil && replay >= lsn, st.ReplayLSN
}
