package profile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// QuietHours is a daily local-time window. End before Start wraps past
// midnight.
type QuietHours struct {
	Start, End int // minutes after local midnight, 0–1439
}

// ParseQuietHours parses "HH:MM-HH:MM" (24-hour clock). The two times must
// differ; "" is an error (callers treat empty as "none" themselves).
func ParseQuietHours(s string) (QuietHours, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("%q: want HH:MM-HH:MM, e.g. 22:00-07:00", s)
	}
	start, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return QuietHours{}, fmt.Errorf("%q: start: %w", s, err)
	}
	end, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return QuietHours{}, fmt.Errorf("%q: end: %w", s, err)
	}
	if start == end {
		return QuietHours{}, fmt.Errorf("%q: start and end are the same time", s)
	}
	return QuietHours{Start: start, End: end}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || h[0] == '+' || h[0] == '-' || m[0] == '+' || m[0] == '-' {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59)", s)
	}
	return hh*60 + mm, nil
}

// Contains reports whether t's local wall-clock time is inside the window
// (start inclusive, end exclusive).
func (q QuietHours) Contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	if q.Start < q.End {
		return m >= q.Start && m < q.End
	}
	return m >= q.Start || m < q.End
}

// String formats the window as HH:MM-HH:MM.
func (q QuietHours) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.Start/60, q.Start%60, q.End/60, q.End%60)
}
