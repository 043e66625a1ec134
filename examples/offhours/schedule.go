package main

import (
	"fmt"
	"strings"
	"time"
)

// Schedule is a weekly off-hours window, parsed from a spec such as
// "Mon-Fri 20:00-07:00 Europe/Berlin".
//
// On every day listed in Days the workload is off from Start until End,
// both wall-clock offsets from midnight in Location. If End <= Start the
// window runs past midnight and ends at End on the following day, which
// need not itself be listed. Windows are half-open: off at the start
// instant, on again at the end instant.
type Schedule struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End time.Duration
	Location   *time.Location
	Spec       string
}

// ScheduleError is the error ParseSchedule returns for a spec it rejects.
type ScheduleError struct {
	Spec, Reason string
}

func (e *ScheduleError) Error() string {
	return fmt.Sprintf("offhours: schedule %q: %s", e.Spec, e.Reason)
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseSchedule parses "DAYS START-END [ZONE]".
//
// DAYS is a comma-separated list of days (Mon Tue Wed Thu Fri Sat Sun, any
// case) and ranges such as Mon-Fri; a range may wrap (Fri-Mon). START and END
// are HH:MM, 24-hour; END may also be 24:00. ZONE is an IANA name for
// time.LoadLocation and defaults to UTC. Any rejected spec yields a
// *ScheduleError.
func ParseSchedule(spec string) (Schedule, error) {
	fail := func(format string, args ...any) (Schedule, error) {
		return Schedule{}, &ScheduleError{Spec: spec, Reason: fmt.Sprintf(format, args...)}
	}
	fields := strings.Fields(spec)
	switch {
	case len(fields) == 0:
		return fail("empty")
	case len(fields) == 1:
		return fail("missing time window, want DAYS START-END [ZONE]")
	case len(fields) > 3:
		return fail("extra fields %q, want DAYS START-END [ZONE]", fields[3:])
	}

	s := Schedule{Location: time.UTC, Spec: spec}
	for _, item := range strings.Split(fields[0], ",") {
		from, to, isRange := strings.Cut(item, "-")
		first, ok := weekdays[strings.ToLower(from)]
		if !ok {
			return fail("unknown day %q", from)
		}
		last := first
		if isRange {
			if last, ok = weekdays[strings.ToLower(to)]; !ok {
				return fail("unknown day %q", to)
			}
		}
		// Walk forward modulo 7 so that a range like Fri-Mon wraps over the weekend.
		for d := first; ; d = (d + 1) % 7 {
			s.Days[d] = true
			if d == last {
				break
			}
		}
	}

	from, to, ok := strings.Cut(fields[1], "-")
	if !ok {
		return fail("time window %q, want START-END", fields[1])
	}
	var err error
	if s.Start, err = parseClock(from, false); err != nil {
		return fail("start: %v", err)
	}
	if s.End, err = parseClock(to, true); err != nil {
		return fail("end: %v", err)
	}
	if s.Start == s.End {
		// Ambiguous between "never off" and "always off"; make the user say which.
		return fail("start equals end %s", from)
	}

	if len(fields) == 3 {
		// "Local" would make the schedule depend on the host the controller runs on.
		if fields[2] == "Local" {
			return fail("zone Local depends on the host; name an IANA zone")
		}
		if s.Location, err = time.LoadLocation(fields[2]); err != nil {
			return fail("unknown zone %q", fields[2])
		}
	}
	return s, nil
}

// parseClock parses exactly HH:MM into the offset from midnight; "24:00" is
// accepted only when allow24 is set, because it is meaningful only as an end.
func parseClock(v string, allow24 bool) (time.Duration, error) {
	if allow24 && v == "24:00" {
		return 24 * time.Hour, nil
	}
	bad := fmt.Errorf("bad time %q, want HH:MM from 00:00 to 23:59", v)
	if len(v) != 5 || v[2] != ':' {
		return 0, bad
	}
	digit := func(c byte) int { return int(c - '0') }
	for _, i := range []int{0, 1, 3, 4} {
		if v[i] < '0' || v[i] > '9' {
			return 0, bad
		}
	}
	h, m := digit(v[0])*10+digit(v[1]), digit(v[3])*10+digit(v[4])
	if h > 23 || m > 59 {
		return 0, bad
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// String returns the spec the schedule was parsed from.
func (s Schedule) String() string { return s.Spec }

// Off reports whether t lies inside an off window.
func (s Schedule) Off(t time.Time) bool {
	_, _, ok := s.Window(t)
	return ok
}

// Window returns the off window [start, end) that contains t, in the
// schedule's location, and ok=true; or zero times and ok=false when t is not
// off. It is the single window of one listed day: when two days' windows
// touch (00:00-24:00 on consecutive days) end is where the next one begins,
// so use NextEdge to learn when Off actually changes.
func (s Schedule) Window(t time.Time) (start, end time.Time, ok bool) {
	// A window starts on t's own day or, when it wraps past midnight, on the
	// day before; no window is longer than a day, so that is all to check.
	for _, day := range []int{0, -1} {
		start, end, ok := s.windowOn(t, day)
		if ok && !t.Before(start) && t.Before(end) {
			return start, end, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// NextEdge returns the first instant strictly after t at which Off changes
// value: the start or the end of an off window. Windows that touch count as
// one, so their shared instant is no edge. It returns the zero time when Off
// never changes, i.e. the schedule is always off (or never off).
func (s Schedule) NextEdge(t time.Time) time.Time {
	var next time.Time
	// A merged run of touching windows spans at most six whole days, so any
	// edge lies within a week; eight days ahead covers it from any t.
	for day := -1; day <= 8; day++ {
		start, end, ok := s.windowOn(t, day)
		if !ok {
			continue
		}
		for _, e := range []time.Time{start, end} {
			// Off itself tells whether e is an edge, which discards the shared
			// instant of touching windows without any merging bookkeeping.
			isEdge := s.Off(e) != s.Off(e.Add(-time.Nanosecond))
			if e.After(t) && isEdge && (next.IsZero() || e.Before(next)) {
				next = e
			}
		}
	}
	return next
}

// windowOn returns the off window that starts on the calendar day `day` days
// after t's date in the schedule's location, and ok=false if that day is not
// listed.
func (s Schedule) windowOn(t time.Time, day int) (start, end time.Time, ok bool) {
	loc := s.Location
	if loc == nil {
		loc = time.UTC // a zero Schedule must not panic in t.In
	}
	y, m, d := t.In(loc).Date()
	d += day
	// Weekday of the calendar date; time.Date normalises d out of range.
	if !s.Days[time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()] {
		return time.Time{}, time.Time{}, false
	}
	endDay := d
	if s.End <= s.Start {
		endDay++
	}
	// Build both edges as wall-clock times with time.Date rather than adding
	// durations to midnight, so that a DST change keeps 01:00 at 01:00 (a day
	// is not always 24h). Hour 24 normalises to 00:00 of the next day.
	start = time.Date(y, m, d, int(s.Start/time.Hour), int(s.Start%time.Hour/time.Minute), 0, 0, loc)
	end = time.Date(y, m, endDay, int(s.End/time.Hour), int(s.End%time.Hour/time.Minute), 0, 0, loc)
	// Only a window made of nonexistent DST wall times could collapse; skip it.
	return start, end, start.Before(end)
}
