package pgproc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReplicationAndSwitchover runs a primary and two streaming replicas:
// real replay lag on a paused replica, then a switchover as CloudNativePG
// does it (clean stop of the primary, promote, re-attach the old primary and
// the other replica with pg_rewind). The subtests share the servers and run
// in order.
func TestReplicationAndSwitchover(t *testing.T) {
	t.Parallel()
	tl := findTools(t)
	ctx := testContext(t, 90*time.Second)
	dir := t.TempDir()
	p := startPrimary(t, ctx, tl, dir, "pg-1", nil)
	r1 := startReplica(t, ctx, tl, dir, "pg-2", p)
	r2 := startReplica(t, ctx, tl, dir, "pg-3", p)

	sqlExec(t, ctx, p,
		"CREATE TABLE items (id int PRIMARY KEY, note text)",
		"INSERT INTO items SELECT g, 'before' FROM generate_series(1, 100) g")

	t.Run("paused replica lags and catches up", func(t *testing.T) {
		target := mustLSN(t, mustStatus(t, ctx, p).CurrentLSN)
		for _, r := range []*Server{r1, r2} {
			eventually(t, ctx, r.Name+" replays the first rows", func() (bool, string) { return replayedTo(ctx, r, target) })
		}
		if err := r2.PauseReplay(ctx); err != nil {
			t.Fatal(err)
		}
		if st := mustStatus(t, ctx, r2); !st.ReplayPaused {
			t.Fatalf("after PauseReplay: %+v", st)
		}
		sqlExec(t, ctx, p, "INSERT INTO items SELECT g, 'during' FROM generate_series(101, 2000) g")
		primary := mustStatus(t, ctx, p)
		target = mustLSN(t, primary.CurrentLSN)

		// The paused replica still receives everything...
		eventually(t, ctx, "paused replica receives the new WAL", func() (bool, string) {
			st, err := r2.Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			recv, err := ParseLSN(st.ReceivedLSN)
			return err == nil && recv >= target, fmt.Sprintf("%+v", st)
		})
		// ...but applies none of it.
		st := mustStatus(t, ctx, r2)
		if st.IsPrimary || !st.ReplayPaused || !st.IsWalReceiverActive || st.CurrentLSN != "" {
			t.Errorf("paused replica status: %+v", st)
		}
		if replay := mustLSN(t, st.ReplayLSN); replay >= target {
			t.Errorf("paused replica replayed to %s, want behind the primary's %s", st.ReplayLSN, primary.CurrentLSN)
		}
		if got, err := itemRows(ctx, r2, "items"); err != nil || got.n != 100 {
			t.Errorf("paused replica sees %+v (%v), want the 100 rows from before the pause", got, err)
		}
		t.Logf("paused replica: received %s, replayed %s, primary at %s", st.ReceivedLSN, st.ReplayLSN, primary.CurrentLSN)
		// The other replica is not held back.
		eventually(t, ctx, r1.Name+" replays everything", func() (bool, string) { return replayedTo(ctx, r1, target) })

		if err := r2.ResumeReplay(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, "resumed replica catches up", func() (bool, string) { return replayedTo(ctx, r2, target) })
		if st := mustStatus(t, ctx, r2); st.ReplayPaused {
			t.Errorf("after ResumeReplay: %+v", st)
		}
		if got, err := itemRows(ctx, r2, "items"); err != nil || got.n != 2000 {
			t.Errorf("resumed replica sees %+v (%v), want 2000 rows", got, err)
		}
	})

	t.Run("switchover", func(t *testing.T) {
		before := mustStatus(t, ctx, p)
		if !before.IsPrimary || before.TimeLineID != 1 || len(before.ReplicationInfo) != 2 {
			t.Fatalf("primary before the switchover: %+v", before)
		}
		// Rows committed just before the primary goes down must survive.
		sqlExec(t, ctx, p, "INSERT INTO items SELECT g, 'last' FROM generate_series(2001, 2050) g")

		t0 := time.Now()
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		stopped := time.Since(t0)
		if _, err := p.Status(ctx); err == nil {
			t.Error("Status of a stopped server: no error")
		}
		if err := r1.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		promoted := time.Since(t0)
		if err := p.Follow(ctx, r1); err != nil {
			t.Fatal(err)
		}
		rejoined := time.Since(t0)
		if err := r2.Follow(ctx, r1); err != nil {
			t.Fatal(err)
		}
		t.Logf("switchover: stop %v, +promote %v, +old primary following %v, +other replica following %v",
			stopped.Round(time.Millisecond), (promoted - stopped).Round(time.Millisecond),
			(rejoined - promoted).Round(time.Millisecond), (time.Since(t0) - rejoined).Round(time.Millisecond))

		st := mustStatus(t, ctx, r1)
		if !st.IsPrimary || st.TimeLineID != 2 || st.SystemID != before.SystemID {
			t.Errorf("new primary: %+v", st)
		}
		if got, err := itemRows(ctx, r1, "items"); err != nil || got != (rows{2050, 2050, 2050}) {
			t.Errorf("new primary has %+v (%v), want every committed row: 2050", got, err)
		}
		for _, f := range []*Server{p, r2} {
			st := mustStatus(t, ctx, f)
			if st.IsPrimary || !st.IsWalReceiverActive || st.TimeLineID != 2 || f.Upstream() != r1 {
				t.Errorf("%s after Follow: %+v", f.Name, st)
			}
		}
		sqlExec(t, ctx, r1, "INSERT INTO items VALUES (5000, 'after the switchover')")
		for _, f := range []*Server{p, r2} {
			eventually(t, ctx, f.Name+" replicates a row written after the switchover", func() (bool, string) {
				got, err := itemRows(ctx, f, "items")
				return err == nil && got == (rows{2051, 2051, 5000}), fmt.Sprintf("%+v %v", got, err)
			})
		}
		eventually(t, ctx, "new primary lists both followers as streaming", func() (bool, string) {
			st, err := r1.Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			var names []string
			for _, r := range st.ReplicationInfo {
				if r.State == "streaming" {
					names = append(names, r.ApplicationName)
				}
			}
			return strings.Join(names, ",") == "pg-1,pg-3", fmt.Sprint(st.ReplicationInfo)
		})
		// The shape the operator double serves as /pg/status.
		raw, err := json.Marshal(mustStatus(t, ctx, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{`"isPrimary":false`, `"isWalReceiverActive":true`, `"receivedLsn":`, `"replayLsn":`, `"timeLineID":2`, `"systemID":`} {
			if !strings.Contains(string(raw), key) {
				t.Errorf("status JSON %s lacks %s", raw, key)
			}
		}
	})
}

// TestBouncerAcrossSwitchover writes through PgBouncer (transaction pooling)
// while the backend is switched over behind a PAUSE: the client sees a
// stall, never an error, and no committed row is lost.
func TestBouncerAcrossSwitchover(t *testing.T) {
	t.Parallel()
	tl := findTools(t)
	ctx := testContext(t, 90*time.Second)
	dir := t.TempDir()
	p := startPrimary(t, ctx, tl, dir, "pgb-1", nil)
	r := startReplica(t, ctx, tl, dir, "pgb-2", p)
	b, err := tl.StartBouncer(ctx, "bouncer", p, BouncerOptions{Dir: dir, PoolMode: "transaction", DefaultPoolSize: 4, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close bouncer: %v", err)
		}
	})
	sqlExec(t, ctx, p, "CREATE TABLE ledger (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")

	// The client: one connection through the bouncer, one row per
	// transaction, recording what was committed, every error, and the
	// longest single statement.
	var (
		mu        sync.Mutex
		committed []int
		errs      []error
		longest   time.Duration
	)
	progress := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(committed)
	}
	// Stopped by a flag, not by cancelling a statement whose commit the
	// client would then not know about.
	var stop atomic.Bool
	done := make(chan struct{})
	conn, err := pgx.Connect(ctx, b.DSN(AppDatabase, AppUser))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	go func() {
		defer close(done)
		for id := 1; !stop.Load() && ctx.Err() == nil; id++ {
			t0 := time.Now()
			_, err := conn.Exec(ctx, "INSERT INTO ledger (id) VALUES ($1)", id)
			d := time.Since(t0)
			mu.Lock()
			if err == nil {
				committed = append(committed, id)
				longest = max(longest, d)
			} else {
				errs = append(errs, fmt.Errorf("insert %d: %w", id, err))
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	eventually(t, ctx, "client writes through the bouncer", func() (bool, string) { n := progress(); return n >= 50, fmt.Sprint(n) })

	t0 := time.Now()
	if err := b.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	paused := time.Since(t0)
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Retarget(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := b.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	window := time.Since(t0)
	atResume := progress()
	eventually(t, ctx, "client goes on after Resume", func() (bool, string) { n := progress(); return n >= atResume+50, fmt.Sprint(n) })
	stop.Store(true)
	<-done
	// The old primary rejoins as a follower, as after any switchover.
	if err := p.Follow(ctx, r); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Errorf("client saw an error: %v", e)
	}
	if b.Backend() != r {
		t.Errorf("bouncer backend is %s, want %s", b.Backend().Name, r.Name)
	}
	got, err := itemRows(ctx, r, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	// Ids are consecutive from 1, so count, distinct count and max pin the set.
	n := len(committed)
	if want := (rows{n, n, committed[n-1]}); got != want || committed[n-1] != n {
		t.Errorf("new primary has %+v, the client committed %d rows (last id %d)", got, n, committed[n-1])
	}
	t.Logf("bouncer: PAUSE took %v; pause-to-resume window %v; longest client stall %v; %d rows committed, %d after resume",
		paused.Round(time.Millisecond), window.Round(time.Millisecond), longest.Round(time.Millisecond), n, n-atResume)
}

// TestSettingsAndParameters reads pg_settings, changes a sighup parameter
// with a reload and a postmaster one with a restart.
func TestSettingsAndParameters(t *testing.T) {
	t.Parallel()
	tl := findTools(t)
	ctx := testContext(t, 60*time.Second)
	dir := t.TempDir()
	p := startPrimary(t, ctx, tl, dir, "cfg-1", map[string]string{"max_connections": "40"})

	// A server that cannot start: the error carries its log, nothing is left.
	_, err := tl.StartPrimary(ctx, "cfg-bad", ServerOptions{Dir: dir, Parameters: map[string]string{"shared_buffers": "lots"}})
	if err == nil || !strings.Contains(err.Error(), `invalid value for parameter "shared_buffers"`) {
		t.Errorf("start with a bad parameter value: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "cfg-bad")); !os.IsNotExist(serr) {
		t.Errorf("failed start left its folder: %v", serr)
	}

	set, err := p.Settings(ctx, "max_connections", "checkpoint_timeout", "wal_level")
	if err != nil {
		t.Fatal(err)
	}
	mc := set["max_connections"]
	if mc.Setting != "40" || mc.Context != "postmaster" || mc.VarType != "integer" || mc.Min != "1" || mc.Max != "262143" || mc.PendingRestart {
		t.Errorf("max_connections: %+v", mc)
	}
	if ct := set["checkpoint_timeout"]; ct.Context != "sighup" || ct.Unit != "s" || ct.Min == "" || ct.Max == "" {
		t.Errorf("checkpoint_timeout: %+v", ct)
	}
	if wl := set["wal_level"]; wl.Setting != "replica" || wl.VarType != "enum" || !strings.Contains(strings.Join(wl.EnumVals, ","), "logical") {
		t.Errorf("wal_level: %+v", wl)
	}
	if _, err := p.Settings(ctx, "no_such_setting"); err == nil || !strings.Contains(err.Error(), "no_such_setting") {
		t.Errorf("unknown setting: %v", err)
	}
	if all, err := p.Settings(ctx); err != nil || len(all) < 300 {
		t.Errorf("all settings: %d (%v)", len(all), err)
	}

	if err := p.SetParameters(ctx, map[string]string{"checkpoint_timeout": "7min", "work_mem": "8MB"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"checkpoint_timeout": "7min", "work_mem": "8MB"} {
		if got, err := p.Show(ctx, name); err != nil || got != want {
			t.Errorf("SHOW %s after SetParameters = %q (%v), want %q", name, got, err, want)
		}
	}

	if err := p.SetParameters(ctx, map[string]string{"max_connections": "45"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Show(ctx, "max_connections"); got != "40" {
		t.Errorf("max_connections before restart = %q, want 40", got)
	}
	if st := mustStatus(t, ctx, p); !st.PendingRestart {
		t.Errorf("status after a postmaster change: %+v", st)
	}
	if set, err := p.Settings(ctx, "max_connections"); err != nil || !set["max_connections"].PendingRestart {
		t.Errorf("max_connections pending restart: %+v (%v)", set, err)
	}
	t0 := time.Now()
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(t0).Round(time.Millisecond))
	if got, _ := p.Show(ctx, "max_connections"); got != "45" {
		t.Errorf("max_connections after restart = %q, want 45", got)
	}
	if st := mustStatus(t, ctx, p); st.PendingRestart {
		t.Errorf("status after restart: %+v", st)
	}

	for _, bad := range []string{"max_connections; DROP TABLE x", "all", "", "1x"} {
		if _, err := p.Show(ctx, bad); err == nil {
			t.Errorf("Show(%q): no error", bad)
		}
	}
	if err := p.SetParameters(ctx, map[string]string{"work_mem = 1; --": "1"}); err == nil {
		t.Error("SetParameters with a bad name: no error")
	}
	if err := p.SetParameters(ctx, map[string]string{"work_mem": "lots"}); err == nil {
		t.Error("SetParameters with a bad value: no error")
	}
}

// TestFollowRewindsAndFallsBack makes a real divergence (a replica promoted
// while its primary keeps writing) that Follow must rewind, then a data
// folder pg_rewind cannot use, from which Follow must rebuild with a base
// backup.
func TestFollowRewindsAndFallsBack(t *testing.T) {
	t.Parallel()
	tl := findTools(t)
	ctx := testContext(t, 90*time.Second)
	dir := t.TempDir()
	p := startPrimary(t, ctx, tl, dir, "rw-1", nil)
	r := startReplica(t, ctx, tl, dir, "rw-2", p)
	sqlExec(t, ctx, p, "CREATE TABLE items (id int PRIMARY KEY)", "INSERT INTO items SELECT generate_series(1, 100)")
	target := mustLSN(t, mustStatus(t, ctx, p).CurrentLSN)
	eventually(t, ctx, "replica replays", func() (bool, string) { return replayedTo(ctx, r, target) })

	// A failover with the old primary still up: both write, histories fork.
	if err := r.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	sqlExec(t, ctx, p, "INSERT INTO items SELECT generate_series(101, 200)")
	sqlExec(t, ctx, r, "INSERT INTO items SELECT generate_series(1001, 1010)")
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := p.Follow(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewind of a diverged primary + start: %v", time.Since(t0).Round(time.Millisecond))
	logText, _ := os.ReadFile(p.LogPath())
	if !strings.Contains(string(logText), "rewinding from last common checkpoint") || strings.Contains(string(logText), "fresh base backup") {
		t.Errorf("expected a real pg_rewind, no base backup; log:\n%s", tailFile(p.LogPath(), 40))
	}
	eventually(t, ctx, "rewound server drops its diverged rows and follows", func() (bool, string) {
		got, err := itemRows(ctx, p, "items")
		return err == nil && got == (rows{110, 110, 1010}), fmt.Sprintf("%+v %v", got, err)
	})

	// A data folder pg_rewind refuses: Follow falls back to pg_basebackup.
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(p.DataDir(), "global", "pg_control")); err != nil {
		t.Fatal(err)
	}
	sqlExec(t, ctx, r, "INSERT INTO items VALUES (2000)")
	t0 = time.Now()
	if err := p.Follow(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("fallback base backup + start: %v", time.Since(t0).Round(time.Millisecond))
	logText, _ = os.ReadFile(p.LogPath())
	if !strings.Contains(string(logText), "fresh base backup") {
		t.Errorf("expected the base backup fallback; log:\n%s", tailFile(p.LogPath(), 40))
	}
	if st := mustStatus(t, ctx, p); st.IsPrimary || !st.IsWalReceiverActive {
		t.Errorf("rebuilt follower: %+v", st)
	}
	eventually(t, ctx, "rebuilt follower has every row", func() (bool, string) {
		got, err := itemRows(ctx, p, "items")
		return err == nil && got == (rows{111, 111, 2000}), fmt.Sprintf("%+v %v", got, err)
	})

	// Kill (a crash) then Start: crash recovery, and it streams again.
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := mustStatus(t, ctx, p); st.IsPrimary || !st.IsWalReceiverActive {
		t.Errorf("restarted follower after a crash: %+v", st)
	}
	// Close is idempotent and removes the folder.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir()); !os.IsNotExist(err) {
		t.Errorf("folder left after Close: %v", err)
	}
	if err := p.Start(ctx); err == nil {
		t.Error("Start after Close: no error")
	}
}
