package plan

import (
	"fmt"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// entry is a compiled protocol.Entry with its evaluation state.
type entry struct {
	e           protocol.Entry
	from, until day
	hasFrom     bool
	hasUntil    bool
	parts       []span
	items       []item
	dateFree    bool
	maxDur      time.Duration

	// Round-robin state.
	next     int    // next item to try
	lastPick uint64 // Evaluator.seq when last picked; 0 never

	// Quota window state (time-bound entries).
	win      window
	inWin    bool
	winStart time.Time // the window's real start
	winEnd   time.Time
	obs      time.Time // accounting starts here: max(winStart, first Next)
	played   time.Duration
	last     time.Time // start of the last credited play in the window
	resume   time.Time // end of the last quiet window seen in this window
	missed   time.Time // MinEvery deadline already reported
	shareRep bool      // share miss reported for this window
}

// window identifies one occurrence: the day it starts on and the daypart
// (-1: the whole local day of an entry without dayparts).
type window struct {
	day  day
	part int
}

type item struct {
	it          protocol.Item
	from, until day
	hasFrom     bool
	hasUntil    bool
}

func (i *item) validOn(d day) bool {
	return (!i.hasFrom || d >= i.from) && (!i.hasUntil || d < i.until)
}

func compileEntry(e protocol.Entry) (*entry, error) {
	c := &entry{e: e}
	var err error
	if c.from, c.hasFrom, err = parseDate(e.From); err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if c.until, c.hasUntil, err = parseDate(e.Until); err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	for _, p := range e.Dayparts {
		s, err := compileDaypart(p)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		c.parts = append(c.parts, s)
	}
	c.dateFree = !c.hasFrom && !c.hasUntil && len(c.parts) == 0
	for _, ei := range e.Items {
		it := item{it: ei.Item}
		if it.from, it.hasFrom, err = parseDate(ei.ValidFrom); err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		if it.until, it.hasUntil, err = parseDate(ei.ValidUntil); err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		if it.hasFrom || it.hasUntil {
			c.dateFree = false
		}
		if ei.DurationMS <= 0 {
			return nil, fmt.Errorf("entry %s: item %.12s has no duration", e.ID, ei.SHA256)
		}
		c.maxDur = max(c.maxDur, time.Duration(ei.DurationMS)*time.Millisecond)
		c.items = append(c.items, it)
	}
	return c, nil
}

func (c *entry) dated(d day) bool {
	return (!c.hasFrom || d >= c.from) && (!c.hasUntil || d < c.until)
}

// activeWindow reports the window c is active in at w.
func (c *entry) activeWindow(w wall) (window, bool) {
	if len(c.parts) == 0 {
		return window{w.day, -1}, c.dated(w.day)
	}
	best, found := window{}, false
	for i, p := range c.parts {
		d, ok := p.occurrence(w)
		if !ok || !c.dated(d) {
			continue
		}
		cand := window{d, i}
		if !found || c.windowStart(cand).less(c.windowStart(best)) {
			best, found = cand, true
		}
	}
	return best, found
}

func (c *entry) windowStart(win window) wall {
	if win.part < 0 {
		return wall{win.day, 0}
	}
	s, _ := c.parts[win.part].bounds(win.day)
	return s
}

func (c *entry) windowEnd(win window) wall {
	if win.part < 0 {
		return wall{win.day + 1, 0}
	}
	_, e := c.parts[win.part].bounds(win.day)
	return e
}

// peek returns the next playable item without moving the cursor.
func (c *entry) peek(d day, cached func(string) bool) (int, bool) {
	n := len(c.items)
	for k := range n {
		i := (c.next + k) % n
		if c.items[i].validOn(d) && cached(c.items[i].it.SHA256) {
			return i, true
		}
	}
	return 0, false
}

// Active reports whether e is active at t in loc: its date range and one
// of its dayparts (none: always) include t. Trigger binding is not
// considered. An entry that does not compile is never active.
func Active(e protocol.Entry, loc *time.Location, t time.Time) bool {
	c, err := compileEntry(e)
	if err != nil || loc == nil {
		return false
	}
	_, ok := c.activeWindow(wallOf(t, loc))
	return ok
}

// Quiet reports whether t falls in one of o's quiet windows.
func Quiet(o protocol.OutputPlan, loc *time.Location, t time.Time) bool {
	if loc == nil {
		return false
	}
	w := wallOf(t, loc)
	for _, q := range o.Quiet {
		s, err := compileDaypart(q)
		if err != nil {
			continue
		}
		if _, ok := s.occurrence(w); ok {
			return true
		}
	}
	return false
}
