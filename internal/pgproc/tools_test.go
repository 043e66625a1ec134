package pgproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinDir makes a folder with stand-ins for the server programs that
// answer --version like PostgreSQL 15.9 does.
func fakeBinDir(t *testing.T, programs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range programs {
		script := "#!/bin/sh\necho 'postgres (PostgreSQL) 15.9 (fake)'\n"
		if err := os.WriteFile(filepath.Join(dir, p), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindNamesTheMissingPackage(t *testing.T) {
	t.Parallel()
	var missing *MissingError

	_, err := Lookup{BinDir: t.TempDir()}.Find()
	if !errors.As(err, &missing) {
		t.Fatalf("empty bindir: got %v, want a *MissingError", err)
	}
	if missing.Program != "initdb" || missing.Package != "postgresql-15" {
		t.Errorf("empty bindir: got %+v, want initdb from postgresql-15", missing)
	}
	if msg := err.Error(); !strings.Contains(msg, "postgresql-15") || !strings.Contains(msg, "apt-get install") {
		t.Errorf("message %q does not tell how to install postgresql-15", msg)
	}

	partial := fakeBinDir(t, "initdb", "postgres", "pg_ctl", "pg_basebackup") // no pg_rewind
	if _, err := (Lookup{BinDir: partial}).Find(); !errors.As(err, &missing) || missing.Program != "pg_rewind" {
		t.Errorf("bindir without pg_rewind: got %v", err)
	}

	bin := fakeBinDir(t, serverPrograms...)
	_, err = Lookup{BinDir: bin, PgBouncer: filepath.Join(t.TempDir(), "pgbouncer")}.Find()
	if !errors.As(err, &missing) || missing.Program != "pgbouncer" || missing.Package != "pgbouncer" {
		t.Fatalf("no pgbouncer: got %v, want a *MissingError for pgbouncer", err)
	}
	if !strings.Contains(err.Error(), "install the Debian package pgbouncer") {
		t.Errorf("message %q does not name the pgbouncer package", err)
	}

	bouncer := filepath.Join(fakeBinDir(t, "pgbouncer"), "pgbouncer")
	tl, err := Lookup{BinDir: bin, PgBouncer: bouncer}.Find()
	if err != nil {
		t.Fatal(err)
	}
	if tl.BinDir != bin || tl.PgBouncer != bouncer || tl.Version != "15.9" || tl.Major != 15 {
		t.Errorf("got %+v", tl)
	}
}

func TestStartRejectsBadInput(t *testing.T) {
	t.Parallel()
	var tl *Tools
	if _, err := tl.StartPrimary(context.Background(), "x", ServerOptions{Dir: t.TempDir()}); err == nil {
		t.Error("nil Tools: no error")
	}
	tl = &Tools{BinDir: fakeBinDir(t)}
	if _, err := tl.StartPrimary(context.Background(), "a/b", ServerOptions{Dir: t.TempDir()}); err == nil {
		t.Error("name with a slash: no error")
	}
	if _, err := tl.StartPrimary(context.Background(), "x", ServerOptions{}); err == nil {
		t.Error("no Dir: no error")
	}
	if _, err := tl.StartPrimary(context.Background(), "x", ServerOptions{Dir: t.TempDir(), Parameters: map[string]string{"a;b": "1"}}); err == nil {
		t.Error("bad parameter name: no error")
	}
	var s *Server
	if err := s.Close(); err != nil {
		t.Errorf("Close of a nil server (a failed start): %v", err)
	}
	var b *Bouncer
	if err := b.Close(); err != nil {
		t.Errorf("Close of a nil bouncer: %v", err)
	}
}

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/0": 0, "0/3000060": 0x3000060, "16/B374D848": 0x16_B374D848} {
		if got, err := ParseLSN(in); err != nil || got != want {
			t.Errorf("ParseLSN(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "x/1", "1/100000000"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q): no error", bad)
		}
	}
}
