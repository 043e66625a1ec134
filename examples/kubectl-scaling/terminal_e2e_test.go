package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var update = flag.Bool("update", false, "rewrite the golden captures under testdata")

// terminal is the plugin running on a pseudo-terminal, as a person runs it:
// stdin, stdout and stderr are the terminal, so it asks before applying and
// draws the live display.
type terminal struct {
	t    testing.TB
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{}
	done chan struct{}
}

const termCols = 160

func (u *userEnv) terminal(args ...string) *terminal {
	u.t.Helper()
	bin, err := plugin()
	require.NoError(u.t, err)
	cmd := exec.Command(bin, append(args, u.flags()...)...)
	cmd.Dir = u.dir
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: termCols})
	require.NoError(u.t, err)
	tm := &terminal{t: u.t, cmd: cmd, ptmx: ptmx, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			select {
			case tm.more <- struct{}{}:
			default:
			}
			if err != nil {
				return // EIO once the program exited and its output is read
			}
		}
	}()
	u.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = ptmx.Close()
	})
	return tm
}

func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// waitFor waits until the terminal shows text.
func (tm *terminal) waitFor(text string) {
	tm.t.Helper()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(tm.output(), text) {
		select {
		case <-tm.more:
		case <-tm.done:
			require.Contains(tm.t, tm.output(), text, "the program exited")
			return
		case <-deadline:
			tm.t.Fatalf("the terminal never showed %q:\n%s", text, tm.output())
		}
	}
}

func (tm *terminal) typeLine(s string) {
	tm.t.Helper()
	_, err := tm.ptmx.Write([]byte(s + "\r"))
	require.NoError(tm.t, err)
}

// exit waits for the program and the last of its output.
func (tm *terminal) exit() int {
	tm.t.Helper()
	err := tm.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		tm.t.Fatal(err)
	}
	select {
	case <-tm.done:
	case <-time.After(30 * time.Second):
		tm.t.Fatal("the terminal's output never ended")
	}
	return tm.cmd.ProcessState.ExitCode()
}

// A person at a terminal: the plan, the question, "yes", then the steps
// and checks drawn in place by the live display, and the verification.
// The golden capture is the screen at the end, as the person sees it
// (durations and the namespace masked); the raw stream must redraw in
// place (cursor up), which is what a live display is.
func TestE2ETerminalApproveAndLiveDisplay(t *testing.T) {
	u := newUserEnv(t, appOnly(3))
	tm := u.terminal("replicas", release, "5")
	tm.waitFor("Enter a value: ")
	assert.Equal(t, 1, u.revision(), "nothing is written before the answer")
	tm.typeLine("yes")
	require.Equal(t, exitOK, tm.exit(), tm.output())
	assert.Equal(t, 2, u.revision())
	assert.Equal(t, 5, u.readyPods())

	golden(t, "replicas-terminal.golden", mask(render(tm.output(), termCols), u.ns))
}

// A verification that waits is drawn live: its checks redrawn in place as
// Verify observes them (cursor up: the stream of a live display), and at
// the deadline the ones not met are marked failed, exit 4. The waiting is
// real: every node is tainted after planning, so the new pods stay Pending
// as on a full cluster.
func TestE2ETerminalVerifyTimesOutLive(t *testing.T) {
	u := newUserEnv(t, appOnly(2))
	planned := u.run("replicas", release, "4", "--out", "four.json")
	require.Equal(t, exitOK, planned.code, planned)
	u.taintNodes()
	tm := u.terminal("apply", "four.json", "--auto-approve", "--timeout", "3s")
	require.Equal(t, exitVerify, tm.exit(), tm.output())
	raw := tm.output()
	assert.Regexp(t, `\x1b\[\d+A`, raw, "3s of waiting is redrawn in place, not appended")
	screen := mask(render(raw, termCols), u.ns)
	// The golden part is the display; the verification printed after it
	// names the Pending pods, whose names are random.
	start, end := strings.Index(screen, "Applying "), strings.Index(screen, "\nVerify: ")
	require.True(t, start >= 0 && end > start, screen)
	golden(t, "verify-timeout-terminal.golden", screen[start:end+1])
	assert.Contains(t, screen[end:], "TimedOut after")
	assert.Contains(t, screen[end:], "untolerated taint", "the verification says why the pods are not Ready")
	assert.Contains(t, screen[end:], "Error: verification TimedOut")
}

// taintNodes makes every node refuse new pods until the test ends.
func (u *userEnv) taintNodes() {
	u.t.Helper()
	ctx := context.Background()
	nodes, err := u.env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(u.t, err)
	taint := corev1.Taint{Key: "scaling.test/full", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	for _, n := range nodes.Items {
		n.Spec.Taints = append(n.Spec.Taints, taint)
		_, err := u.env.Client.CoreV1().Nodes().Update(ctx, &n, metav1.UpdateOptions{})
		require.NoError(u.t, err)
		name := n.Name
		u.t.Cleanup(func() {
			node, err := u.env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return
			}
			node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == taint.Key })
			_, err = u.env.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
			require.NoError(u.t, err, "untainting %s", name)
		})
	}
}

// Anything but "yes" cancels: exit 1, nothing written.
func TestE2ETerminalAnswerNoWritesNothing(t *testing.T) {
	u := newUserEnv(t, appOnly(3))
	tm := u.terminal("replicas", release, "5")
	tm.waitFor("Enter a value: ")
	tm.typeLine("y")
	assert.Equal(t, exitFailed, tm.exit())
	assert.Contains(t, tm.output(), "apply cancelled; nothing was written")
	assert.Equal(t, 1, u.revision())
	assert.Equal(t, 3, u.readyPods())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to write %s", path)
	assert.Equal(t, string(want), got, "the screen differs from %s (run with -update after checking it)", path)
}

var (
	durations = regexp.MustCompile(`\b(\d+(\.\d+)?(ns|µs|us|ms|s|m|h))+\b`)
	// mpb draws a header bar whose width depends on the counters' width.
	trailing = regexp.MustCompile(`[ \t]+\n`)
)

func mask(screen, ns string) string {
	screen = strings.ReplaceAll(screen, ns, "NAMESPACE")
	screen = durations.ReplaceAllString(screen, "<d>")
	return trailing.ReplaceAllString(screen, "\n")
}

// render replays a terminal stream onto a screen: printable runes at the
// cursor, \r, \n, and the CSI sequences a progress display uses (cursor
// up/down/column, erase line, erase below); others (colours, cursor
// visibility) change nothing on a text screen.
func render(raw string, cols int) string {
	var lines [][]rune
	row, col := 0, 0
	line := func() []rune {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		return lines[row]
	}
	rs := []rune(raw)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\r':
			col = 0
		case r == '\n':
			row++
		case r == '\b':
			col = max(0, col-1)
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j >= len(rs) {
				i = len(rs)
				break
			}
			params, final := string(rs[i+2:j]), rs[j]
			n := 1
			if v, err := strconv.Atoi(strings.TrimPrefix(params, "?")); err == nil {
				n = v
			}
			switch final {
			case 'A':
				row = max(0, row-n)
			case 'B':
				row += n
			case 'G':
				col = max(0, n-1)
			case 'K':
				l := line()
				if col < len(l) {
					lines[row] = l[:col]
				}
			case 'J':
				l := line()
				if col < len(l) {
					lines[row] = l[:col]
				}
				lines = lines[:row+1]
			}
			i = j
		case r == 0x1b:
			i++ // a two-rune escape
		case r < 0x20:
		default:
			if col == cols { // autowrap, as terminals do
				row, col = row+1, 0
			}
			l := line()
			for len(l) <= col {
				l = append(l, ' ')
			}
			l[col] = r
			lines[row] = l
			col++
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimRight(string(l), " "))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}
