package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/profile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Limits of waiting and queuing.
const (
	// MaxWait caps Pick.Wait: the caller re-evaluates at least this often.
	MaxWait = time.Hour
	// UnsyncedWait is the wait when the clock is untrusted and nothing
	// may play: the caller checks the clock again after it.
	UnsyncedWait = time.Minute
	// TriggerTTL drops a trigger not served within this long (it arrived
	// during quiet hours, or its entry was inactive).
	TriggerTTL = time.Minute
	// MaxQueuedTriggers bounds the trigger queue; older triggers go first.
	MaxQueuedTriggers = 64
)

// Env is what the evaluator needs to know about the moment.
type Env struct {
	Now time.Time
	// Synced reports whether the clock is synchronised (NTP).
	Synced bool
	// Cached reports whether media is in the local cache; nil means
	// everything is.
	Cached func(sha string) bool
}

// Pick is what to play next. Item.SHA256 == "" means nothing: sleep Wait,
// or until a trigger, a new document or new media arrives.
type Pick struct {
	Item     protocol.Item
	EntryID  string
	Campaign string
	Safe     bool   // from the output's safe loop
	Trigger  string // the trigger that caused it, if any
	Wait     time.Duration
}

// Miss is a quota that was not, or cannot be, met.
type Miss struct {
	EntryID, Campaign string
	At                time.Time
	Detail            string
}

// Evaluator decides what one output plays. It is not safe for concurrent
// use: one goroutine (the output's player) owns it.
type Evaluator struct {
	output    string
	loc       *time.Location
	entries   []*entry
	byID      map[string]*entry
	safe      []protocol.Item
	safeAt    int
	quiet     []quietSpan
	quietMemo map[quietDay][]interval
	maxDur    time.Duration // longest item on the output
	seq       uint64
	first     time.Time // first Next of the current synchronised stretch
	queue     []queued
	cands     []cand // scratch for Next
	misses    []Miss
}

// quietSpan is one weekly quiet window, kept in its own zone: the
// schedule's, or the zone the device's driver keeps its profile's quiet
// hours in.
type quietSpan struct {
	s   span
	loc *time.Location
}

type quietDay struct {
	q int // index in Evaluator.quiet
	d day // in the window's zone
}

// Options add to a plan what the device knows and the schedule does not.
type Options struct {
	// Quiet are quiet hours the output keeps by itself, beside the
	// schedule's OutputPlan.Quiet: the firmware profile's
	// limits.quiet_hours, during which the audio driver refuses to sound
	// (see ProfileQuiet). Nothing is scheduled in the union of both; they
	// apply to legacy playlists too.
	Quiet []protocol.Daypart
	// QuietLoc is the zone Quiet is kept in (the driver's); nil: the
	// schedule's.
	QuietLoc *time.Location
}

// ProfileQuiet is a firmware profile's quiet hours ("22:00-07:00", a
// daily window that may wrap midnight) as dayparts for Options.Quiet; ""
// is none.
func ProfileQuiet(hours string) ([]protocol.Daypart, error) {
	if hours == "" {
		return nil, nil
	}
	q, err := profile.ParseQuietHours(hours)
	if err != nil {
		return nil, err
	}
	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	return []protocol.Daypart{{Days: "daily", Start: clock(q.Start), End: clock(q.End)}}, nil
}

type queued struct {
	e    *entry
	name string
	at   time.Time
}

// New compiles the plan for output: the schedule's OutputPlan for it if
// there is one; otherwise the legacy playlists on output, each an
// always-on entry at priority 0 (entry ID = playlist name). s may be nil.
func New(s *protocol.Schedule, output string, legacy []protocol.Playlist) (*Evaluator, error) {
	return NewWith(s, output, legacy, Options{})
}

// NewWith is New with what the device adds to the plan (its own quiet
// hours).
func NewWith(s *protocol.Schedule, output string, legacy []protocol.Playlist, o Options) (*Evaluator, error) {
	ev := &Evaluator{output: output, loc: time.UTC, byID: map[string]*entry{}}
	var op *protocol.OutputPlan
	if s != nil {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		loc, err := time.LoadLocation(s.TZ)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		ev.loc = loc
		for i := range s.Outputs {
			if s.Outputs[i].Output == output {
				op = &s.Outputs[i]
			}
		}
	}
	var entries []protocol.Entry
	if op != nil {
		entries = op.Entries
		for _, it := range op.Safe {
			if it.DurationMS <= 0 {
				return nil, fmt.Errorf("plan %s: safe item %.12s has no duration", output, it.SHA256)
			}
			ev.safe = append(ev.safe, it)
			ev.maxDur = max(ev.maxDur, time.Duration(it.DurationMS)*time.Millisecond)
		}
		for _, q := range op.Quiet {
			sp, err := compileDaypart(q)
			if err != nil {
				return nil, fmt.Errorf("plan %s quiet hours: %w", output, err)
			}
			ev.quiet = append(ev.quiet, quietSpan{sp, ev.loc})
		}
	} else {
		for _, pl := range legacy {
			if pl.Output != output {
				continue
			}
			e := protocol.Entry{ID: pl.Name, Items: make([]protocol.EntryItem, len(pl.Items))}
			for i, it := range pl.Items {
				e.Items[i] = protocol.EntryItem{Item: it}
			}
			entries = append(entries, e)
		}
	}
	qloc := o.QuietLoc
	if qloc == nil {
		qloc = ev.loc
	}
	for _, q := range o.Quiet {
		sp, err := compileDaypart(q)
		if err != nil {
			return nil, fmt.Errorf("plan %s device quiet hours: %w", output, err)
		}
		ev.quiet = append(ev.quiet, quietSpan{sp, qloc})
	}
	for _, pe := range entries {
		if pe.ID == "" || ev.byID[pe.ID] != nil {
			return nil, fmt.Errorf("plan %s: entry id %q empty or repeated", output, pe.ID)
		}
		c, err := compileEntry(pe)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", output, err)
		}
		if len(c.items) == 0 {
			return nil, fmt.Errorf("plan %s: entry %s has no items", output, pe.ID)
		}
		ev.entries = append(ev.entries, c)
		ev.byID[pe.ID] = c
		ev.maxDur = max(ev.maxDur, c.maxDur)
	}
	return ev, nil
}

// Location is the time zone the plan is evaluated in.
func (e *Evaluator) Location() *time.Location { return e.loc }

// Empty reports whether the plan has nothing that could ever play.
func (e *Evaluator) Empty() bool { return len(e.entries) == 0 && len(e.safe) == 0 }

// QuietUntil reports whether t is inside quiet hours and, if so, when
// they end: windows that overlap or touch (the schedule's and the
// device's own) are one stretch of quiet, ending when the last does.
func (e *Evaluator) QuietUntil(t time.Time) (time.Time, bool) {
	return e.quietUntil(t)
}

func (e *Evaluator) quietUntil(t time.Time) (time.Time, bool) {
	until, quiet := e.quietEnd(t)
	if !quiet {
		return time.Time{}, false
	}
	// Chain into a window that starts where this one ends (bounded: a
	// week of back-to-back windows is quiet for good, and the caller
	// re-evaluates by then).
	for range 16 {
		u, q := e.quietEnd(until)
		if !q || !u.After(until) {
			break
		}
		until = u
	}
	return until, true
}

// quietEnd is the latest end of the quiet windows containing t.
func (e *Evaluator) quietEnd(t time.Time) (time.Time, bool) {
	var until time.Time
	quiet := false
	for _, q := range e.quiet {
		d, ok := q.s.occurrence(wallOf(t, q.loc))
		if !ok {
			continue
		}
		_, end := q.s.bounds(d)
		if u := instant(q.loc, end); !quiet || u.After(until) {
			until = u
		}
		quiet = true
	}
	if quiet && !until.After(t) {
		until = t.Add(time.Second) // defensive: always make progress
	}
	return until, quiet
}

// Trigger queues one play of every entry bound to name, as of at. It
// reports false when no entry is bound to name.
func (e *Evaluator) Trigger(name string, at time.Time) bool {
	found := false
	for _, c := range e.entries {
		if name != "" && c.e.Trigger == name {
			found = true
			if len(e.queue) >= MaxQueuedTriggers {
				e.queue = e.queue[1:]
			}
			e.queue = append(e.queue, queued{c, name, at})
		}
	}
	return found
}

// Bound reports whether an entry of this plan is bound to trigger name.
func (e *Evaluator) Bound(name string) bool {
	for _, c := range e.entries {
		if name != "" && c.e.Trigger == name {
			return true
		}
	}
	return false
}

// Misses returns the quota misses found since the last call.
func (e *Evaluator) Misses() []Miss {
	m := e.misses
	e.misses = nil
	return m
}

func (e *Evaluator) miss(c *entry, at time.Time, format string, args ...any) {
	e.misses = append(e.misses, Miss{EntryID: c.e.ID, Campaign: c.e.Campaign, At: at, Detail: fmt.Sprintf(format, args...)})
}

// Played credits a play of p that really happened from start to end.
func (e *Evaluator) Played(p Pick, start, end time.Time) {
	if p.Safe || p.Item.SHA256 == "" {
		return
	}
	c := e.byID[p.EntryID]
	if c == nil || c.e.Trigger != "" || !c.inWin || start.Before(c.obs) {
		return
	}
	if end.After(start) {
		c.played += end.Sub(start)
	}
	if start.After(c.last) {
		c.last = start
	}
}

// Next says what to play at env.Now. See the package documentation for
// the rules.
func (e *Evaluator) Next(env Env) Pick {
	now := env.Now
	cached := env.Cached
	if cached == nil {
		cached = func(string) bool { return true }
	}
	w := wallOf(now, e.loc)

	// Drop stale triggers.
	for len(e.queue) > 0 && now.Sub(e.queue[0].at) > TriggerTTL {
		e.queue = e.queue[1:]
	}

	until, quiet := e.quietUntil(now)
	if env.Synced {
		if e.first.IsZero() {
			e.first = now
		}
		e.observe(now, w, quiet, until)
	} else {
		// Quotas are not measured on an untrusted clock; they start
		// afresh once it is synchronised.
		e.first = time.Time{}
		for _, c := range e.entries {
			c.inWin = false
		}
	}

	if quiet {
		return Pick{Wait: min(until.Sub(now), MaxWait)}
	}

	// Triggers first.
	for len(e.queue) > 0 {
		q := e.queue[0]
		e.queue = e.queue[1:]
		if !env.Synced && !q.e.dateFree {
			continue
		}
		if _, ok := q.e.activeWindow(w); !ok {
			continue
		}
		if i, ok := q.e.peek(w.day, cached); ok {
			p := e.commit(q.e, i)
			p.Trigger = q.name
			return p
		}
	}

	cands := e.cands[:0]
	for _, c := range e.entries {
		if c.e.Trigger != "" || (!env.Synced && (!c.dateFree || len(e.safe) > 0)) {
			continue // unsynced: the safe loop, else date-free entries only
		}
		if _, ok := c.activeWindow(w); !ok {
			continue
		}
		if i, ok := c.peek(w.day, cached); ok {
			cands = append(cands, cand{c, i})
		}
	}
	e.cands = cands
	if len(cands) == 0 {
		if p, ok := e.safePick(cached); ok {
			return p
		}
		if !env.Synced {
			return Pick{Wait: UnsyncedWait}
		}
		return Pick{Wait: e.waitFor(now, w)}
	}
	if env.Synced {
		var longest time.Duration
		for _, c := range cands {
			longest = max(longest, time.Duration(c.e.items[c.i].it.DurationMS)*time.Millisecond)
		}
		if c, ok := e.dueMinEvery(now, longest, cands); ok {
			return e.commit(c.e, c.i)
		}
		if c, ok := e.behindShare(now, longest, cands); ok {
			return e.commit(c.e, c.i)
		}
	}
	best := cands[0]
	for _, c := range cands[1:] {
		switch {
		case c.e.e.Priority > best.e.e.Priority:
			best = c
		case c.e.e.Priority == best.e.e.Priority && c.e.lastPick < best.e.lastPick:
			best = c
		}
	}
	return e.commit(best.e, best.i)
}

type cand struct {
	e *entry
	i int
}

func (e *Evaluator) commit(c *entry, i int) Pick {
	e.seq++
	c.lastPick = e.seq
	c.next = (i + 1) % len(c.items)
	return Pick{Item: c.items[i].it, EntryID: c.e.ID, Campaign: c.e.Campaign}
}

func (e *Evaluator) safePick(cached func(string) bool) (Pick, bool) {
	n := len(e.safe)
	for k := range n {
		i := (e.safeAt + k) % n
		if cached(e.safe[i].SHA256) {
			e.safeAt = (i + 1) % n
			return Pick{Item: e.safe[i], Safe: true}, true
		}
	}
	return Pick{}, false
}

func (c *entry) deadline() time.Time {
	base := c.obs
	if c.last.After(base) {
		base = c.last
	}
	if c.resume.After(base) {
		base = c.resume
	}
	return base.Add(time.Duration(c.e.MinEveryMS) * time.Millisecond)
}

// dueMinEvery picks, earliest deadline first, an entry whose deadline
// would pass if the longest candidate played now.
func (e *Evaluator) dueMinEvery(now time.Time, longest time.Duration, cands []cand) (cand, bool) {
	var best cand
	var bestDL time.Time
	found := false
	for _, c := range cands {
		if c.e.e.MinEveryMS <= 0 || !c.e.inWin {
			continue
		}
		dl := c.e.deadline()
		if !now.Add(longest).After(dl) {
			continue
		}
		if !found || dl.Before(bestDL) {
			best, bestDL, found = c, dl, true
		}
	}
	return best, found
}

// behindShare picks, largest deficit first, an entry that would be
// behind its share once the longest candidate, started now, ended.
func (e *Evaluator) behindShare(now time.Time, longest time.Duration, cands []cand) (cand, bool) {
	var best cand
	var bestDef time.Duration
	found := false
	for _, c := range cands {
		if c.e.e.MinShare <= 0 || !c.e.inWin {
			continue
		}
		def := time.Duration(c.e.e.MinShare*float64(e.elapsed(c.e, now)+longest)) - c.e.played
		if def <= 0 {
			continue
		}
		if !found || def > bestDef {
			best, bestDef, found = c, def, true
		}
	}
	return best, found
}

// elapsed is the output time since c's accounting started: wall time
// minus quiet hours.
func (e *Evaluator) elapsed(c *entry, now time.Time) time.Duration {
	d := now.Sub(c.obs)
	if d <= 0 {
		return 0
	}
	return d - e.quietOverlap(c.obs, now)
}

func (e *Evaluator) quietOverlap(a, b time.Time) time.Duration {
	if len(e.quiet) == 0 || !b.After(a) {
		return 0
	}
	var ivs []interval
	for i, q := range e.quiet {
		wa, wb := wallOf(a, q.loc), wallOf(b, q.loc)
		for d := wa.day - 1; d <= wb.day; d++ {
			for _, v := range e.quietOn(i, d) {
				if v.s.Before(a) {
					v.s = a
				}
				if v.e.After(b) {
					v.e = b
				}
				if v.e.After(v.s) {
					ivs = append(ivs, v)
				}
			}
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].s.Before(ivs[j].s) })
	var total time.Duration
	var cur interval
	for i, v := range ivs {
		if i == 0 || v.s.After(cur.e) {
			total += cur.e.Sub(cur.s)
			cur = v
			continue
		}
		if v.e.After(cur.e) {
			cur.e = v.e
		}
	}
	total += cur.e.Sub(cur.s)
	return total
}

type interval struct{ s, e time.Time }

// quietOn returns the occurrence of quiet window i starting on d (in the
// window's zone), memoised: share accounting asks for the same days at
// every pick.
func (e *Evaluator) quietOn(i int, d day) []interval {
	k := quietDay{i, d}
	if v, ok := e.quietMemo[k]; ok {
		return v
	}
	if e.quietMemo == nil || len(e.quietMemo) > 64 {
		e.quietMemo = map[quietDay][]interval{}
	}
	var out []interval
	if q := e.quiet[i]; q.s.on(d) {
		s, en := q.s.bounds(d)
		out = append(out, interval{instant(q.loc, s), instant(q.loc, en)})
	}
	e.quietMemo[k] = out
	return out
}

// observe moves every time-bound entry's quota window to now, closing
// (and judging) windows that ended and reporting overdue deadlines and
// impossible shares.
//
// Quiet hours do not count against MinEvery: while quiet, the deadline
// restarts from the end of the quiet window.
func (e *Evaluator) observe(now time.Time, w wall, quiet bool, quietEnd time.Time) {
	var sharers []*entry
	var total float64
	for _, c := range e.entries {
		if c.e.Trigger != "" || (c.e.MinEveryMS <= 0 && c.e.MinShare <= 0) {
			continue
		}
		win, active := c.activeWindow(w)
		if c.inWin && (!active || win != c.win) {
			e.closeWindow(c, now)
		}
		if !active {
			continue
		}
		if !c.inWin {
			c.win, c.inWin = win, true
			c.winStart = instant(e.loc, c.windowStart(win))
			c.winEnd = instant(e.loc, c.windowEnd(win))
			c.obs = c.winStart
			if e.first.After(c.obs) {
				c.obs = e.first
			}
			c.played, c.last, c.resume, c.missed, c.shareRep = 0, time.Time{}, time.Time{}, time.Time{}, false
		}
		if quiet {
			c.resume = quietEnd
		} else if c.e.MinEveryMS > 0 {
			if dl := c.deadline(); now.After(dl) && !c.missed.Equal(dl) {
				c.missed = dl
				e.miss(c, dl, "%s did not play on %s between %s and %s (asked at least every %s)",
					c.e.ID, e.output, e.clock(dl.Add(-time.Duration(c.e.MinEveryMS)*time.Millisecond)), e.clock(dl),
					time.Duration(c.e.MinEveryMS)*time.Millisecond)
			}
		}
		if c.e.MinShare > 0 {
			sharers = append(sharers, c)
			total += c.e.MinShare
		}
	}
	if total > 1+1e-9 {
		var parts []string
		for _, c := range sharers {
			parts = append(parts, fmt.Sprintf("%s %s", c.e.ID, pct(c.e.MinShare)))
		}
		for _, c := range sharers {
			if !c.shareRep {
				c.shareRep = true
				e.miss(c, now, "%s cannot get %s of %s: %s ask for %s of the output together",
					c.e.ID, pct(c.e.MinShare), e.output, strings.Join(parts, ", "), pct(total))
			}
		}
	}
}

func (e *Evaluator) closeWindow(c *entry, now time.Time) {
	c.inWin = false
	end := c.winEnd
	if now.Before(end) {
		end = now
	}
	if c.e.MinEveryMS > 0 {
		if dl := c.deadline(); dl.Before(end) && !c.missed.Equal(dl) {
			e.miss(c, dl, "%s did not play on %s between %s and %s (asked at least every %s; window closed %s)",
				c.e.ID, e.output, e.clock(dl.Add(-time.Duration(c.e.MinEveryMS)*time.Millisecond)), e.clock(dl),
				time.Duration(c.e.MinEveryMS)*time.Millisecond, e.clock(end))
		}
	}
	if el := e.elapsed(c, end); c.e.MinShare > 0 && !c.shareRep && el > 0 {
		need := time.Duration(c.e.MinShare * float64(el))
		if c.played+e.maxDur < need {
			e.miss(c, end, "%s got %s of %s from %s to %s, asked %s",
				c.e.ID, pct(float64(c.played)/float64(el)), e.output, e.clock(c.obs), e.clock(end), pct(c.e.MinShare))
		}
	}
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

func (e *Evaluator) clock(t time.Time) string {
	return t.In(e.loc).Format("2006-01-02 15:04:05 MST")
}

// waitFor is how long to sleep when nothing plays: until the next
// daypart start or local midnight, at most MaxWait.
func (e *Evaluator) waitFor(now time.Time, w wall) time.Duration {
	next := instant(e.loc, wall{w.day + 1, 0})
	for _, c := range e.entries {
		if c.e.Trigger != "" {
			continue
		}
		for _, p := range c.parts {
			if !p.on(w.day) || !c.dated(w.day) {
				continue
			}
			if s := instant(e.loc, wall{w.day, p.start}); s.After(now) && s.Before(next) {
				next = s
			}
		}
	}
	d := next.Sub(now)
	if d <= 0 {
		d = time.Second
	}
	return min(d, MaxWait)
}

// Planned is one play of a preview.
type Planned struct {
	Start, End time.Time
	Item       protocol.Item
	EntryID    string
	Campaign   string
	Safe       bool
}

// MaxPreviewPlays bounds a preview.
const MaxPreviewPlays = 1_000_000

// ErrPreviewTooLong is returned when a preview would exceed MaxPreviewPlays.
var ErrPreviewTooLong = errors.New("preview: too many plays; shorten the span")

// Preview runs the evaluator for output from from to to exactly as an
// agent would, with every item lasting exactly its DurationMS, the clock
// synchronised and everything cached. Plays starting before to are
// listed; misses are those found within the span (a window still open at
// to is not judged).
func Preview(s *protocol.Schedule, output string, legacy []protocol.Playlist, from, to time.Time) ([]Planned, []Miss, error) {
	return PreviewWith(s, output, legacy, Options{}, from, to)
}

// PreviewWith is Preview of a device that adds o to its plan (its
// profile's quiet hours).
func PreviewWith(s *protocol.Schedule, output string, legacy []protocol.Playlist, o Options, from, to time.Time) ([]Planned, []Miss, error) {
	ev, err := NewWith(s, output, legacy, o)
	if err != nil {
		return nil, nil, err
	}
	var out []Planned
	var misses []Miss
	for t := from; t.Before(to); {
		p := ev.Next(Env{Now: t, Synced: true})
		misses = append(misses, ev.Misses()...)
		if p.Item.SHA256 == "" {
			t = t.Add(max(p.Wait, time.Millisecond))
			continue
		}
		if len(out) >= MaxPreviewPlays {
			return out, misses, ErrPreviewTooLong
		}
		end := t.Add(time.Duration(p.Item.DurationMS) * time.Millisecond)
		out = append(out, Planned{Start: t, End: end, Item: p.Item, EntryID: p.EntryID, Campaign: p.Campaign, Safe: p.Safe})
		ev.Played(p, t, end)
		t = end
	}
	return out, misses, nil
}
