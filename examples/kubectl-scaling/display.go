package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/ironflow/scaling"
)

// display shows the progress events of one phase (Applying, Verifying).
// The operation calls event synchronously from its goroutine, so event
// must return quickly: both displays only record and hand off.
type display interface {
	begin(phase string, plan *scaling.Plan)
	event(e scaling.Event)
	end(err error)
}

// newDisplay picks the display for stderr: a live one on a terminal,
// timestamped lines otherwise (a CI log, a file), none with --quiet.
func (s *session) newDisplay() display {
	switch {
	case s.opts.quiet:
		return nopDisplay{}
	case isTerminal(s.streams.ErrOut):
		return &liveDisplay{w: s.streams.ErrOut}
	default:
		return &lineDisplay{w: s.streams.ErrOut, now: time.Now}
	}
}

type nopDisplay struct{}

func (nopDisplay) begin(string, *scaling.Plan) {}
func (nopDisplay) event(scaling.Event)         {}
func (nopDisplay) end(error)                   {}

// stepLine is how both displays name a step: its position, what it does,
// and the value it changes.
func stepLine(i, n int, st scaling.Step) string {
	s := fmt.Sprintf("%d/%d %s %s", i+1, n, st.Action, st.Object)
	if st.Field != "" {
		s += fmt.Sprintf(" %s: %s -> %s", st.Field, orNone(st.Before), orNone(st.After))
	}
	return s
}

// checkText is a check as the live display's row shows it; the row's mark
// says whether it holds, and the verification printed after it gives the
// detail.
func checkText(c *scaling.Check) string {
	return fmt.Sprintf("%s: %s (expected %s)", c.Name, c.Observed, c.Expected)
}

// checkLine is a check as a log line: its text, whether it holds, and why
// not.
func checkLine(c *scaling.Check) string {
	if c.Passed {
		return checkText(c) + " ok"
	}
	if c.Detail != "" {
		return checkText(c) + " waiting: " + c.Detail
	}
	return checkText(c) + " waiting"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// lineDisplay writes one timestamped line per change: a step starting or
// finishing, a check whose observation changed. Repeated identical
// observations are dropped, so a long verify does not flood a log.
type lineDisplay struct {
	w     io.Writer
	now   func() time.Time
	phase string
	plan  *scaling.Plan
	steps int
	start map[int]time.Time
	last  map[string]string
	began time.Time
}

func (d *lineDisplay) printf(format string, args ...any) {
	fmt.Fprintf(d.w, "%s %s ", d.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), d.phase)
	fmt.Fprintf(d.w, format+"\n", args...)
}

func (d *lineDisplay) begin(phase string, plan *scaling.Plan) {
	d.phase, d.plan, d.steps, d.began = phase, plan, len(plan.Steps), d.now()
	d.start, d.last = map[int]time.Time{}, map[string]string{}
	if phase == "Applying" {
		d.printf("%s on %s: %d step(s)", plan.Operation, plan.Target, len(plan.Steps))
	} else {
		d.printf("%s on %s", plan.Operation, plan.Target)
	}
}

func (d *lineDisplay) event(e scaling.Event) {
	switch e.Kind {
	case scaling.StepStarted:
		d.start[e.Index] = e.Time
		d.printf("step %s: started", stepLine(e.Index, d.steps, *e.Step))
	case scaling.StepFinished:
		took := e.Time.Sub(d.start[e.Index]).Round(time.Millisecond)
		if e.Err != nil {
			d.printf("step %d/%d failed after %s: %v", e.Index+1, d.steps, took, e.Err)
			return
		}
		d.printf("step %d/%d: done in %s", e.Index+1, d.steps, took)
	case scaling.CheckObserved:
		line := checkLine(e.Check)
		if d.last[e.Check.Name] == line {
			return
		}
		d.last[e.Check.Name] = line
		d.printf("check %s", line)
	}
}

func (d *lineDisplay) end(err error) {
	if err == nil && d.phase == "Applying" {
		for i, st := range d.plan.Steps {
			if _, ran := d.start[i]; !ran {
				d.printf("step %s: not run %s", stepLine(i, d.steps, st), skipNote(len(d.start) > 0))
			}
		}
	}
	if err != nil {
		d.printf("stopped after %s: %v", d.now().Sub(d.began).Round(time.Millisecond), err)
		return
	}
	d.printf("finished in %s", d.now().Sub(d.began).Round(time.Millisecond))
}

// liveDisplay is the terminal display, drawn by mpb: a header bar counting
// the finished steps (or passing checks), and one row per step or check
// with its state, redrawn in place as events arrive.
type liveDisplay struct {
	w     io.Writer
	p     *mpb.Progress
	total *mpb.Bar

	mu     sync.Mutex
	phase  string
	rows   []*row
	byName map[string]*row
	done   int
}

// row is one line of the display: a step or a check.
type row struct {
	bar   *mpb.Bar
	text  string
	state rowState
}

type rowState int

const (
	pending rowState = iota
	running
	passed
	failed
	// skipped is a step that did not run: what it describes followed
	// from an earlier step (the pods an upgrade sets), or was so already.
	skipped
)

// skipNote says why a step of a successful Apply never started.
func skipNote(anyStarted bool) string {
	if anyStarted {
		return "(no action of its own: done by an earlier step)"
	}
	return "(nothing to do: already so)"
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (d *liveDisplay) begin(phase string, plan *scaling.Plan) {
	d.phase, d.byName = phase, map[string]*row{}
	began := time.Now()
	d.p = mpb.New(mpb.WithOutput(d.w), mpb.WithRefreshRate(100*time.Millisecond))
	n := len(plan.Steps)
	unit := "steps"
	if phase != "Applying" {
		n, unit = 0, "checks"
	}
	d.total = d.p.AddBar(int64(n),
		mpb.PrependDecorators(
			decor.Name(fmt.Sprintf("%s %s ", phase, plan.Target)),
			decor.CountersNoUnit("%d/%d "+unit, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			return time.Since(began).Round(100 * time.Millisecond).String()
		})),
		mpb.BarWidth(30),
	)
	if phase == "Applying" {
		for i, st := range plan.Steps {
			d.addRow(stepLine(i, len(plan.Steps), st))
		}
	}
}

func (d *liveDisplay) addRow(text string) *row {
	r := &row{text: text}
	var frame int
	r.bar = d.p.New(1, mpb.NopStyle(), mpb.BarFillerTrim(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
		d.mu.Lock()
		defer d.mu.Unlock()
		mark := map[rowState]string{pending: "·", passed: "✓", failed: "✗", skipped: "–"}[r.state]
		if r.state == running {
			mark = spinner[frame%len(spinner)]
			frame++
		}
		return "  " + mark + " " + r.text
	})))
	d.rows = append(d.rows, r)
	return r
}

func (d *liveDisplay) event(e scaling.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch e.Kind {
	case scaling.StepStarted:
		if e.Index < len(d.rows) {
			d.rows[e.Index].state = running
		}
	case scaling.StepFinished:
		if e.Index >= len(d.rows) {
			return
		}
		if e.Err != nil {
			d.rows[e.Index].state = failed
			return
		}
		d.rows[e.Index].state = passed
		d.total.Increment()
	case scaling.CheckObserved:
		r := d.byName[e.Check.Name]
		if r == nil {
			// Adding a bar waits on mpb's render goroutine, whose
			// decorators take d.mu: add it unlocked.
			d.mu.Unlock()
			r = d.addRow("")
			d.mu.Lock()
			d.byName[e.Check.Name] = r
		}
		r.text = checkText(e.Check)
		state := running
		if e.Check.Passed {
			state = passed
		}
		r.state = state
		d.done = 0
		for _, r := range d.byName {
			if r.state == passed {
				d.done++
			}
		}
		d.total.SetTotal(int64(len(d.byName)), false)
		d.total.SetCurrent(int64(d.done))
	}
}

// end settles every row and completes the bars, so mpb draws the last
// frame and stops. err is the phase's failure (an Apply error, a
// verification that did not succeed): the rows still running failed with
// it, and the header stays aborted where it was.
func (d *liveDisplay) end(err error) {
	d.mu.Lock()
	started := false
	for _, r := range d.rows {
		started = started || r.state != pending
	}
	for _, r := range d.rows {
		switch {
		case r.state == running && err != nil:
			r.state = failed
		case r.state == pending && err == nil:
			r.state = skipped
			r.text += " " + skipNote(started)
		}
	}
	rows := d.rows
	d.mu.Unlock()
	for _, r := range rows {
		r.bar.SetTotal(-1, true)
	}
	if err != nil {
		d.total.Abort(false)
	} else {
		if d.phase == "Applying" {
			d.total.SetCurrent(int64(len(rows)))
		}
		d.total.SetTotal(-1, true)
	}
	d.p.Wait()
}
