package pgproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ironflow/scaling/internal/ports"
)

// Roles every primary gets (and its replicas inherit through base backups).
const (
	// AppUser is a LOGIN role that owns database AppDatabase.
	AppUser     = "app"
	AppDatabase = "app"
	// Superuser is initdb's superuser; pgproc's own queries and pg_rewind use it.
	Superuser = "postgres"
	// replicationUser streams to replicas, as CloudNativePG's
	// streaming_replica does (REPLICATION LOGIN, not superuser).
	replicationUser = "streaming_replica"
)

var (
	// ErrNotRunning is returned (wrapped) by queries on a server that is stopped.
	ErrNotRunning = errors.New("pgproc: server is not running")
	// ErrClosed is returned (wrapped) by every method of a closed server.
	ErrClosed = errors.New("pgproc: server is closed")
)

// ServerOptions configure a server.
type ServerOptions struct {
	// Dir is the parent folder; the server's own folder, named after it, is
	// created inside it (and must not exist yet). Required. When the caller
	// is root, Dir and its ancestors get the others-search bit (o+x) where
	// the postgres user could not otherwise reach the server's folder.
	Dir string
	// Parameters are extra postgresql.conf settings, e.g. max_connections.
	// A replica starts from its primary's Parameters, overridden by its own:
	// a hot standby must match some of them (max_connections, ...).
	Parameters map[string]string
	// Log, when set, receives the server's log lines and the output of the
	// programs run for it; nil discards them. Either way they are kept in
	// the log file in the server's folder, whose tail start errors include.
	Log io.Writer
}

// Server is one PostgreSQL server on loopback. Its methods are safe for
// concurrent use; lifecycle methods (Start, Stop, Restart, Promote, Follow,
// Close) run one at a time, while queries (Status, Settings, ...) do not
// wait for them.
type Server struct {
	Name string

	tools   *Tools
	dir     string // the server's folder: data/, instance.conf, postgres.log
	dataDir string
	sockDir string // unix_socket_directories
	ownSock bool   // sockDir is a short temporary folder of ours outside dir
	logPath string
	logFile *os.File
	out     io.Writer // logFile, plus ServerOptions.Log
	port    int
	params  map[string]string

	life       context.Context // ends on Close, aborting lifecycle work
	cancelLife context.CancelFunc

	opMu sync.Mutex // serialises lifecycle operations

	mu        sync.Mutex // guards the fields below
	proc      *proc      // the postmaster, nil before the first start
	upstream  *Server    // the server it follows, nil for a primary
	rewinding bool
	closed    bool
}

// StartPrimary creates a new database cluster in opts.Dir/name (initdb),
// starts it, and creates the LOGIN role "app" owning database "app" and the
// replication role replicas stream with. Every connection from loopback is
// trusted (no passwords). It returns the running server, or an error carrying
// the tail of the server's log; on error nothing is left running and the
// folder is removed.
func (t *Tools) StartPrimary(ctx context.Context, name string, opts ServerOptions) (*Server, error) {
	if t == nil {
		return nil, errNilTools
	}
	s, err := t.newServer(name, opts, nil)
	if err != nil {
		return nil, err
	}
	if err := s.initPrimary(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) initPrimary(ctx context.Context) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	t := s.tools
	err := t.run(ctx, s.out, s.dir, t.bin("initdb"),
		"-D", s.dataDir, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C",
		"--no-sync", // a test server: nothing to make durable (see fsync in baseSettings)
		"--no-instructions")
	if err != nil {
		return s.startErr("initdb", err)
	}
	if err := s.prepareDataDir(); err != nil {
		return s.startErr("configuring", err)
	}
	if err := s.firstStart(ctx); err != nil {
		return err
	}
	setup := []string{
		"CREATE ROLE " + AppUser + " LOGIN",
		"CREATE DATABASE " + AppDatabase + " OWNER " + AppUser,
		"CREATE ROLE " + replicationUser + " LOGIN REPLICATION",
	}
	if err := s.exec(ctx, "postgres", Superuser, setup...); err != nil {
		return s.startErr("creating roles", err)
	}
	return nil
}

// StartReplica creates a streaming replica of primary in opts.Dir/name: a
// base backup (pg_basebackup -R -X stream), then a start, then a wait until
// its WAL receiver is streaming from primary (pg_stat_wal_receiver). It
// returns the streaming server, or an error carrying the tail of its log; on
// error nothing is left running and the folder is removed.
func (t *Tools) StartReplica(ctx context.Context, name string, primary *Server, opts ServerOptions) (*Server, error) {
	if t == nil {
		return nil, errNilTools
	}
	if primary == nil || !primary.Running() {
		return nil, fmt.Errorf("pgproc: replica %s: primary is not running", name)
	}
	s, err := t.newServer(name, opts, primary.params)
	if err != nil {
		return nil, err
	}
	if err := s.initReplica(ctx, primary); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) initReplica(ctx context.Context, primary *Server) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.cloneFrom(ctx, primary); err != nil {
		return s.startErr("base backup", err)
	}
	if err := s.firstStart(ctx); err != nil {
		return err
	}
	if err := s.waitStreaming(ctx); err != nil {
		return s.startErr("waiting for streaming", err)
	}
	return nil
}

// newServer makes the server's folder and log; nothing runs yet.
func (t *Tools) newServer(name string, opts ServerOptions, inherited map[string]string) (*Server, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("pgproc: server name %q: use letters, digits, '.', '_', '-'", name)
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("pgproc: server %s: ServerOptions.Dir is required", name)
	}
	params := map[string]string{}
	for k, v := range inherited {
		params[k] = v
	}
	for k, v := range opts.Parameters {
		if err := checkParamName(k); err != nil {
			return nil, err
		}
		params[k] = v
	}
	parent, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := t.ensureTraversable(parent); err != nil {
		return nil, err
	}
	s := &Server{Name: name, tools: t, dir: filepath.Join(parent, name), params: params}
	s.dataDir = filepath.Join(s.dir, "data")
	s.logPath = filepath.Join(s.dir, "postgres.log")
	if err := t.mkdirOwned(s.dir); err != nil {
		return nil, fmt.Errorf("pgproc: server %s: %w", name, err)
	}
	s.life, s.cancelLife = context.WithCancel(context.Background())
	cleanup := func(err error) (*Server, error) {
		s.cancelLife()
		if s.logFile != nil {
			s.logFile.Close()
		}
		os.RemoveAll(s.dir)
		if s.ownSock {
			os.RemoveAll(s.sockDir)
		}
		return nil, fmt.Errorf("pgproc: server %s: %w", name, err)
	}
	// A unix socket path is limited to 107 bytes; a deep Dir gets a short
	// temporary socket folder instead of one inside the server's folder.
	s.sockDir = filepath.Join(s.dir, "sock")
	if len(s.sockDir)+len("/.s.PGSQL.65535.lock") > 100 {
		d, err := os.MkdirTemp("", "pgproc-")
		if err != nil {
			return cleanup(err)
		}
		s.sockDir, s.ownSock = d, true
		if err := t.own(d); err != nil {
			return cleanup(err)
		}
	} else if err := t.mkdirOwned(s.sockDir); err != nil {
		return cleanup(err)
	}
	if s.logFile, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return cleanup(err)
	}
	s.out = s.logFile
	if opts.Log != nil {
		s.out = io.MultiWriter(s.logFile, &syncWriter{w: opts.Log})
	}
	p, err := ports.Free(1)
	if err != nil {
		return cleanup(err)
	}
	s.port = p[0]
	return s, nil
}

// opContext returns ctx, ended early if the server is closed.
func (s *Server) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// firstStart starts a new server, moving to another free port when the one
// picked was taken in the meantime.
func (s *Server) firstStart(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.startLocked(ctx); err == nil {
			return nil
		}
		tail := tailFile(s.logPath, 10)
		if !strings.Contains(tail, "could not bind") && !strings.Contains(tail, "Address already in use") {
			return err
		}
		p, perr := ports.Free(1)
		if perr != nil {
			return err
		}
		s.port = p[0]
		if werr := s.writeInstanceConf(); werr != nil {
			return err
		}
	}
	return err
}

// cloneFrom replaces the data folder with a base backup of primary and makes
// it a standby of primary.
func (s *Server) cloneFrom(ctx context.Context, primary *Server) error {
	if err := os.RemoveAll(s.dataDir); err != nil {
		return err
	}
	err := s.tools.run(ctx, s.out, s.dir, s.tools.bin("pg_basebackup"),
		"-D", s.dataDir, "-R", "-X", "stream",
		"-c", "fast", // checkpoint now rather than spread over minutes
		"-N", // no fsync: see fsync in baseSettings
		"-w", "-d", replicationConnInfo(primary, s.Name))
	if err != nil {
		return err
	}
	if err := s.prepareDataDir(); err != nil {
		return err
	}
	if err := s.writeStandbyConfig(primary); err != nil {
		return err
	}
	s.mu.Lock()
	s.upstream = primary
	s.mu.Unlock()
	return nil
}

func (s *Server) currentProc() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Running reports whether the server's postmaster is running.
func (s *Server) Running() bool {
	p := s.currentProc()
	return p != nil && !p.exited()
}

// Upstream returns the server s streams from (as last set by StartReplica or
// Follow), or nil for a primary.
func (s *Server) Upstream() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upstream
}

func (s *Server) isStandby() bool {
	_, err := os.Stat(filepath.Join(s.dataDir, "standby.signal"))
	return err == nil
}

func (s *Server) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("server %s: %w", s.Name, ErrClosed)
	}
	return nil
}

// Addr returns "127.0.0.1:<port>".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir returns the server's own folder (data/, instance.conf, postgres.log).
func (s *Server) Dir() string { return s.dir }

// DataDir returns the server's data folder (PGDATA).
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the server's log file.
func (s *Server) LogPath() string { return s.logPath }

// DSN returns a libpq/pgx URL that reaches database as user over TCP
// loopback, without TLS or password.
func (s *Server) DSN(database, user string) string {
	u := url.URL{Scheme: "postgres", User: url.User(user), Host: s.Addr(), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}
