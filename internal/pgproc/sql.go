package pgproc

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// connect opens a connection to the server over TCP loopback. A stopped or
// closed server is reported as ErrNotRunning / ErrClosed rather than as a
// refused connection, with the log tail when the server died on its own.
func (s *Server) connect(ctx context.Context, database, user string) (*pgx.Conn, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	p := s.currentProc()
	if p == nil || p.exited() {
		if p != nil && p.err != nil {
			return nil, fmt.Errorf("server %s: %w: postmaster exited (%v)\n%s", s.Name, ErrNotRunning, p.err, tailFile(s.logPath, 10))
		}
		return nil, fmt.Errorf("server %s: %w", s.Name, ErrNotRunning)
	}
	cfg, err := pgx.ParseConfig(s.DSN(database, user))
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 3 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// queryRow runs one query as the superuser on database postgres and scans
// its single row into dest.
func (s *Server) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	c, err := s.connect(ctx, "postgres", Superuser)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.QueryRow(ctx, sql, args...).Scan(dest...)
}

// exec runs statements one by one (each in its own implicit transaction, as
// CREATE DATABASE and ALTER SYSTEM require) on database as user.
func (s *Server) exec(ctx context.Context, database, user string, statements ...string) error {
	c, err := s.connect(ctx, database, user)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	for _, st := range statements {
		if _, err := c.Exec(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
	}
	return nil
}

// PauseReplay asks a replica to pause WAL replay (pg_wal_replay_pause()): it
// keeps receiving WAL but stops applying it, so its ReplayLSN falls behind.
// The pause takes effect before the next record is replayed; Status reports
// ReplayPaused from the request on.
func (s *Server) PauseReplay(ctx context.Context) error {
	if err := s.exec(ctx, "postgres", Superuser, "SELECT pg_wal_replay_pause()"); err != nil {
		return fmt.Errorf("pgproc: pause replay on %s: %w", s.Name, err)
	}
	return nil
}

// ResumeReplay resumes WAL replay on a replica (pg_wal_replay_resume()).
func (s *Server) ResumeReplay(ctx context.Context) error {
	if err := s.exec(ctx, "postgres", Superuser, "SELECT pg_wal_replay_resume()"); err != nil {
		return fmt.Errorf("pgproc: resume replay on %s: %w", s.Name, err)
	}
	return nil
}

// Setting is one row of pg_settings.
type Setting struct {
	Name           string
	Setting        string   // current value, in Unit
	Unit           string   // e.g. "kB", "ms", "8kB"; "" when unitless
	Context        string   // when it can change: "postmaster", "sighup", "superuser", "user", ...
	VarType        string   // "bool", "enum", "integer", "real", "string"
	Min, Max       string   // numeric bounds; "" for non-numeric settings
	EnumVals       []string // allowed values of an enum; nil otherwise
	BootVal        string   // compiled-in default
	ResetVal       string   // value RESET would restore
	Source         string   // where the current value came from: "default", "configuration file", ...
	PendingRestart bool     // changed in the files, but needs a restart to apply
}

// Settings returns the named settings from pg_settings, keyed by name
// (lower case, as pg_settings has them); with no names, all of them. An
// unknown name is an error naming it.
func (s *Server) Settings(ctx context.Context, names ...string) (map[string]Setting, error) {
	want := make([]string, 0, len(names))
	for _, n := range names {
		want = append(want, strings.ToLower(n))
	}
	c, err := s.connect(ctx, "postgres", Superuser)
	if err != nil {
		return nil, fmt.Errorf("pgproc: settings of %s: %w", s.Name, err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, `SELECT name, coalesce(setting, ''), coalesce(unit, ''), context, vartype,
		coalesce(min_val, ''), coalesce(max_val, ''), enumvals, coalesce(boot_val, ''),
		coalesce(reset_val, ''), source, pending_restart
		FROM pg_settings WHERE cardinality($1::text[]) = 0 OR name = ANY($1::text[])`, want)
	if err != nil {
		return nil, fmt.Errorf("pgproc: settings of %s: %w", s.Name, err)
	}
	out := map[string]Setting{}
	for rows.Next() {
		var st Setting
		if err := rows.Scan(&st.Name, &st.Setting, &st.Unit, &st.Context, &st.VarType, &st.Min, &st.Max,
			&st.EnumVals, &st.BootVal, &st.ResetVal, &st.Source, &st.PendingRestart); err != nil {
			return nil, fmt.Errorf("pgproc: settings of %s: %w", s.Name, err)
		}
		out[st.Name] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgproc: settings of %s: %w", s.Name, err)
	}
	var unknown []string
	for _, n := range want {
		if _, ok := out[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("pgproc: %s has no setting named %s", s.Name, strings.Join(unknown, ", "))
	}
	return out, nil
}

// Show returns SHOW name: the current value as PostgreSQL displays it, with
// its unit (e.g. "128MB", "7min"). name must be a parameter name.
func (s *Server) Show(ctx context.Context, name string) (string, error) {
	if err := checkParamName(name); err != nil {
		return "", err
	}
	var v string
	if err := s.queryRow(ctx, "SHOW "+name, nil, &v); err != nil {
		return "", fmt.Errorf("pgproc: SHOW %s on %s: %w", name, s.Name, err)
	}
	return v, nil
}

// SetParameters runs ALTER SYSTEM SET name = 'value' for each parameter (in
// name order), then pg_reload_conf(), and returns once the server has
// reloaded its configuration, so a new session sees the new sighup/user
// values. It does not restart: a postmaster parameter is then pending
// restart (Status.PendingRestart, Setting.PendingRestart) until Restart.
// Each value is sent as one string literal.
func (s *Server) SetParameters(ctx context.Context, params map[string]string) error {
	names := make([]string, 0, len(params))
	for k := range params {
		if err := checkParamName(k); err != nil {
			return err
		}
		names = append(names, k)
	}
	sort.Strings(names)
	c, err := s.connect(ctx, "postgres", Superuser)
	if err != nil {
		return fmt.Errorf("pgproc: set parameters on %s: %w", s.Name, err)
	}
	defer c.Close(context.Background())
	for _, k := range names {
		if _, err := c.Exec(ctx, "ALTER SYSTEM SET "+k+" = "+sqlQuote(params[k])); err != nil {
			return fmt.Errorf("pgproc: ALTER SYSTEM SET %s on %s: %w", k, s.Name, err)
		}
	}
	// pg_reload_conf() only signals the postmaster. pg_conf_load_time() in a
	// new session is the postmaster's last load time, so a newer one means
	// new sessions start with the reloaded configuration.
	var before time.Time
	if err := c.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before); err != nil {
		return fmt.Errorf("pgproc: reload %s: %w", s.Name, err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("pgproc: reload %s: %w", s.Name, err)
	}
	err = poll(ctx, s.currentProc(), func(ctx context.Context) (bool, error) {
		var now time.Time
		err := s.queryRow(ctx, "SELECT pg_conf_load_time()", nil, &now)
		return err == nil && now.After(before), nil
	})
	if err != nil {
		return fmt.Errorf("pgproc: waiting for %s to reload: %w", s.Name, err)
	}
	return nil
}
