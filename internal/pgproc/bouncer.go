package pgproc

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ironflow/scaling/internal/ports"
)

// BouncerOptions configure a PgBouncer.
type BouncerOptions struct {
	// Dir is the parent folder; the bouncer's own folder, named after it, is
	// created inside it (and must not exist yet). Required.
	Dir string
	// PoolMode is "session", "transaction" (the default) or "statement".
	PoolMode string
	// Pool sizes; 0 keeps PgBouncer's defaults (20, 0 and 100).
	DefaultPoolSize, ReservePoolSize, MaxClientConn int
	// Log, when set, receives PgBouncer's log lines; nil discards them. They
	// are kept in the bouncer's folder either way.
	Log io.Writer
}

// Bouncer is one PgBouncer on loopback in front of a Server. Its methods are
// safe for concurrent use.
type Bouncer struct {
	Name string

	tools    *Tools
	dir      string
	iniPath  string
	logPath  string
	logFile  *os.File
	out      io.Writer
	port     int
	poolMode string
	opts     BouncerOptions

	mu      sync.Mutex // guards the fields below and serialises config rewrites
	backend *Server
	proc    *proc
	closed  bool
}

// StartBouncer starts a PgBouncer on a free 127.0.0.1 port routing database
// "app" (and, through the "*" fallback, any other database) to backend.
// Clients are trusted (auth_type trust; the auth_file lists app and
// postgres), and postgres is an admin user of the "pgbouncer" console. It
// returns once the admin console answers, or an error carrying the tail of
// PgBouncer's log; on error nothing is left running and the folder is removed.
func (t *Tools) StartBouncer(ctx context.Context, name string, backend *Server, opts BouncerOptions) (*Bouncer, error) {
	if t == nil {
		return nil, errNilTools
	}
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("pgproc: bouncer name %q: use letters, digits, '.', '_', '-'", name)
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("pgproc: bouncer %s: BouncerOptions.Dir is required", name)
	}
	if backend == nil {
		return nil, fmt.Errorf("pgproc: bouncer %s: no backend", name)
	}
	mode := opts.PoolMode
	switch mode {
	case "":
		mode = "transaction"
	case "session", "transaction", "statement":
	default:
		return nil, fmt.Errorf("pgproc: bouncer %s: pool mode %q is not session, transaction or statement", name, mode)
	}
	parent, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := t.ensureTraversable(parent); err != nil {
		return nil, err
	}
	b := &Bouncer{Name: name, tools: t, dir: filepath.Join(parent, name), poolMode: mode, opts: opts, backend: backend}
	b.iniPath = filepath.Join(b.dir, "pgbouncer.ini")
	b.logPath = filepath.Join(b.dir, "pgbouncer.log")
	if err := t.mkdirOwned(b.dir); err != nil {
		return nil, fmt.Errorf("pgproc: bouncer %s: %w", name, err)
	}
	if err := b.start(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bouncer) start(ctx context.Context) error {
	var err error
	if b.logFile, err = os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return fmt.Errorf("pgproc: bouncer %s: %w", b.Name, err)
	}
	b.out = b.logFile
	if b.opts.Log != nil {
		b.out = io.MultiWriter(b.logFile, &syncWriter{w: b.opts.Log})
	}
	users := fmt.Sprintf("%q \"\"\n%q \"\"\n", AppUser, Superuser)
	if err := b.tools.writeOwned(filepath.Join(b.dir, "userlist.txt"), []byte(users), 0o600); err != nil {
		return fmt.Errorf("pgproc: bouncer %s: %w", b.Name, err)
	}
	for attempt := 0; ; attempt++ {
		p, err := ports.Free(1)
		if err != nil {
			return err
		}
		b.port = p[0]
		if err = b.writeIni(b.backend); err != nil {
			return fmt.Errorf("pgproc: bouncer %s: %w", b.Name, err)
		}
		if err = b.launch(ctx); err == nil {
			return nil
		}
		// The port may have been taken between picking and binding it.
		if attempt == 2 || !strings.Contains(tailFile(b.logPath, 10), "in use") {
			return err
		}
	}
}

func (b *Bouncer) launch(ctx context.Context) error {
	cmd := b.tools.command(b.dir, syscall.SIGTERM, b.tools.PgBouncer, b.iniPath)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	p, err := spawn(cmd)
	if err != nil {
		return b.startErr("starting pgbouncer", err)
	}
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()
	err = poll(ctx, p, func(ctx context.Context) (bool, error) {
		return b.admin(ctx, "SHOW VERSION") == nil, nil
	})
	if err != nil {
		p.signal(syscall.SIGTERM)
		p.waitOrKill(3 * time.Second)
		return b.startErr("waiting for the admin console", err)
	}
	return nil
}

func (b *Bouncer) startErr(what string, err error) error {
	return fmt.Errorf("pgproc: bouncer %s: %s: %w\n--- last lines of %s ---\n%s",
		b.Name, what, err, b.logPath, tailFile(b.logPath, 25))
}

// writeIni writes pgbouncer.ini routing to backend.
func (b *Bouncer) writeIni(backend *Server) error {
	var w strings.Builder
	fmt.Fprintf(&w, ";; Written by pgproc for bouncer %s.\n[databases]\n", b.Name)
	fmt.Fprintf(&w, "%s = host=127.0.0.1 port=%d dbname=%s\n", AppDatabase, backend.port, AppDatabase)
	fmt.Fprintf(&w, "* = host=127.0.0.1 port=%d\n\n[pgbouncer]\n", backend.port)
	fmt.Fprintf(&w, "listen_addr = 127.0.0.1\nlisten_port = %d\n", b.port)
	w.WriteString("; no unix socket: nothing of ours belongs in /tmp or /var/run\nunix_socket_dir =\n")
	fmt.Fprintf(&w, "auth_type = trust\nauth_file = %s\n", filepath.Join(b.dir, "userlist.txt"))
	fmt.Fprintf(&w, "admin_users = %s\npool_mode = %s\n", Superuser, b.poolMode)
	for _, kv := range []struct {
		k string
		v int
	}{{"default_pool_size", b.opts.DefaultPoolSize}, {"reserve_pool_size", b.opts.ReservePoolSize}, {"max_client_conn", b.opts.MaxClientConn}} {
		if kv.v > 0 {
			fmt.Fprintf(&w, "%s = %d\n", kv.k, kv.v)
		}
	}
	// Log to stderr (the log file); no pid file. Retry a failed server login
	// after 0.5 s rather than 15 s, so a backend that was briefly down (a
	// restart, a promotion) is used again promptly. pgx and libpq may send
	// extra_float_digits, which PgBouncer would otherwise refuse.
	w.WriteString("logfile =\npidfile =\nserver_login_retry = 0.5\nignore_startup_parameters = extra_float_digits\n")
	return b.tools.writeOwned(b.iniPath, []byte(w.String()), 0o600)
}

// admin runs one command on the admin console ("pgbouncer" database), which
// speaks only the simple query protocol.
func (b *Bouncer) admin(ctx context.Context, command string) error {
	cfg, err := pgx.ParseConfig(b.AdminDSN())
	if err != nil {
		return err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.ConnectTimeout = 3 * time.Second
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, command)
	return err
}

// Addr returns "127.0.0.1:<port>".
func (b *Bouncer) Addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

// Port returns the bouncer's TCP port on 127.0.0.1.
func (b *Bouncer) Port() int { return b.port }

// Dir returns the bouncer's own folder (pgbouncer.ini, its log).
func (b *Bouncer) Dir() string { return b.dir }

// Backend returns the server the bouncer currently routes to.
func (b *Bouncer) Backend() *Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.backend
}

// DSN returns a pgx URL that reaches database as user through the bouncer.
// It sets default_query_exec_mode=simple_protocol (a pgx-only parameter: no
// prepared statements, which PgBouncer 1.18 cannot keep across the server
// connections of transaction pooling), so it is not a libpq URL.
func (b *Bouncer) DSN(database, user string) string {
	u := url.URL{Scheme: "postgres", User: url.User(user), Host: b.Addr(), Path: "/" + database,
		RawQuery: "sslmode=disable&default_query_exec_mode=simple_protocol"}
	return u.String()
}

// AdminDSN returns the URL of the admin console (database "pgbouncer", user
// postgres); a client must use the simple query protocol on it.
func (b *Bouncer) AdminDSN() string {
	u := url.URL{Scheme: "postgres", User: url.User(Superuser), Host: b.Addr(), Path: "/pgbouncer", RawQuery: "sslmode=disable"}
	return u.String()
}

// Pause runs PAUSE on the admin console and returns once PgBouncer is
// paused: running transactions (transaction mode) or sessions (session mode)
// have finished, every server connection is closed, and new queries wait in
// PgBouncer until Resume. Pausing a paused bouncer does nothing. If ctx ends
// first, the bouncer is resumed and the error returned.
func (b *Bouncer) Pause(ctx context.Context) error {
	err := b.admin(ctx, "PAUSE")
	if err == nil || strings.Contains(err.Error(), "already") {
		return nil
	}
	// A PAUSE left waiting when its connection ends stays in force: undo it,
	// so a failed Pause does not hold every client forever.
	rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = b.admin(rctx, "RESUME")
	return fmt.Errorf("pgproc: PAUSE on bouncer %s: %w", b.Name, err)
}

// Resume runs RESUME on the admin console: the clients held by Pause go on,
// on new server connections. Resuming a bouncer that is not paused does
// nothing.
func (b *Bouncer) Resume(ctx context.Context) error {
	err := b.admin(ctx, "RESUME")
	if err == nil || strings.Contains(err.Error(), "not paused") {
		return nil
	}
	return fmt.Errorf("pgproc: RESUME on bouncer %s: %w", b.Name, err)
}

// Retarget routes the bouncer to backend: it rewrites the [databases]
// section and runs RELOAD. Clients held by Pause continue on backend after
// Resume; without a pause, server connections to the old backend are closed
// as they are released and new ones go to backend.
func (b *Bouncer) Retarget(ctx context.Context, backend *Server) error {
	if backend == nil {
		return fmt.Errorf("pgproc: retarget bouncer %s: no backend", b.Name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("pgproc: bouncer %s: %w", b.Name, ErrClosed)
	}
	if err := b.writeIni(backend); err != nil {
		return fmt.Errorf("pgproc: retarget bouncer %s: %w", b.Name, err)
	}
	if err := b.admin(ctx, "RELOAD"); err != nil {
		// Keep the file saying what PgBouncer has loaded.
		_ = b.writeIni(b.backend)
		return fmt.Errorf("pgproc: RELOAD on bouncer %s: %w", b.Name, err)
	}
	b.backend = backend
	return nil
}

// Close stops PgBouncer (immediate shutdown: clients are disconnected) and
// removes its folder. It is idempotent and safe on a nil *Bouncer.
func (b *Bouncer) Close() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	p := b.proc
	b.mu.Unlock()
	if p != nil {
		p.signal(syscall.SIGTERM)
		p.waitOrKill(3 * time.Second)
	}
	if b.logFile != nil {
		b.logFile.Close()
	}
	return os.RemoveAll(b.dir)
}
