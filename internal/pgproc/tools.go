// Package pgproc runs real PostgreSQL 15 servers and PgBouncer on loopback for
// tests and the demo.
//
// A primary, its streaming replicas and a PgBouncer in front of them are real
// processes, each in a folder of its own, listening only on 127.0.0.1 (and on
// a unix socket inside that folder), so a test can drive a CloudNativePG-style
// switchover for real: lag a replica, stop the primary cleanly, promote a
// replica, pg_rewind the old primary back in as a follower, and pause
// PgBouncer across it all.
//
// When the caller is root, every PostgreSQL and PgBouncer program runs as the
// "postgres" system user (both refuse to run as root); otherwise they run as
// the caller. Every process is started in its own process group with a
// parent-death signal, so a test binary that dies (a panic, a timeout, a
// kill) takes its servers with it; Close stops them and removes their folders.
package pgproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// DefaultBinDir is where Debian's postgresql-15 package puts the server
// programs; Find falls back to it when pg_config is absent or points at a
// folder without them (Debian's pg_config may come from libpq-dev alone).
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Debian package names that MissingError tells the user to install.
const (
	PackagePostgres  = "postgresql-15"
	PackagePgBouncer = "pgbouncer"
)

// serverPrograms are the PostgreSQL programs this package runs.
var serverPrograms = []string{"initdb", "postgres", "pg_ctl", "pg_basebackup", "pg_rewind"}

// MissingError reports a program (or, when running as root, the postgres
// system user) that Find could not locate, and the Debian package that
// provides it.
type MissingError struct {
	Program string // e.g. "initdb", "pgbouncer"
	Package string // e.g. "postgresql-15", "pgbouncer"
	Looked  string // where Find looked, for the message; may be empty
}

func (e *MissingError) Error() string {
	msg := fmt.Sprintf("pgproc: %s not found", e.Program)
	if e.Looked != "" {
		msg += " (looked in " + e.Looked + ")"
	}
	return msg + fmt.Sprintf("; install the Debian package %s: apt-get install -y %s", e.Package, e.Package)
}

// Tools is a located set of PostgreSQL server programs and PgBouncer, and the
// user they run as. It is safe for concurrent use.
type Tools struct {
	BinDir    string // folder holding initdb, postgres, pg_ctl, pg_basebackup, pg_rewind
	PgBouncer string // path of the pgbouncer program
	Version   string // e.g. "15.14", from `postgres --version`
	Major     int    // e.g. 15

	// cred is the postgres system user's identity when the caller is root
	// (programs run as that user), nil otherwise (they run as the caller).
	cred *syscall.Credential
}

// Lookup says where Find looks. The zero value is what Find uses.
type Lookup struct {
	// BinDir, when set, is the only folder searched for the server programs.
	// Empty: the folder `pg_config --bindir` names (pg_config from $PATH),
	// then DefaultBinDir; a folder holding PostgreSQL 15 is preferred.
	BinDir string
	// PgBouncer, when set, is the only path tried for pgbouncer. Empty:
	// pgbouncer on $PATH, then /usr/sbin/pgbouncer (often not on a non-root
	// $PATH).
	PgBouncer string
}

// Find locates the PostgreSQL server programs and pgbouncer with the default
// Lookup. It returns a *MissingError, whose message names the Debian package
// to install, when a program is missing.
func Find() (*Tools, error) { return Lookup{}.Find() }

// Find locates the programs as l says. A missing program is a *MissingError;
// a program that exists but does not run is a plain error.
func (l Lookup) Find() (*Tools, error) {
	t := &Tools{}
	var err error
	if t.BinDir, t.Version, t.Major, err = l.findBinDir(); err != nil {
		return nil, err
	}
	if t.PgBouncer, err = l.findPgBouncer(); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, &MissingError{Program: "system user postgres (needed to run PostgreSQL as root)", Package: "postgresql-common"}
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("pgproc: user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
		}
		// Groups is set (empty) so the child drops root's supplementary groups.
		t.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	return t, nil
}

func (l Lookup) findBinDir() (dir, version string, major int, err error) {
	var candidates []string
	if l.BinDir != "" {
		candidates = []string{l.BinDir}
	} else {
		if pgc, err := exec.LookPath("pg_config"); err == nil {
			if out, err := exec.Command(pgc, "--bindir").Output(); err == nil {
				if d := strings.TrimSpace(string(out)); d != "" {
					candidates = append(candidates, d)
				}
			}
		}
		if len(candidates) == 0 || filepath.Clean(candidates[0]) != DefaultBinDir {
			candidates = append(candidates, DefaultBinDir)
		}
	}
	var firstMissing *MissingError
	type found struct {
		dir, version string
		major        int
	}
	var usable []found
	for _, d := range candidates {
		if m := missingIn(d); m != nil {
			if firstMissing == nil {
				firstMissing = m
			}
			continue
		}
		v, maj, err := serverVersion(filepath.Join(d, "postgres"))
		if err != nil {
			return "", "", 0, err
		}
		if maj == 15 {
			return d, v, maj, nil
		}
		usable = append(usable, found{d, v, maj})
	}
	if len(usable) > 0 {
		// Not 15, but complete: pg_get_wal_replay_pause_state needs 14 or later.
		if usable[0].major < 14 {
			return "", "", 0, fmt.Errorf("pgproc: %s is PostgreSQL %s; need 14 or later (install %s)", usable[0].dir, usable[0].version, PackagePostgres)
		}
		return usable[0].dir, usable[0].version, usable[0].major, nil
	}
	firstMissing.Looked = strings.Join(candidates, ", ")
	return "", "", 0, firstMissing
}

// missingIn returns the first server program absent from dir, or nil.
func missingIn(dir string) *MissingError {
	for _, p := range serverPrograms {
		if !isExecutable(filepath.Join(dir, p)) {
			return &MissingError{Program: p, Package: PackagePostgres}
		}
	}
	return nil
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\)\s+((\d+)(?:\.\d+)?)`)

// serverVersion runs `postgres --version` (allowed as root) and parses it.
func serverVersion(postgres string) (string, int, error) {
	out, err := exec.Command(postgres, "--version").CombinedOutput()
	if err != nil {
		return "", 0, fmt.Errorf("pgproc: %s --version: %w: %s", postgres, err, bytes.TrimSpace(out))
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", 0, fmt.Errorf("pgproc: cannot parse %q from %s --version", bytes.TrimSpace(out), postgres)
	}
	major, _ := strconv.Atoi(string(m[2]))
	return string(m[1]), major, nil
}

func (l Lookup) findPgBouncer() (string, error) {
	var candidates []string
	if l.PgBouncer != "" {
		candidates = []string{l.PgBouncer}
	} else {
		if p, err := exec.LookPath("pgbouncer"); err == nil {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, "/usr/sbin/pgbouncer")
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c, nil
		}
	}
	looked := strings.Join(candidates, ", ")
	if l.PgBouncer == "" {
		looked = "$PATH, /usr/sbin/pgbouncer"
	}
	return "", &MissingError{Program: "pgbouncer", Package: PackagePgBouncer, Looked: looked}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func (t *Tools) bin(program string) string { return filepath.Join(t.BinDir, program) }

// errNilTools guards methods called on a nil *Tools (a Find error ignored).
var errNilTools = errors.New("pgproc: nil *Tools (did Find fail?)")
