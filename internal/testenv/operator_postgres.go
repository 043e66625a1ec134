package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironflow/scaling/internal/pgproc"
)

// PostgresBackend runs a real PostgreSQL 15 server on loopback behind each
// instance pod (a primary and streaming replicas made by pg_basebackup) and
// a real PgBouncer behind each Pooler: a switchover stops the primary
// cleanly, promotes the target, points the poolers at it and re-attaches
// the old primary and the other replicas with pg_rewind. What the library
// reads through the pod proxy is these servers' own positions.
type PostgresBackend struct {
	tools *pgproc.Tools
	dir   string

	mu sync.Mutex
	// n numbers the processes: their folders and application names stay
	// short (a unix socket path has 107 bytes).
	n        int
	servers  map[string]*pgproc.Server
	bouncers map[string]*bouncer
}

type bouncer struct {
	b               *pgproc.Bouncer
	cluster, target string
	paused          bool
}

// NewPostgresBackend finds the PostgreSQL and PgBouncer programs and keeps
// the servers' folders under dir.
func NewPostgresBackend(dir string) (*PostgresBackend, error) {
	tools, err := pgproc.Find()
	if err != nil {
		return nil, err
	}
	return &PostgresBackend{tools: tools, dir: dir, servers: map[string]*pgproc.Server{}, bouncers: map[string]*bouncer{}}, nil
}

// Server is the PostgreSQL server behind an instance, nil when none runs.
func (b *PostgresBackend) Server(namespace, instance string) *pgproc.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.servers[memKey(namespace, instance)]
}

// Bouncer is the PgBouncer behind a Pooler, nil when none runs.
func (b *PostgresBackend) Bouncer(namespace, pooler string) *pgproc.Bouncer {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.bouncers[memKey(namespace, pooler)]; p != nil {
		return p.b
	}
	return nil
}

func (b *PostgresBackend) nextName(kind string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return fmt.Sprintf("%s%d", kind, b.n)
}

func (b *PostgresBackend) server(namespace, instance string) (*pgproc.Server, error) {
	s := b.Server(namespace, instance)
	if s == nil {
		return nil, fmt.Errorf("postgres backend: no server runs instance %s/%s", namespace, instance)
	}
	return s, nil
}

// StartInstance implements Backend.
func (b *PostgresBackend) StartInstance(ctx context.Context, namespace, instance, primary string, parameters map[string]string) error {
	opts := pgproc.ServerOptions{Dir: b.dir, Parameters: maps.Clone(parameters)}
	var (
		s   *pgproc.Server
		err error
	)
	if primary == "" {
		s, err = b.tools.StartPrimary(ctx, b.nextName("pg"), opts)
	} else {
		p, perr := b.server(namespace, primary)
		if perr != nil {
			return perr
		}
		s, err = b.tools.StartReplica(ctx, b.nextName("pg"), p, opts)
	}
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.servers[memKey(namespace, instance)] = s
	b.mu.Unlock()
	return nil
}

// StopInstance implements Backend.
func (b *PostgresBackend) StopInstance(_ context.Context, namespace, instance string) error {
	b.mu.Lock()
	s := b.servers[memKey(namespace, instance)]
	delete(b.servers, memKey(namespace, instance))
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

// Switchover implements Backend, in the operator's order: the primary
// stops cleanly (its last WAL reaches the replicas), the target is
// promoted, the poolers are pointed at it (held clients continue there),
// and the others follow it.
func (b *PostgresBackend) Switchover(ctx context.Context, namespace, cluster, from, to string, replicas []string) error {
	old, err := b.server(namespace, from)
	if err != nil {
		return err
	}
	target, err := b.server(namespace, to)
	if err != nil {
		return err
	}
	if err := old.Stop(ctx); err != nil {
		return fmt.Errorf("stopping the primary %s: %w", from, err)
	}
	if err := target.Promote(ctx); err != nil {
		return fmt.Errorf("promoting %s: %w", to, err)
	}
	b.mu.Lock()
	var follow []*bouncer
	for _, p := range b.bouncers {
		if p.cluster == memKey(namespace, cluster) {
			follow = append(follow, p)
		}
	}
	b.mu.Unlock()
	for _, p := range follow {
		if err := p.b.Retarget(ctx, target); err != nil {
			return fmt.Errorf("pointing a pooler at %s: %w", to, err)
		}
		p.target = to
	}
	for _, r := range append([]string{from}, replicas...) {
		s, err := b.server(namespace, r)
		if err != nil {
			return err
		}
		if err := s.Follow(ctx, target); err != nil {
			return fmt.Errorf("re-attaching %s to %s: %w", r, to, err)
		}
	}
	return nil
}

// Configure implements Backend: ALTER SYSTEM and a reload on every
// instance, then a restart of those that need one. A hot standby refuses
// to run with max_connections (and its kin) below its primary's, so the
// order is the operator's: replicas first when such a setting grows,
// the primary first when one shrinks.
func (b *PostgresBackend) Configure(ctx context.Context, namespace string, instances []string, parameters map[string]string) error {
	var primary *pgproc.Server
	var replicas []*pgproc.Server
	shrinks := false
	for _, i := range instances {
		s, err := b.server(namespace, i)
		if err != nil {
			return err
		}
		st, err := s.Status(ctx)
		if err != nil {
			return err
		}
		if !st.IsPrimary {
			replicas = append(replicas, s)
			continue
		}
		primary = s
		for name, v := range parameters {
			if !standbySensitive[name] {
				continue
			}
			cur, err := s.Show(ctx, name)
			if err != nil {
				return err
			}
			a, errA := strconv.Atoi(v)
			c, errC := strconv.Atoi(cur)
			if errA == nil && errC == nil && a < c {
				shrinks = true
			}
		}
	}
	order := replicas
	if primary != nil {
		if shrinks {
			order = append([]*pgproc.Server{primary}, replicas...)
		} else {
			order = append(order, primary)
		}
	}
	for _, s := range order {
		if err := s.SetParameters(ctx, parameters); err != nil {
			return err
		}
		st, err := s.Status(ctx)
		if err != nil {
			return err
		}
		if st.PendingRestart {
			if err := s.Restart(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// standbySensitive are the settings a hot standby must hold at least as
// high as its primary (PostgreSQL's CheckRequiredParameterValues).
var standbySensitive = map[string]bool{"max_connections": true, "max_worker_processes": true, "max_wal_senders": true, "max_prepared_transactions": true, "max_locks_per_transaction": true}

// Status implements Backend.
func (b *PostgresBackend) Status(ctx context.Context, namespace, instance string) ([]byte, bool, error) {
	s := b.Server(namespace, instance)
	if s == nil {
		return nil, false, nil
	}
	st, err := s.Status(ctx)
	if err != nil {
		return nil, true, err
	}
	doc, err := json.Marshal(st)
	return doc, true, err
}

// Pooler implements Backend.
func (b *PostgresBackend) Pooler(ctx context.Context, namespace, pooler, cluster, primary string, paused bool) error {
	target, err := b.server(namespace, primary)
	if err != nil {
		return err
	}
	key := memKey(namespace, pooler)
	b.mu.Lock()
	p := b.bouncers[key]
	b.mu.Unlock()
	if p == nil {
		bb, err := b.tools.StartBouncer(ctx, b.nextName("bouncer"), target, pgproc.BouncerOptions{Dir: b.dir, PoolMode: "transaction"})
		if err != nil {
			return err
		}
		p = &bouncer{b: bb, cluster: memKey(namespace, cluster), target: primary}
		b.mu.Lock()
		b.bouncers[key] = p
		b.mu.Unlock()
	}
	if p.target != primary {
		if err := p.b.Retarget(ctx, target); err != nil {
			return err
		}
		p.target = primary
	}
	if p.paused != paused {
		var err error
		if paused {
			err = p.b.Pause(ctx)
		} else {
			err = p.b.Resume(ctx)
		}
		if err != nil {
			return err
		}
		p.paused = paused
	}
	return nil
}

// RemovePooler implements Backend.
func (b *PostgresBackend) RemovePooler(_ context.Context, namespace, pooler string) error {
	b.mu.Lock()
	p := b.bouncers[memKey(namespace, pooler)]
	delete(b.bouncers, memKey(namespace, pooler))
	b.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.b.Close()
}

// Exec runs a command of an instance pod's postgres container against its
// server: psql, the one program the library runs there (postgres.PSQL),
// pointed at the server's loopback address as the postgres user. It is
// the pods/exec hop a KWOK pod cannot serve, like the pod proxy's.
func (b *PostgresBackend) Exec(ctx context.Context, pod *corev1.Pod, container string, command []string) (string, error) {
	if container != "postgres" || len(command) == 0 || command[0] != "psql" {
		return "", fmt.Errorf("postgres backend: exec runs psql in the postgres container only, not %q in %q", command, container)
	}
	s, err := b.server(pod.Namespace, pod.Name)
	if err != nil {
		return "", err
	}
	psql := b.tools.BinDir + "/psql"
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port()), "-U", "postgres", "-d", "postgres"}, command[1:]...)
	cmd := exec.CommandContext(ctx, psql, args...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("psql: %w: %s", err, ee.Stderr)
		}
		return "", err
	}
	return string(out), nil
}
