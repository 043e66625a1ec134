package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// days builds a Schedule.Days value from the listed weekdays.
func days(ds ...time.Weekday) (out [7]bool) {
	for _, d := range ds {
		out[d] = true
	}
	return out
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func mustParse(t *testing.T, spec string) Schedule {
	t.Helper()
	s, err := ParseSchedule(spec)
	require.NoError(t, err)
	return s
}

const (
	h = time.Hour
	m = time.Minute
)

func TestParseSchedule(t *testing.T) {
	weekdaysMF := days(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday)
	for _, tc := range []struct {
		spec       string
		days       [7]bool
		start, end time.Duration
		zone       string
	}{
		{"Mon-Fri 20:00-07:00 Europe/Berlin", weekdaysMF, 20 * h, 7 * h, "Europe/Berlin"},
		{"Sat,Sun 00:00-24:00 UTC", days(time.Saturday, time.Sunday), 0, 24 * h, "UTC"},
		{"Mon-Fri 19:30-06:45", weekdaysMF, 19*h + 30*m, 6*h + 45*m, "UTC"},
		{"Mon,Wed-Fri 22:00-06:00 America/New_York",
			days(time.Monday, time.Wednesday, time.Thursday, time.Friday), 22 * h, 6 * h, "America/New_York"},
		{"fri-MON 22:00-06:00", days(time.Friday, time.Saturday, time.Sunday, time.Monday), 22 * h, 6 * h, "UTC"},
		{"Wed-Wed 09:00-17:00", days(time.Wednesday), 9 * h, 17 * h, "UTC"},
		{"Mon-Sun 00:00-24:00", days(0, 1, 2, 3, 4, 5, 6), 0, 24 * h, "UTC"},
		{"  Sun   23:59-00:00  ", days(time.Sunday), 23*h + 59*m, 0, "UTC"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s := mustParse(t, tc.spec)
			assert.Equal(t, tc.days, s.Days)
			assert.Equal(t, tc.start, s.Start)
			assert.Equal(t, tc.end, s.End)
			assert.Equal(t, tc.zone, s.Location.String())
			assert.Equal(t, tc.spec, s.String())
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, tc := range []struct{ name, spec, reason string }{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"days only", "Mon-Fri", "missing time window"},
		{"unknown day", "Mon-Fry 20:00-07:00", `unknown day "Fry"`},
		{"full day name", "Monday 20:00-07:00", `unknown day "Monday"`},
		{"empty list item", "Mon,,Tue 20:00-07:00", `unknown day ""`},
		{"double range", "Mon-Tue-Wed 20:00-07:00", `unknown day "Tue-Wed"`},
		{"no dash in window", "Mon 20:00", "want START-END"},
		{"hour 25", "Mon 25:00-07:00", `bad time "25:00"`},
		{"12-hour clock", "Mon 7pm-07:00", `bad time "7pm"`},
		{"minute 61", "Mon 20:61-07:00", `bad time "20:61"`},
		{"single-digit hour", "Mon 7:00-08:00", `bad time "7:00"`},
		{"24:00 as start", "Mon 24:00-07:00", `start: bad time "24:00"`},
		{"24:30 as end", "Mon 20:00-24:30", `end: bad time "24:30"`},
		{"start equals end", "Mon 07:00-07:00", "start equals end"},
		{"unknown zone", "Mon 20:00-07:00 Mars/Olympus", `unknown zone "Mars/Olympus"`},
		{"host zone", "Mon 20:00-07:00 Local", "zone Local"},
		{"extra fields", "Mon 20:00-07:00 UTC please", "extra fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSchedule(tc.spec)
			var se *ScheduleError
			require.True(t, errors.As(err, &se), "want *ScheduleError, got %v", err)
			assert.Equal(t, tc.spec, se.Spec)
			assert.Contains(t, se.Reason, tc.reason)
			assert.Equal(t, fmt.Sprintf("offhours: schedule %q: %s", tc.spec, se.Reason), err.Error())
		})
	}
}

func TestOff(t *testing.T) {
	s := mustParse(t, "Mon-Fri 20:00-07:00 Europe/Berlin")
	berlin := s.Location
	// 2026-06-01 is a Monday; the whole week is in CEST.
	at := func(day, hour, min int) time.Time { return time.Date(2026, 6, day, hour, min, 0, 0, berlin) }
	for _, tc := range []struct {
		name string
		t    time.Time
		off  bool
	}{
		{"Mon 06:00, Sunday is not listed", at(1, 6, 0), false},
		{"Mon 19:59", at(1, 19, 59), false},
		{"Mon 20:00, start is inclusive", at(1, 20, 0), true},
		{"Mon 23:59", at(1, 23, 59), true},
		{"Tue 00:00", at(2, 0, 0), true},
		{"Tue 06:59", at(2, 6, 59), true},
		{"Tue 07:00, end is exclusive", at(2, 7, 0), false},
		{"Wed 12:00", at(3, 12, 0), false},
		{"Fri 21:00", at(5, 21, 0), true},
		{"Sat 06:00, Friday's window", at(6, 6, 0), true},
		{"Sat 08:00", at(6, 8, 0), false},
		{"Sat 21:00", at(6, 21, 0), false},
		{"Sun 12:00", at(7, 12, 0), false},
		{"Mon 20:00 given in UTC", time.Date(2026, 6, 1, 18, 0, 0, 0, time.UTC), true},
		{"Mon 19:59 given in UTC", time.Date(2026, 6, 1, 17, 59, 0, 0, time.UTC), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.off, s.Off(tc.t))
		})
	}
}

func TestWindow(t *testing.T) {
	s := mustParse(t, "Mon-Fri 20:00-07:00 Europe/Berlin")
	berlin := s.Location

	start, end, ok := s.Window(time.Date(2026, 6, 6, 6, 0, 0, 0, berlin)) // Sat 06:00
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 6, 5, 20, 0, 0, 0, berlin), start)
	assert.Equal(t, time.Date(2026, 6, 6, 7, 0, 0, 0, berlin), end)
	assert.Equal(t, berlin, start.Location(), "window is reported in the schedule's zone")

	start, end, ok = s.Window(time.Date(2026, 6, 6, 8, 0, 0, 0, berlin)) // Sat 08:00
	assert.False(t, ok)
	assert.True(t, start.IsZero() && end.IsZero())

	// A whole-day window is that day's own [00:00, 24:00), not merged with the next.
	s = mustParse(t, "Sat,Sun 00:00-24:00 UTC")
	start, end, ok = s.Window(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC), start)
	assert.Equal(t, time.Date(2026, 6, 7, 0, 0, 0, 0, time.UTC), end)
}

// edges follows NextEdge n times from t and checks that Off really flips at
// each returned instant.
func edges(t *testing.T, s Schedule, from time.Time, n int) []time.Time {
	t.Helper()
	var out []time.Time
	for e := from; len(out) < n; {
		next := s.NextEdge(e)
		require.False(t, next.IsZero(), "no edge after %v", e)
		require.True(t, next.After(e))
		assert.NotEqual(t, s.Off(next), s.Off(next.Add(-time.Nanosecond)), "Off does not change at %v", next)
		out = append(out, next)
		e = next
	}
	return out
}

func TestNextEdgeWeek(t *testing.T) {
	s := mustParse(t, "Mon-Fri 20:00-07:00 Europe/Berlin")
	at := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, s.Location) }
	want := []time.Time{
		at(1, 20), at(2, 7), // Mon night
		at(2, 20), at(3, 7),
		at(3, 20), at(4, 7),
		at(4, 20), at(5, 7),
		at(5, 20), at(6, 7), // Fri night ends Saturday morning
		at(8, 20), // nothing over the weekend; next Monday
	}
	assert.Equal(t, want, edges(t, s, at(1, 12), len(want))) // from Mon 2026-06-01 12:00

	// From inside a window the next edge is its end; from an edge, the one after.
	assert.Equal(t, at(2, 7), s.NextEdge(at(1, 23)))
	assert.Equal(t, at(2, 20), s.NextEdge(at(2, 7)))
	// From Saturday 08:00 NextEdge has to look past the weekend.
	assert.Equal(t, at(8, 20), s.NextEdge(at(6, 8)))

	// A single weekly window: from its end the next edge is a full week ahead.
	once := mustParse(t, "Tue 01:00-05:00 UTC")
	utc := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, time.UTC) }
	assert.Equal(t, utc(9, 1), once.NextEdge(utc(2, 5)))
}

func TestNextEdgeMergesTouchingWindows(t *testing.T) {
	utc := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, time.UTC) }

	weekend := mustParse(t, "Sat,Sun 00:00-24:00 UTC")
	// Sat 00:00 to Mon 00:00 is one off period: Sun 00:00 is no edge.
	assert.Equal(t, []time.Time{utc(6, 0), utc(8, 0), utc(13, 0)}, edges(t, weekend, utc(5, 12), 3))
	assert.True(t, weekend.Off(utc(7, 0)))

	// Six touching days: the end is six days after the start, within the look-ahead.
	sixDays := mustParse(t, "Mon-Sat 00:00-24:00 UTC")
	assert.Equal(t, utc(7, 0), sixDays.NextEdge(utc(1, 0)))
	assert.Equal(t, utc(8, 0), sixDays.NextEdge(utc(7, 0)))

	always := mustParse(t, "Mon-Sun 00:00-24:00 UTC")
	assert.True(t, always.Off(utc(3, 12)))
	assert.True(t, always.NextEdge(utc(3, 12)).IsZero(), "always off has no edge")

	// A zero Schedule has no windows, hence no edges, and must not panic.
	assert.False(t, Schedule{}.Off(utc(3, 12)))
	assert.True(t, Schedule{}.NextEdge(utc(3, 12)).IsZero())
}

func TestWrappingDayRange(t *testing.T) {
	s := mustParse(t, "Fri-Mon 22:00-06:00 UTC")
	assert.Equal(t, days(time.Friday, time.Saturday, time.Sunday, time.Monday), s.Days)

	utc := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, time.UTC) }
	assert.True(t, s.Off(utc(1, 23)), "Mon 23:00")
	assert.True(t, s.Off(utc(2, 5)), "Tue 05:00, Monday's window")
	assert.False(t, s.Off(utc(2, 23)), "Tue 23:00")
	assert.False(t, s.Off(utc(4, 23)), "Thu 23:00")
	assert.True(t, s.Off(utc(5, 23)), "Fri 23:00")
	assert.True(t, s.Off(utc(7, 3)), "Sun 03:00")
	assert.Equal(t, []time.Time{
		utc(2, 6), utc(5, 22), utc(6, 6), utc(6, 22), utc(7, 6), utc(7, 22), utc(8, 6), utc(8, 22), utc(9, 6), utc(12, 22),
	}, edges(t, s, utc(1, 23), 10))
}

func TestDSTEuropeBerlin(t *testing.T) {
	s := mustParse(t, "Sat,Sun 01:00-05:00 Europe/Berlin")
	berlin := mustLoad(t, "Europe/Berlin")

	for _, tc := range []struct {
		name         string
		day          time.Time // a moment inside the Sunday window
		startUTC     time.Time
		endUTC       time.Time
		realDuration time.Duration
	}{
		{
			// Clocks jump 02:00 CET -> 03:00 CEST: four wall-clock hours last three.
			name:         "spring forward 2026-03-29",
			day:          time.Date(2026, 3, 29, 4, 0, 0, 0, berlin),
			startUTC:     time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), // 01:00 CET
			endUTC:       time.Date(2026, 3, 29, 3, 0, 0, 0, time.UTC), // 05:00 CEST
			realDuration: 3 * h,
		},
		{
			// Clocks fall 03:00 CEST -> 02:00 CET: four wall-clock hours last five.
			name:         "fall back 2026-10-25",
			day:          time.Date(2026, 10, 25, 4, 0, 0, 0, berlin),
			startUTC:     time.Date(2026, 10, 24, 23, 0, 0, 0, time.UTC), // 01:00 CEST
			endUTC:       time.Date(2026, 10, 25, 4, 0, 0, 0, time.UTC),  // 05:00 CET
			realDuration: 5 * h,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, end, ok := s.Window(tc.day)
			require.True(t, ok)
			assert.True(t, tc.startUTC.Equal(start), "start %v", start.UTC())
			assert.True(t, tc.endUTC.Equal(end), "end %v", end.UTC())
			assert.Equal(t, 1, start.Hour(), "start keeps wall clock 01:00")
			assert.Equal(t, 5, end.Hour(), "end keeps wall clock 05:00")
			assert.Equal(t, tc.realDuration, end.Sub(start))

			// Saturday's window is an ordinary four hours; Sunday's edges follow it.
			sat := time.Date(tc.day.Year(), tc.day.Month(), tc.day.Day()-1, 12, 0, 0, 0, berlin)
			assert.Equal(t, []time.Time{start, end}, edges(t, s, sat, 2))
			assert.False(t, s.Off(start.Add(-time.Nanosecond)))
			assert.False(t, s.Off(end))
		})
	}

	// A window across midnight into the change: Sat 20:00 CET to Sun 07:00
	// CEST is ten real hours, which adding 24h to Saturday's times would miss.
	night := mustParse(t, "Sat 20:00-07:00 Europe/Berlin")
	start, end, ok := night.Window(time.Date(2026, 3, 29, 6, 30, 0, 0, berlin))
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 3, 28, 20, 0, 0, 0, berlin), start)
	assert.Equal(t, time.Date(2026, 3, 29, 7, 0, 0, 0, berlin), end)
	assert.Equal(t, 10*h, end.Sub(start))
}

func ExampleSchedule_NextEdge() {
	s, err := ParseSchedule("Mon-Fri 20:00-07:00 Europe/Berlin")
	if err != nil {
		panic(err)
	}
	t := time.Date(2026, 6, 5, 18, 0, 0, 0, s.Location) // a Friday
	fmt.Println(s, "off at Fri 18:00:", s.Off(t))
	for range 3 {
		t = s.NextEdge(t)
		fmt.Println(t.Format("Mon 2006-01-02 15:04 MST"), "off:", s.Off(t))
	}
	// Output:
	// Mon-Fri 20:00-07:00 Europe/Berlin off at Fri 18:00: false
	// Fri 2026-06-05 20:00 CEST off: true
	// Sat 2026-06-06 07:00 CEST off: false
	// Mon 2026-06-08 20:00 CEST off: true
}
