package plan

import (
	"fmt"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// day is a civil (calendar) date as a day number: days since 1970-01-01.
// Calendar arithmetic on day numbers has no DST and no month ends to get
// wrong.
type day int64

const secondsPerDay = 24 * 60 * 60

func civil(y int, m time.Month, d int) day {
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay)
}

func (d day) date() (int, time.Month, int) {
	return time.Unix(int64(d)*secondsPerDay, 0).UTC().Date()
}

func (d day) weekday() time.Weekday { return time.Weekday(((int64(d)+4)%7 + 7) % 7) }

func (d day) String() string {
	y, m, dd := d.date()
	return fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
}

// parseDate parses a local date; "" is open (ok with set false).
func parseDate(s string) (d day, set bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, false, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return civil(t.Date()), true, nil
}

// wall is a local wall-clock reading: a civil day and seconds into it.
type wall struct {
	day day
	sec int
}

func wallOf(t time.Time, loc *time.Location) wall {
	lt := t.In(loc)
	y, m, d := lt.Date()
	h, mi, s := lt.Clock()
	return wall{civil(y, m, d), h*3600 + mi*60 + s}
}

func (w wall) norm() wall {
	for w.sec >= secondsPerDay {
		w.sec -= secondsPerDay
		w.day++
	}
	for w.sec < 0 {
		w.sec += secondsPerDay
		w.day--
	}
	return w
}

func (w wall) less(o wall) bool {
	return w.day < o.day || (w.day == o.day && w.sec < o.sec)
}

// instant is the first instant at which the local wall clock reads w or
// later. A reading inside a skipped (spring-forward) hour maps to the
// jump; a reading that occurs twice (fall-back) maps to its first pass.
func instant(loc *time.Location, w wall) time.Time {
	w = w.norm()
	y, m, d := w.day.date()
	c := time.Date(y, m, d, 0, 0, w.sec, 0, loc)
	got := wallOf(c, loc)
	switch {
	case got == w:
		// Fall-back: the same reading may also occur one offset change
		// earlier, in the zone before c's.
		start, _ := c.ZoneBounds()
		if start.IsZero() {
			return c
		}
		_, before := start.Add(-time.Nanosecond).Zone()
		_, now := c.Zone()
		if before > now {
			if alt := c.Add(-time.Duration(before-now) * time.Second); alt.Before(start) && wallOf(alt, loc) == w {
				return alt
			}
		}
		return c
	case got.less(w):
		// time.Date chose the offset before a gap; the reading is reached
		// when the gap ends.
		if _, end := c.ZoneBounds(); !end.IsZero() && !wallOf(end, loc).less(w) {
			return end
		}
	default:
		// time.Date chose the offset after a gap; the first instant at or
		// past the reading is the start of that offset.
		if start, _ := c.ZoneBounds(); !start.IsZero() && !start.After(c) && wallOf(start.Add(-time.Nanosecond), loc).less(w) {
			return start
		}
	}
	return c
}

// span is a weekly daypart in seconds of the day. end <= start crosses
// midnight; end may be secondsPerDay ("24:00").
type span struct {
	days       uint8 // bit n = time.Weekday n
	start, end int
}

func compileDaypart(p protocol.Daypart) (span, error) {
	if err := p.Validate(); err != nil {
		return span{}, err
	}
	days, _ := protocol.ParseDays(p.Days)
	s, _ := protocol.ParseClock(p.Start)
	e, _ := protocol.ParseClock(p.End)
	return span{days: days, start: s * 60, end: e * 60}, nil
}

func (s span) on(d day) bool { return s.days&(1<<uint(d.weekday())) != 0 }

func (s span) crosses() bool { return s.end <= s.start }

// occurrence returns the day of the occurrence of s that contains w, the
// earliest-starting one if two do.
func (s span) occurrence(w wall) (day, bool) {
	if s.crosses() {
		if w.sec < s.end && s.on(w.day-1) {
			return w.day - 1, true
		}
		if w.sec >= s.start && s.on(w.day) {
			return w.day, true
		}
		return 0, false
	}
	if w.sec >= s.start && w.sec < s.end && s.on(w.day) {
		return w.day, true
	}
	return 0, false
}

// bounds are the wall-clock start and end of s's occurrence on d.
func (s span) bounds(d day) (wall, wall) {
	end := wall{d, s.end}
	if s.crosses() {
		end.day++
	}
	return wall{d, s.start}, end.norm()
}
