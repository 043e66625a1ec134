package pgproc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The safety net against leaked servers. Every program is started with a
// parent-death signal (Pdeathsig), so the kernel signals it when this process
// dies, whatever the cause: a failed test's panic, go test's timeout, a
// kill -9. A postmaster gets SIGQUIT, an immediate shutdown that ends its
// backends and frees its shared memory; its backends, which run in sessions
// of their own, would exit anyway once it is gone. Each program also gets
// its own process group (Setpgid), so a tool that forks helpers (initdb,
// pg_basebackup) is killed with them when its context ends. Pdeathsig fires
// when the *thread* that forked the child exits, and the Go runtime may
// retire threads, so every fork happens on one goroutine locked to its own
// OS thread for the life of the process.
var launcher struct {
	once sync.Once
	reqs chan launchReq
}

type launchReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startCmd starts cmd on the launcher thread.
func startCmd(cmd *exec.Cmd) error {
	launcher.once.Do(func() {
		launcher.reqs = make(chan launchReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range launcher.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	launcher.reqs <- launchReq{cmd: cmd, done: done}
	return <-done
}

// command builds a Cmd for a PostgreSQL or PgBouncer program: run as the
// postgres user when we are root, in its own process group, with a parent
// death signal, in dir, with a clean environment (no PG* variable of the
// caller's can redirect it, and messages are in English so errors read the
// same everywhere).
//
// deathSig is what the program gets if this process dies: SIGQUIT makes a
// postmaster do an immediate shutdown (its backends exit, shared memory is
// released), SIGTERM is PgBouncer's immediate shutdown, SIGKILL suits the
// short-lived tools.
func (t *Tools) command(dir string, deathSig syscall.Signal, program string, args ...string) *exec.Cmd {
	cmd := exec.Command(program, args...)
	cmd.Dir = dir
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	if t.cred != nil {
		attr.Credential = t.cred
	}
	cmd.SysProcAttr = attr
	env := []string{"LC_ALL=C", "LANG=C", "HOME=" + dir}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "LC_"), k == "LANG", k == "HOME", k == "LANGUAGE":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	return cmd
}

// run runs a short-lived program to completion, copying its output to log,
// and returns an error carrying the output's tail when it fails. When ctx
// ends first, the program's whole process group is killed.
func (t *Tools) run(ctx context.Context, log io.Writer, dir, program string, args ...string) error {
	var out bytes.Buffer
	cmd := t.command(dir, syscall.SIGKILL, program, args...)
	w := io.Writer(&out)
	if log != nil {
		w = io.MultiWriter(&out, log)
		fmt.Fprintf(log, "pgproc: running %s %s\n", program, strings.Join(args, " "))
	}
	cmd.Stdout, cmd.Stderr = w, w
	p, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("%s: %w\n%s", program, ctx.Err(), lastLines(out.String(), 20))
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w\n%s", program, p.err, lastLines(out.String(), 20))
	}
	return nil
}

// proc is one started program and its process group.
type proc struct {
	cmd  *exec.Cmd
	pgid int
	done chan struct{} // closed once the program has exited and been reaped
	err  error         // its exit status; read only after done
}

func spawn(cmd *exec.Cmd) (*proc, error) {
	// Output copying goroutines (when Stdout is not a file) must not keep
	// Wait hanging after the program is gone while its children still hold
	// the pipe.
	cmd.WaitDelay = 3 * time.Second
	if err := startCmd(cmd); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the program itself (not its group), if still running.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill SIGKILLs the whole process group and waits for the program to be
// reaped. The group is only signalled while the leader is not yet reaped,
// so its id cannot have been reused by an unrelated process.
func (p *proc) kill() {
	if !p.exited() {
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	}
	<-p.done
}

// wait waits for the program to exit, up to ctx; it reports whether it did.
func (p *proc) wait(ctx context.Context) bool {
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitOrKill waits up to grace for the program to exit, then kills its group.
func (p *proc) waitOrKill(grace time.Duration) {
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// syncWriter serialises writes to a caller's io.Writer, which several
// processes' output copiers may share.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// tailFile returns the last n lines of the file at path ("" if unreadable).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	// Logs here are small, but read at most the last 64 KiB.
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		_, _ = f.Seek(-64<<10, io.SeekEnd)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// own makes path belong to the user the programs run as; a no-op unless we
// are root.
func (t *Tools) own(path string) error {
	if t.cred == nil {
		return nil
	}
	return os.Lchown(path, int(t.cred.Uid), int(t.cred.Gid))
}

// ensureTraversable lets the postgres user reach dir when we are root: each
// ancestor that the user could not search gets the others-search bit
// (o+x: pass through, not list). t.TempDir() folders are 0700 root, which
// postgres could not otherwise enter.
func (t *Tools) ensureTraversable(dir string) error {
	if t.cred == nil {
		return nil
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && st.Uid != t.cred.Uid && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("letting user postgres enter %s: %w", d, err)
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// writeOwned writes a file the programs read (or rewrite) and gives it to
// their user.
func (t *Tools) writeOwned(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := t.own(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// mkdirOwned creates a folder (its parent must exist) for the programs' user.
func (t *Tools) mkdirOwned(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return t.own(path)
}
