package pgproc

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// startTimeout bounds a start (and a wait for streaming) whose context has
// no earlier deadline, so a server that never becomes ready is an error
// rather than a hang.
const startTimeout = 2 * time.Minute

// startLocked starts the postmaster and waits until it accepts connections.
// The caller holds opMu.
func (s *Server) startLocked(ctx context.Context) error {
	if s.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// A postmaster killed earlier may leave backends that have not exited yet.
	if err := waitShmDetached(ctx, s.dataDir); err != nil {
		return s.startErr("starting postgres", err)
	}
	cmd := s.tools.command(s.dir, syscall.SIGQUIT, s.tools.bin("postgres"), "-D", s.dataDir)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	p, err := spawn(cmd)
	if err != nil {
		return s.startErr("starting postgres", err)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	err = poll(ctx, p, func(ctx context.Context) (bool, error) {
		c, err := s.connect(ctx, "postgres", Superuser)
		if err != nil {
			return false, nil // starting up, or recovering: try again
		}
		c.Close(context.Background())
		return true, nil
	})
	if err != nil {
		p.signal(syscall.SIGQUIT)
		p.waitOrKill(3 * time.Second)
		return s.startErr("waiting for postgres to accept connections", err)
	}
	return nil
}

// startErr wraps err with the server's name and the tail of its log.
func (s *Server) startErr(what string, err error) error {
	return fmt.Errorf("pgproc: server %s: %s: %w\n--- last lines of %s ---\n%s",
		s.Name, what, err, s.logPath, tailFile(s.logPath, 25))
}

// poll calls ok every 50 ms until it reports true, returns an error, the
// process p (when not nil) exits, or ctx ends.
func poll(ctx context.Context, p *proc, ok func(context.Context) (bool, error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := ok(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("process exited (%v)", p.err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// waitStreaming waits until the WAL receiver is streaming from the upstream
// on the upstream's own timeline. "streaming" alone is not enough: a server
// whose history forked off the upstream's (a rewind that did not happen)
// keeps reconnecting, streaming briefly on its old timeline and failing.
func (s *Server) waitStreaming(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	up := s.Upstream()
	return poll(ctx, s.currentProc(), func(ctx context.Context) (bool, error) {
		var status string
		var tli int
		err := s.queryRow(ctx, `SELECT coalesce(status, ''), coalesce(received_tli, 0)
			FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver ON true`, nil, &status, &tli)
		if err != nil || status != "streaming" {
			return false, nil
		}
		if up == nil {
			return true, nil
		}
		ust, err := up.Status(ctx)
		return err == nil && ust.TimeLineID == tli, nil
	})
}

// Start starts a stopped server again, with the role its data folder has (a
// standby keeps following its upstream). It returns once the server accepts
// connections and, for a standby whose upstream is running, once it streams.
// Starting a running server does nothing.
func (s *Server) Start(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	return s.startAndFollow(ctx)
}

func (s *Server) startAndFollow(ctx context.Context) error {
	if s.Running() {
		return nil
	}
	if err := s.startLocked(ctx); err != nil {
		return err
	}
	if up := s.Upstream(); up != nil && up.Running() && s.isStandby() {
		if err := s.waitStreaming(ctx); err != nil {
			return s.startErr("waiting for streaming", err)
		}
	}
	return nil
}

// Stop shuts the server down cleanly with a fast shutdown (SIGINT, what
// pg_ctl stop -m fast sends: sessions are ended, a shutdown checkpoint is
// written and, on a primary, streamed to the connected replicas before it
// exits). It returns once the server has exited. If ctx ends first the
// server is stopped immediately instead and the error says so. Stopping a
// stopped server does nothing.
func (s *Server) Stop(ctx context.Context) error {
	if s == nil {
		return nil
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	p := s.currentProc()
	if p == nil || p.exited() {
		return nil
	}
	p.signal(syscall.SIGINT)
	if !p.wait(ctx) {
		p.signal(syscall.SIGQUIT)
		p.waitOrKill(3 * time.Second)
		return fmt.Errorf("pgproc: server %s: fast shutdown did not finish (%w); stopped immediately instead", s.Name, ctx.Err())
	}
	return nil
}

// Kill stops the server abruptly, as a crash or a deleted pod would: SIGKILL
// to the postmaster, whose backends then exit on their own. It returns once
// they are all gone; the data folder then needs crash recovery, which the
// next Start (or Follow's pg_rewind) performs.
func (s *Server) Kill() error {
	if s == nil {
		return nil
	}
	if p := s.currentProc(); p != nil {
		p.kill()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := waitShmDetached(ctx, s.dataDir); err != nil {
			return fmt.Errorf("pgproc: kill %s: %w", s.Name, err)
		}
	}
	return nil
}

// Restart stops the server cleanly and starts it again (see Stop and Start).
func (s *Server) Restart(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.stopLocked(ctx); err != nil {
		return err
	}
	return s.startAndFollow(ctx)
}

// Promote turns a running standby into a primary (pg_ctl promote) and
// returns once pg_is_in_recovery() is false: the server then accepts writes
// on a new timeline. Promoting a primary does nothing.
func (s *Server) Promote(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var inRecovery bool
	if err := s.queryRow(ctx, "SELECT pg_is_in_recovery()", nil, &inRecovery); err != nil {
		return fmt.Errorf("pgproc: promote %s: %w", s.Name, err)
	}
	if !inRecovery {
		return nil
	}
	if err := s.tools.run(ctx, s.out, s.dir, s.tools.bin("pg_ctl"), "promote", "-D", s.dataDir, "-W", "-s"); err != nil {
		return s.startErr("pg_ctl promote", err)
	}
	err := poll(ctx, s.currentProc(), func(ctx context.Context) (bool, error) {
		err := s.queryRow(ctx, "SELECT pg_is_in_recovery()", nil, &inRecovery)
		return err == nil && !inRecovery, nil
	})
	if err != nil {
		return s.startErr("waiting for promotion", err)
	}
	s.mu.Lock()
	s.upstream = nil
	s.mu.Unlock()
	return nil
}

// rewindStreamTimeout bounds how long Follow waits for a rewound server to
// stream before it gives up on the rewind and takes a fresh base backup.
const rewindStreamTimeout = 20 * time.Second

// Follow makes s a streaming replica of primary, as CloudNativePG re-attaches
// an old primary after a switchover: s is stopped cleanly if running,
// rewound with pg_rewind --source-server=primary (a no-op when its history
// has not diverged), given standby.signal and a primary_conninfo naming
// primary, started, and waited for until it streams. When pg_rewind fails,
// or the rewound server does not stream, s is rebuilt from a fresh
// pg_basebackup of primary instead. It returns nil once s streams from primary.
func (s *Server) Follow(ctx context.Context, primary *Server) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if primary == nil || primary == s {
		return fmt.Errorf("pgproc: %s cannot follow itself or nil", s.Name)
	}
	if !primary.Running() {
		return fmt.Errorf("pgproc: %s cannot follow %s: %w", s.Name, primary.Name, ErrNotRunning)
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()

	if err := s.stopLocked(ctx); err != nil {
		return err
	}
	// pg_rewind reads the source's timeline from its control file, which a
	// freshly promoted server updates only at its next checkpoint; without
	// one, pg_rewind sees one timeline and wrongly finds nothing to rewind.
	if err := primary.exec(ctx, "postgres", Superuser, "CHECKPOINT"); err != nil {
		return fmt.Errorf("pgproc: %s cannot follow %s: %w", s.Name, primary.Name, err)
	}
	s.setRewinding(true)
	err := s.tools.run(ctx, s.out, s.dir, s.tools.bin("pg_rewind"),
		"--target-pgdata="+s.dataDir,
		"--source-server="+fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=postgres", primary.port, Superuser),
		"--no-sync")
	s.setRewinding(false)
	if err == nil {
		if err = s.writeStandbyConfig(primary); err == nil {
			s.mu.Lock()
			s.upstream = primary
			s.mu.Unlock()
			wctx, wcancel := context.WithTimeout(ctx, rewindStreamTimeout)
			err = s.startAndFollow(wctx)
			wcancel()
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return err
			}
			_ = s.stopLocked(ctx)
		}
	}
	fmt.Fprintf(s.out, "pgproc: %s: rewind did not work (%v); taking a fresh base backup of %s\n", s.Name, err, primary.Name)
	if err := s.cloneFrom(ctx, primary); err != nil {
		return s.startErr("base backup", err)
	}
	return s.startAndFollow(ctx)
}

func (s *Server) setRewinding(v bool) {
	s.mu.Lock()
	s.rewinding = v
	s.mu.Unlock()
}

// Close stops the server (immediately: its data is about to go) and removes
// its folder. It is idempotent, safe on a nil *Server (what a failed start
// returns), and aborts a lifecycle operation under way.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancelLife()
	immediate := func() {
		if p := s.currentProc(); p != nil {
			p.signal(syscall.SIGQUIT)
			p.waitOrKill(5 * time.Second)
		}
	}
	immediate()
	s.opMu.Lock() // wait for an aborted operation to return
	defer s.opMu.Unlock()
	immediate() // in case it started the server again before it saw Close
	s.logFile.Close()
	err := os.RemoveAll(s.dir)
	if s.ownSock {
		os.RemoveAll(s.sockDir)
	}
	return err
}
