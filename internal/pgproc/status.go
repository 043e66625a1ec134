package pgproc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Status has the JSON shape of CloudNativePG's instance manager
// GET /pg/status (the fields a switchover looks at; the tags are CNPG's).
type Status struct {
	// SystemID is pg_control_system().system_identifier: the same on a
	// primary and all its replicas.
	SystemID  string `json:"systemID"`
	IsPrimary bool   `json:"isPrimary"`
	// CurrentLSN is pg_current_wal_lsn() on a primary; "" on a replica, as
	// CNPG reports it.
	CurrentLSN string `json:"currentLsn,omitempty"`
	// ReceivedLSN is pg_last_wal_receive_lsn() on a replica (raised to
	// ReplayLSN when read after it, as CNPG does); "" on a primary.
	ReceivedLSN string `json:"receivedLsn,omitempty"`
	// ReplayLSN is pg_last_wal_replay_lsn() on a replica; "" on a primary.
	ReplayLSN string `json:"replayLsn,omitempty"`
	// IsWalReceiverActive: a replica's WAL receiver is running (a row in
	// pg_stat_wal_receiver).
	IsWalReceiverActive bool `json:"isWalReceiverActive"`
	// ReplayPaused: pg_get_wal_replay_pause_state() is not 'not paused'
	// (paused, or pause requested).
	ReplayPaused bool `json:"replayPaused"`
	// PendingRestart: some setting in pg_settings is pending_restart.
	PendingRestart bool `json:"pendingRestart"`
	// IsPgRewindRunning: Follow is running pg_rewind on this (stopped)
	// server; nothing else is filled in then, as in CNPG.
	IsPgRewindRunning bool `json:"isPgRewindRunning"`
	// TimeLineID is the primary's current timeline (the one its WAL is
	// written on, so it is right straight after a promotion, unlike
	// pg_control_checkpoint()'s until the next checkpoint). On a replica,
	// which CNPG leaves at 0, it is the timeline it receives (or its last
	// restartpoint's when not streaming).
	TimeLineID int `json:"timeLineID,omitempty"`
	// CurrentWAL is pg_walfile_name(pg_current_wal_lsn()) on a primary.
	CurrentWAL string `json:"currentWAL,omitempty"`
	// ReplicationInfo is pg_stat_replication on a primary.
	ReplicationInfo []Replication `json:"replicationInfo,omitempty"`
}

// Replication is one row of a primary's pg_stat_replication, with CNPG's
// JSON tags (CNPG names the sent position "receivedLsn").
type Replication struct {
	ApplicationName string `json:"applicationName,omitempty"`
	State           string `json:"state,omitempty"`
	SentLSN         string `json:"receivedLsn,omitempty"`
	WriteLSN        string `json:"writeLsn,omitempty"`
	FlushLSN        string `json:"flushLsn,omitempty"`
	ReplayLSN       string `json:"replayLsn,omitempty"`
	SyncState       string `json:"syncState,omitempty"`
}

// Status reads the server's state the way CNPG's instance manager does. A
// stopped server is an error wrapping ErrNotRunning, except while Follow
// runs pg_rewind on it, which is reported as IsPgRewindRunning.
func (s *Server) Status(ctx context.Context) (*Status, error) {
	s.mu.Lock()
	rewinding := s.rewinding
	s.mu.Unlock()
	if rewinding {
		return &Status{IsPgRewindRunning: true}, nil
	}
	st, err := s.status(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55000" {
		// object_not_in_prerequisite_state: promoted between our checks of
		// pg_is_in_recovery() and the replica-only functions; read again.
		st, err = s.status(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("pgproc: status of %s: %w", s.Name, err)
	}
	return st, nil
}

func (s *Server) status(ctx context.Context) (*Status, error) {
	c, err := s.connect(ctx, "postgres", Superuser)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	st := &Status{}
	var inRecovery bool
	err = c.QueryRow(ctx, `SELECT (pg_control_system()).system_identifier::text, pg_is_in_recovery(),
		EXISTS(SELECT 1 FROM pg_settings WHERE pending_restart)`).Scan(&st.SystemID, &inRecovery, &st.PendingRestart)
	if err != nil {
		return nil, err
	}
	st.IsPrimary = !inRecovery
	if st.IsPrimary {
		return st, fillPrimary(ctx, c, st)
	}
	return st, fillReplica(ctx, c, st)
}

func fillPrimary(ctx context.Context, c *pgx.Conn, st *Status) error {
	err := c.QueryRow(ctx, `SELECT l::text, pg_walfile_name(l), ('x' || substr(pg_walfile_name(l), 1, 8))::bit(32)::int
		FROM pg_current_wal_lsn() AS l`).Scan(&st.CurrentLSN, &st.CurrentWAL, &st.TimeLineID)
	if err != nil {
		return err
	}
	rows, err := c.Query(ctx, `SELECT coalesce(application_name, ''), coalesce(state, ''),
		coalesce(sent_lsn::text, ''), coalesce(write_lsn::text, ''), coalesce(flush_lsn::text, ''),
		coalesce(replay_lsn::text, ''), coalesce(sync_state, '')
		FROM pg_stat_replication ORDER BY application_name`)
	if err != nil {
		return err
	}
	st.ReplicationInfo, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Replication, error) {
		var x Replication
		err := r.Scan(&x.ApplicationName, &x.State, &x.SentLSN, &x.WriteLSN, &x.FlushLSN, &x.ReplayLSN, &x.SyncState)
		return x, err
	})
	return err
}

func fillReplica(ctx context.Context, c *pgx.Conn, st *Status) error {
	err := c.QueryRow(ctx, `SELECT coalesce(pg_last_wal_receive_lsn()::text, ''),
		coalesce(pg_last_wal_replay_lsn()::text, ''),
		pg_get_wal_replay_pause_state() <> 'not paused',
		EXISTS(SELECT 1 FROM pg_stat_wal_receiver),
		coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (pg_control_checkpoint()).timeline_id)`).
		Scan(&st.ReceivedLSN, &st.ReplayLSN, &st.ReplayPaused, &st.IsWalReceiverActive, &st.TimeLineID)
	if err != nil {
		return err
	}
	// The functions may run in either order; a record replayed after the
	// receive position was read must not make received < replayed.
	if recv, err1 := ParseLSN(st.ReceivedLSN); err1 == nil {
		if replay, err2 := ParseLSN(st.ReplayLSN); err2 == nil && recv < replay {
			st.ReceivedLSN = st.ReplayLSN
		}
	}
	return nil
}

// ParseLSN parses a PostgreSQL LSN ("16/B374D848") into its 64-bit position,
// so two LSNs compare as numbers.
func ParseLSN(lsn string) (uint64, error) {
	hi, lo, ok := strings.Cut(lsn, "/")
	if !ok {
		return 0, fmt.Errorf("pgproc: %q is not an LSN", lsn)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pgproc: %q is not an LSN", lsn)
	}
	return h<<32 | l, nil
}
