package pgproc

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// baseSettings are every server's settings, before ServerOptions.Parameters
// (which override them). The why of each:
var baseSettings = [][2]string{
	// Streaming replication, promotion and pg_rewind.
	{"wal_level", "replica"},
	{"hot_standby", "on"},
	{"wal_log_hints", "on"},    // pg_rewind needs hint-bit changes in WAL (or data checksums)
	{"full_page_writes", "on"}, // pg_rewind needs it too
	{"max_wal_senders", "10"},
	{"max_replication_slots", "10"},
	// No slots and no archive: keep enough WAL that a follower stopped for a
	// while (a rewind, a restart) can still catch up by streaming.
	{"wal_keep_size", "128MB"},
	// Replicas report positions every second and retry a lost primary after
	// 200 ms instead of 5 s, so lag and a switchover show up promptly.
	{"wal_receiver_status_interval", "1s"},
	{"wal_retrieve_retry_interval", "200ms"},
	// Small: the machine has 2 cores and a test runs several servers.
	{"max_connections", "50"},
	{"shared_buffers", "16MB"},
	{"min_wal_size", "32MB"},
	{"max_wal_size", "256MB"},
	{"huge_pages", "off"},
	// fsync off: these servers are thrown away after a test, and what the
	// tests do to them (clean stops, promote, immediate stops, SIGKILL of a
	// process) never loses data that fsync would have kept, because the
	// kernel's page cache survives a process; only a kernel crash or power
	// loss would, and then the test is lost anyway. Commit latency is what
	// the bouncer stall measures, so it should be the server's, not the
	// shared disk's. WAL semantics (what is sent, flushed-as-reported,
	// replayed, rewound) are unchanged.
	{"fsync", "off"},
	// Log to stderr, which pgproc writes to the server's log file.
	{"logging_collector", "off"},
	{"log_destination", "stderr"},
	{"log_line_prefix", "%m [%p] "},
}

// identRE is what a parameter name may be: an identifier, with dots for
// extension parameters (e.g. pg_stat_statements.max).
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// nameRE is what a server or bouncer name may be; it names a folder and is
// the replication application_name.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func checkParamName(name string) error {
	if !identRE.MatchString(name) || strings.EqualFold(name, "all") {
		return fmt.Errorf("pgproc: %q is not a parameter name", name)
	}
	return nil
}

// confQuote quotes a value for postgresql.conf, whose quoted strings take
// backslash escapes and doubled single quotes.
func confQuote(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// sqlQuote quotes a value as an SQL string literal (standard_conforming_strings
// is on, the default).
func sqlQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

const instanceConf = "instance.conf"

// includeLine is appended to the data folder's postgresql.conf. The path is
// relative to the data folder, so the copies pg_basebackup and pg_rewind make
// of postgresql.conf still include each server's own instance.conf (port,
// socket folder, parameters) rather than the source's.
const includeLine = "\n# pgproc: this server's own settings live beside its data folder.\ninclude '../" + instanceConf + "'\n"

// writeInstanceConf writes the server's own settings beside its data folder.
func (s *Server) writeInstanceConf() error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by pgproc for server %s; included from data/postgresql.conf.\n", s.Name)
	fmt.Fprintf(&b, "listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = %s\n", s.port, confQuote(s.sockDir))
	for _, kv := range baseSettings {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], confQuote(kv[1]))
	}
	names := make([]string, 0, len(s.params))
	for k := range s.params {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) > 0 {
		b.WriteString("# ServerOptions.Parameters\n")
	}
	for _, k := range names {
		fmt.Fprintf(&b, "%s = %s\n", k, confQuote(s.params[k]))
	}
	return s.tools.writeOwned(filepath.Join(s.dir, instanceConf), []byte(b.String()), 0o600)
}

// hba trusts every local and loopback connection, replication included: these
// servers listen on nothing else.
const hba = `# Written by pgproc: trust on the unix socket and loopback only.
local all         all                trust
host  all         all   127.0.0.1/32 trust
local replication all                trust
host  replication all   127.0.0.1/32 trust
`

// prepareDataDir makes a fresh data folder (from initdb or pg_basebackup)
// this server's: our pg_hba.conf, and the include of instance.conf.
func (s *Server) prepareDataDir() error {
	if err := s.tools.writeOwned(filepath.Join(s.dataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	conf := filepath.Join(s.dataDir, "postgresql.conf")
	old, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	if !strings.Contains(string(old), "include '../"+instanceConf+"'") {
		if err := s.tools.writeOwned(conf, append(old, includeLine...), 0o600); err != nil {
			return err
		}
	}
	return s.writeInstanceConf()
}

// replicationConnInfo is how a follower named app connects to primary: the
// streaming_replica role, as CloudNativePG does, with the follower's name as
// application_name so pg_stat_replication on the primary names it.
func replicationConnInfo(primary *Server, app string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=%s", primary.port, replicationUser, app)
}

// writeStandbyConfig makes the data folder a standby of primary:
// standby.signal, and a primary_conninfo in postgresql.auto.conf replacing
// whatever pg_basebackup -R wrote or pg_rewind copied from its source.
func (s *Server) writeStandbyConfig(primary *Server) error {
	auto := filepath.Join(s.dataDir, "postgresql.auto.conf")
	old, err := os.ReadFile(auto)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		key := strings.TrimSpace(line)
		if i := strings.IndexAny(key, " \t="); i >= 0 {
			key = key[:i]
		}
		if key == "primary_conninfo" || key == "primary_slot_name" {
			continue
		}
		if line != "" || len(kept) > 0 {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		kept = append(kept, "# Do not edit this file manually!", "# It will be overwritten by the ALTER SYSTEM command.")
	}
	kept = append(kept, "primary_conninfo = "+confQuote(replicationConnInfo(primary, s.Name)))
	if err := s.tools.writeOwned(auto, []byte(strings.Join(kept, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return s.tools.writeOwned(filepath.Join(s.dataDir, "standby.signal"), nil, 0o600)
}
