package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/internal/protocol"
)

func sha(c string) string {
	h := sha256.Sum256([]byte(c))
	return hex.EncodeToString(h[:])
}

func it(c string, ms int64) protocol.Item {
	return protocol.Item{SHA256: sha(c), Size: 1, Kind: "text", Title: c, DurationMS: ms}
}

func ei(c string, ms int64) protocol.EntryItem { return protocol.EntryItem{Item: it(c, ms)} }

func loc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// at parses a local time "2006-01-02 15:04[:05]" in zone.
func at(t testing.TB, zone, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) > len(layout) {
		layout += ":05"
	}
	v, err := time.ParseInLocation(layout, s, loc(t, zone))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func dp(days, start, end string) protocol.Daypart {
	return protocol.Daypart{Days: days, Start: start, End: end}
}

func TestActive(t *testing.T) {
	type check struct {
		at   string
		want bool
	}
	tests := []struct {
		name   string
		zone   string
		entry  protocol.Entry
		checks []check
	}{
		{
			name:  "shanghai bank hours",
			zone:  "Asia/Shanghai",
			entry: protocol.Entry{Dayparts: []protocol.Daypart{dp("mon-fri", "09:00", "17:00")}},
			checks: []check{
				{"2026-03-02 08:59:59", false}, // Monday
				{"2026-03-02 09:00", true},
				{"2026-03-02 16:59:59", true},
				{"2026-03-02 17:00", false},
				{"2026-03-07 10:00", false}, // Saturday
			},
		},
		{
			name:  "midnight crossing belongs to the day it starts",
			zone:  "Asia/Shanghai",
			entry: protocol.Entry{Dayparts: []protocol.Daypart{dp("fri", "22:00", "02:00")}},
			checks: []check{
				{"2026-03-06 21:59", false}, // Friday
				{"2026-03-06 22:00", true},
				{"2026-03-07 01:59:59", true}, // Saturday morning: Friday's night
				{"2026-03-07 02:00", false},
				{"2026-03-07 22:30", false}, // Saturday night is not Friday's
				{"2026-03-06 01:00", false}, // Friday morning belongs to Thursday
			},
		},
		{
			name:  "end 24:00",
			zone:  "Asia/Shanghai",
			entry: protocol.Entry{Dayparts: []protocol.Daypart{dp("sun", "20:00", "24:00")}},
			checks: []check{
				{"2026-03-08 23:59:59", true},
				{"2026-03-09 00:00", false},
			},
		},
		{
			name:  "crossing daypart gated by the start day's date",
			zone:  "Asia/Shanghai",
			entry: protocol.Entry{From: "2026-01-31", Until: "2026-02-01", Dayparts: []protocol.Daypart{dp("daily", "22:00", "06:00")}},
			checks: []check{
				{"2026-01-31 05:00", false}, // belongs to Jan 30
				{"2026-01-31 22:00", true},
				{"2026-02-01 05:59", true}, // Jan 31's night runs into February
				{"2026-02-01 22:00", false},
			},
		},
		{
			name:  "from and until at local midnight",
			zone:  "Europe/Berlin",
			entry: protocol.Entry{From: "2026-03-01", Until: "2026-04-01"},
			checks: []check{
				{"2026-02-28 23:59:59", false},
				{"2026-03-01 00:00", true},
				{"2026-03-31 23:59:59", true},
				{"2026-04-01 00:00", false},
			},
		},
		{
			name:  "leap day 2028",
			zone:  "Asia/Shanghai",
			entry: protocol.Entry{From: "2028-02-29", Until: "2028-03-01", Dayparts: []protocol.Daypart{dp("tue", "23:00", "01:00")}},
			checks: []check{
				{"2028-02-28 23:30", false},
				{"2028-02-29 23:30", true}, // Tuesday
				{"2028-03-01 00:30", true},
				{"2028-03-01 01:00", false},
			},
		},
		{
			name:  "berlin spring forward: the skipped hour never occurs",
			zone:  "Europe/Berlin",
			entry: protocol.Entry{Dayparts: []protocol.Daypart{dp("daily", "02:00", "03:00")}},
			checks: []check{
				{"2026-03-29 01:59:59", false},
				{"2026-03-29 03:00", false}, // the instant after 01:59:59
				{"2026-03-28 02:30", true},
			},
		},
		{
			name:  "berlin fall back: both passes",
			zone:  "Europe/Berlin",
			entry: protocol.Entry{Dayparts: []protocol.Daypart{dp("daily", "02:00", "03:00")}},
			checks: []check{
				{"2026-10-25 01:59", false},
			},
		},
		{
			name:  "new york spring forward",
			zone:  "America/New_York",
			entry: protocol.Entry{Dayparts: []protocol.Daypart{dp("sun", "01:00", "04:00")}},
			checks: []check{
				{"2026-03-08 01:30", true},
				{"2026-03-08 03:00", true}, // right after 01:59:59 EST
				{"2026-03-08 04:00", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.entry.ID, tt.entry.Items = "e", []protocol.EntryItem{ei("a", 1000)}
			for _, c := range tt.checks {
				if got := Active(tt.entry, loc(t, tt.zone), at(t, tt.zone, c.at)); got != c.want {
					t.Errorf("Active at %s = %v, want %v", c.at, got, c.want)
				}
			}
		})
	}
}

func TestActiveFallBackAbsolute(t *testing.T) {
	// Berlin 2026-10-25: 03:00 CEST (01:00 UTC) becomes 02:00 CET, so
	// 02:00–03:00 local runs twice: 00:00–01:00 UTC and 01:00–02:00 UTC.
	berlin := loc(t, "Europe/Berlin")
	e := protocol.Entry{ID: "e", Items: []protocol.EntryItem{ei("a", 1000)}, Dayparts: []protocol.Daypart{dp("daily", "02:00", "03:00")}}
	for _, c := range []struct {
		utc  string
		want bool
	}{
		{"2026-10-24T23:59:59Z", false},
		{"2026-10-25T00:00:00Z", true},
		{"2026-10-25T00:59:59Z", true},
		{"2026-10-25T01:00:00Z", true}, // second pass
		{"2026-10-25T01:59:59Z", true},
		{"2026-10-25T02:00:00Z", false},
	} {
		tm, _ := time.Parse(time.RFC3339, c.utc)
		if got := Active(e, berlin, tm); got != c.want {
			t.Errorf("Active at %s (%s) = %v, want %v", c.utc, tm.In(berlin), got, c.want)
		}
	}
	// New York 2026-11-01: 02:00 EDT becomes 01:00 EST.
	ny := loc(t, "America/New_York")
	e.Dayparts = []protocol.Daypart{dp("sun", "01:00", "02:00")}
	for _, c := range []struct {
		utc  string
		want bool
	}{
		{"2026-11-01T04:59:59Z", false},
		{"2026-11-01T05:00:00Z", true}, // 01:00 EDT
		{"2026-11-01T06:30:00Z", true}, // 01:30 EST, second pass
		{"2026-11-01T07:00:00Z", false},
	} {
		tm, _ := time.Parse(time.RFC3339, c.utc)
		if got := Active(e, ny, tm); got != c.want {
			t.Errorf("NY Active at %s (%s) = %v, want %v", c.utc, tm.In(ny), got, c.want)
		}
	}
}

func TestInstant(t *testing.T) {
	tests := []struct {
		zone string
		day  string
		sec  int
		want string // RFC3339 UTC
	}{
		{"Asia/Shanghai", "2026-03-02", 9 * 3600, "2026-03-02T01:00:00Z"},
		{"Asia/Shanghai", "2026-01-31", 24 * 3600, "2026-01-31T16:00:00Z"},     // Feb 1 00:00
		{"Europe/Berlin", "2026-03-29", 2*3600 + 1800, "2026-03-29T01:00:00Z"}, // 02:30 skipped: the jump
		{"America/New_York", "2026-03-08", 2*3600 + 1800, "2026-03-08T07:00:00Z"},
		{"Europe/Berlin", "2026-10-25", 2*3600 + 1800, "2026-10-25T00:30:00Z"},  // first pass
		{"America/New_York", "2026-11-01", 3600 + 1800, "2026-11-01T05:30:00Z"}, // first pass
		{"UTC", "2028-02-28", 48 * 3600, "2028-03-01T00:00:00Z"},
	}
	for _, tt := range tests {
		d, _, _ := parseDate(tt.day)
		got := instant(loc(t, tt.zone), wall{d, tt.sec}).UTC().Format(time.RFC3339)
		if got != tt.want {
			t.Errorf("instant(%s %s +%ds) = %s, want %s", tt.zone, tt.day, tt.sec, got, tt.want)
		}
	}
}

func TestQuiet(t *testing.T) {
	o := protocol.OutputPlan{Output: "audio", Quiet: []protocol.Daypart{dp("daily", "22:00", "07:00")}}
	sh := loc(t, "Asia/Shanghai")
	for _, c := range []struct {
		at   string
		want bool
	}{
		{"2026-12-31 21:59:59", false},
		{"2026-12-31 22:00", true},
		{"2027-01-01 06:59:59", true},
		{"2027-01-01 07:00", false},
	} {
		if got := Quiet(o, sh, at(t, "Asia/Shanghai", c.at)); got != c.want {
			t.Errorf("Quiet at %s = %v", c.at, got)
		}
	}
	// The evaluator waits out the window and plays nothing in it.
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
		Output: "audio", Quiet: o.Quiet, Safe: []protocol.Item{it("s", 60_000)},
		Entries: []protocol.Entry{{ID: "atm/voice", Items: []protocol.EntryItem{ei("v", 30_000)}}},
	}}}
	ev, err := New(s, "audio", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := ev.Next(Env{Now: at(t, "Asia/Shanghai", "2026-12-31 23:00"), Synced: true})
	if p.Item.SHA256 != "" || p.Wait != time.Hour {
		t.Fatalf("in quiet hours: %+v", p)
	}
	p = ev.Next(Env{Now: at(t, "Asia/Shanghai", "2027-01-01 06:30"), Synced: true})
	if p.Item.SHA256 != "" || p.Wait != 30*time.Minute {
		t.Fatalf("near the end of quiet hours: %+v", p)
	}
	plays, _, err := Preview(s, "audio", nil, at(t, "Asia/Shanghai", "2026-12-31 21:00"), at(t, "Asia/Shanghai", "2027-01-01 08:00"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plays {
		if Quiet(o, sh, p.Start) {
			t.Fatalf("played %s at %s in quiet hours", p.EntryID, p.Start.In(sh))
		}
	}
	if first := plays[0].Start; !first.Equal(at(t, "Asia/Shanghai", "2026-12-31 21:00")) {
		t.Fatalf("first play %s", first)
	}
	if last := plays[len(plays)-1]; !last.Start.Equal(at(t, "Asia/Shanghai", "2027-01-01 07:59:30")) {
		t.Fatalf("last play %+v", last)
	}
}

// run drives ev like an agent whose plays last exactly their duration.
func run(ev *Evaluator, from, to time.Time, env Env) ([]Planned, []Miss) {
	var out []Planned
	var misses []Miss
	for t := from; t.Before(to); {
		env.Now = t
		p := ev.Next(env)
		misses = append(misses, ev.Misses()...)
		if p.Item.SHA256 == "" {
			t = t.Add(p.Wait)
			continue
		}
		end := t.Add(time.Duration(p.Item.DurationMS) * time.Millisecond)
		out = append(out, Planned{Start: t, End: end, Item: p.Item, EntryID: p.EntryID, Safe: p.Safe})
		ev.Played(p, t, end)
		t = end
	}
	return out, misses
}

func titles(ps []Planned) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Item.Title)
	}
	return b.String()
}

func TestItemValidity(t *testing.T) {
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{{
		ID: "door", Items: []protocol.EntryItem{
			ei("a", 60_000),
			{Item: it("b", 60_000), ValidUntil: "2026-03-02"},
			{Item: it("c", 60_000), ValidFrom: "2026-03-02"},
		},
	}}}}}
	plays, _, err := Preview(s, "led", nil, at(t, "Asia/Shanghai", "2026-03-01 23:56"), at(t, "Asia/Shanghai", "2026-03-02 00:04"))
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(plays); got != "ababcaca" {
		t.Fatalf("plays across the validity boundary: %s", got)
	}
}

func TestUnsyncedPlaysSafe(t *testing.T) {
	s := &protocol.Schedule{TZ: "Europe/Berlin", Outputs: []protocol.OutputPlan{{
		Output: "led", Safe: []protocol.Item{it("x", 1000), it("y", 1000)},
		Entries: []protocol.Entry{
			{ID: "dated", From: "2026-01-01", Priority: 9, Items: []protocol.EntryItem{ei("d", 1000)}},
			{ID: "free", Priority: 1, Items: []protocol.EntryItem{ei("f", 1000)}},
			{ID: "btn", Trigger: "large-transfer", Items: []protocol.EntryItem{{Item: it("t", 1000), ValidFrom: "2026-01-01"}}},
		},
	}}}
	now := at(t, "Europe/Berlin", "2026-06-01 12:00")
	ev, _ := New(s, "led", nil)
	ev.Trigger("large-transfer", now)
	plays, _ := run(ev, now, now.Add(4*time.Second), Env{Synced: false})
	if got := titles(plays); got != "xyxy" || !plays[0].Safe {
		t.Fatalf("unsynced with a safe loop: %s %+v", got, plays[0])
	}
	// Without a safe loop only date-free content plays.
	s.Outputs[0].Safe = nil
	ev, _ = New(s, "led", nil)
	plays, _ = run(ev, now, now.Add(3*time.Second), Env{Synced: false})
	if got := titles(plays); got != "fff" {
		t.Fatalf("unsynced without a safe loop: %s", got)
	}
	// Synced: the dated entry has the higher priority.
	plays, _ = run(ev, now, now.Add(2*time.Second), Env{Synced: true})
	if got := titles(plays); got != "dd" {
		t.Fatalf("synced: %s", got)
	}
	// Unsynced and nothing date-free: wait and look at the clock again.
	s.Outputs[0].Entries = s.Outputs[0].Entries[:1]
	ev, _ = New(s, "led", nil)
	if p := ev.Next(Env{Now: now}); p.Item.SHA256 != "" || p.Wait != UnsyncedWait {
		t.Fatalf("unsynced with nothing safe: %+v", p)
	}
}

func TestNothingActiveWaits(t *testing.T) {
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "tv", Entries: []protocol.Entry{
		{ID: "morning", Dayparts: []protocol.Daypart{dp("mon-fri", "09:00", "12:00")}, Items: []protocol.EntryItem{ei("m", 30_000)}},
		{ID: "evening", Dayparts: []protocol.Daypart{dp("mon-fri", "18:30", "20:00")}, Items: []protocol.EntryItem{ei("e", 30_000)}},
	}}}}
	ev, _ := New(s, "tv", nil)
	tests := []struct {
		at   string
		want time.Duration
	}{
		{"2026-03-02 08:15", 45 * time.Minute},
		{"2026-03-02 06:00", time.Hour}, // capped
		{"2026-03-02 18:00", 30 * time.Minute},
		{"2026-03-02 23:30", 30 * time.Minute},    // to midnight
		{"2026-03-07 23:59:30", 30 * time.Second}, // Saturday: midnight
		{"2026-03-02 12:00", time.Hour},           // just closed
		{"2026-03-01 23:59:59", time.Second},      // Sunday night
		{"2026-03-02 17:59:59", 30*time.Minute + time.Second},
	}
	for _, tt := range tests {
		p := ev.Next(Env{Now: at(t, "Asia/Shanghai", tt.at), Synced: true})
		if p.Item.SHA256 != "" || p.Wait != tt.want {
			t.Errorf("at %s: %+v, want wait %s", tt.at, p, tt.want)
		}
	}
	// Nothing scheduled at all, but a safe loop: it plays.
	s.Outputs[0].Safe = []protocol.Item{it("s", 1000)}
	ev, _ = New(s, "tv", nil)
	if p := ev.Next(Env{Now: at(t, "Asia/Shanghai", "2026-03-02 07:00"), Synced: true}); !p.Safe || p.Item.Title != "s" {
		t.Fatalf("nothing scheduled: %+v", p)
	}
}

func TestMinEveryUnderLongLoop(t *testing.T) {
	// The ATM voice prompt at least once every 10 minutes while the bank
	// is open, under a higher-priority loop of 4-minute clips.
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "audio", Entries: []protocol.Entry{
		{ID: "ad/loop", Priority: 10, Items: []protocol.EntryItem{ei("L", 240_000), ei("M", 240_000)}},
		{ID: "atm/voice", Priority: 0, MinEveryMS: 600_000, Dayparts: []protocol.Daypart{dp("mon-fri", "09:00", "17:00")},
			Items: []protocol.EntryItem{ei("v", 20_000)}},
	}}}}
	from, to := at(t, "Asia/Shanghai", "2026-03-02 08:00"), at(t, "Asia/Shanghai", "2026-03-02 18:00")
	plays, misses, err := Preview(s, "audio", nil, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(misses) != 0 {
		t.Fatalf("misses: %+v", misses)
	}
	open, closed := at(t, "Asia/Shanghai", "2026-03-02 09:00"), at(t, "Asia/Shanghai", "2026-03-02 17:00")
	last := open
	n := 0
	for _, p := range plays {
		if p.EntryID != "atm/voice" {
			continue
		}
		if p.Start.Before(open) || !p.Start.Before(closed) {
			t.Fatalf("voice prompt outside opening hours at %s", p.Start)
		}
		if gap := p.Start.Sub(last); gap > 10*time.Minute {
			t.Fatalf("voice prompt gap %s ending %s", gap, p.Start)
		}
		last = p.Start
		n++
	}
	if closed.Sub(last) > 10*time.Minute || n < 48 {
		t.Fatalf("%d prompts, last at %s", n, last)
	}
	// It is not played much more than asked: the loop keeps the output.
	if n > 70 {
		t.Fatalf("%d prompts in 8 hours", n)
	}
}

func TestMinEveryMissReported(t *testing.T) {
	s := &protocol.Schedule{TZ: "Europe/Berlin", Outputs: []protocol.OutputPlan{{Output: "audio", Entries: []protocol.Entry{
		{ID: "ad/loop", Priority: 10, Items: []protocol.EntryItem{ei("L", 60_000)}},
		{ID: "atm/voice", Campaign: "atm", MinEveryMS: 600_000, Dayparts: []protocol.Daypart{dp("daily", "09:00", "10:00")},
			Items: []protocol.EntryItem{ei("v", 20_000)}},
	}}}}
	ev, _ := New(s, "audio", nil)
	notVoice := func(s string) bool { return s != sha("v") } // the clip never arrived
	_, misses := run(ev, at(t, "Europe/Berlin", "2026-06-01 08:59"), at(t, "Europe/Berlin", "2026-06-01 11:00"), Env{Synced: true, Cached: notVoice})
	if len(misses) != 1 {
		t.Fatalf("misses %+v", misses)
	}
	m := misses[0]
	if m.EntryID != "atm/voice" || m.Campaign != "atm" || !m.At.Equal(at(t, "Europe/Berlin", "2026-06-01 09:10")) ||
		!strings.Contains(m.Detail, "between 2026-06-01 09:00:00 CEST and 2026-06-01 09:10:00 CEST") {
		t.Fatalf("miss %+v", m)
	}
}

func TestMinShare(t *testing.T) {
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{
		{ID: "ads", Priority: 5, Items: []protocol.EntryItem{ei("a", 30_000), ei("b", 30_000)}},
		{ID: "hotline", MinShare: 0.2, Dayparts: []protocol.Daypart{dp("daily", "08:00", "20:00")}, Items: []protocol.EntryItem{ei("h", 15_000)}},
	}}}}
	from, to := at(t, "Asia/Shanghai", "2026-03-02 07:00"), at(t, "Asia/Shanghai", "2026-03-02 21:00")
	plays, misses, err := Preview(s, "led", nil, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(misses) != 0 {
		t.Fatalf("misses %+v", misses)
	}
	open, closed := at(t, "Asia/Shanghai", "2026-03-02 08:00"), at(t, "Asia/Shanghai", "2026-03-02 20:00")
	var hot time.Duration
	for _, p := range plays {
		if p.EntryID == "hotline" {
			if p.Start.Before(open) || !p.Start.Before(closed) {
				t.Fatalf("hotline outside its daypart at %s", p.Start)
			}
			hot += p.End.Sub(p.Start)
		}
		// Every hour of the window gets its fifth.
	}
	share := float64(hot) / float64(closed.Sub(open))
	if share < 0.199 || share > 0.21 {
		t.Fatalf("hotline share %.3f", share)
	}
	// Each hour within the window carries about 20%.
	for h := open; h.Before(closed); h = h.Add(time.Hour) {
		var d time.Duration
		for _, p := range plays {
			if p.EntryID == "hotline" && !p.Start.Before(h) && p.Start.Before(h.Add(time.Hour)) {
				d += p.End.Sub(p.Start)
			}
		}
		if d < 11*time.Minute || d > 13*time.Minute {
			t.Fatalf("hour from %s: hotline %s", h, d)
		}
	}
}

func TestImpossibleShares(t *testing.T) {
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{
		{ID: "bank/hotline", Campaign: "bank", MinShare: 0.6, Dayparts: []protocol.Daypart{dp("daily", "09:00", "17:00")}, Items: []protocol.EntryItem{ei("h", 30_000)}},
		{ID: "police/warning", Campaign: "police", MinShare: 0.6, Dayparts: []protocol.Daypart{dp("daily", "09:00", "17:00")}, Items: []protocol.EntryItem{ei("w", 30_000)}},
		{ID: "filler", Items: []protocol.EntryItem{ei("f", 30_000)}},
	}}}}
	from := at(t, "Asia/Shanghai", "2026-03-02 08:00")
	plays, misses, err := Preview(s, "led", nil, from, from.Add(2*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range misses {
		got = append(got, m.At.In(loc(t, "Asia/Shanghai")).Format("01-02 15:04 ")+m.EntryID)
		if !strings.Contains(m.Detail, "ask for 120% of the output together") {
			t.Errorf("detail %q", m.Detail)
		}
	}
	want := []string{"03-02 09:00 bank/hotline", "03-02 09:00 police/warning", "03-03 09:00 bank/hotline", "03-03 09:00 police/warning"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("misses (-want +got):\n%s", d)
	}
	// They still share the window between them, and the filler gets none of it.
	for _, p := range plays {
		if p.EntryID == "filler" && Active(s.Outputs[0].Entries[0], loc(t, "Asia/Shanghai"), p.Start) {
			t.Fatalf("filler at %s", p.Start)
		}
	}
}

func TestShareShortfallReportedAtWindowEnd(t *testing.T) {
	// A 50% share starved by an entry that is always due.
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{
		{ID: "hog", MinEveryMS: 1000, Items: []protocol.EntryItem{ei("x", 30_000)}},
		{ID: "half", MinShare: 0.5, Dayparts: []protocol.Daypart{dp("daily", "09:00", "10:00")}, Items: []protocol.EntryItem{ei("h", 30_000)}},
	}}}}
	from := at(t, "Asia/Shanghai", "2026-03-02 08:59")
	_, misses, _ := Preview(s, "led", nil, from, from.Add(2*time.Hour))
	var share []Miss
	for _, m := range misses {
		if m.EntryID == "half" {
			share = append(share, m)
		}
	}
	if len(share) != 1 || !share[0].At.Equal(at(t, "Asia/Shanghai", "2026-03-02 10:00")) || !strings.Contains(share[0].Detail, "asked 50%") {
		t.Fatalf("share misses %+v", share)
	}
}

func TestTriggers(t *testing.T) {
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
		Output: "audio", Quiet: []protocol.Daypart{dp("daily", "22:00", "07:00")},
		Entries: []protocol.Entry{
			{ID: "loop", Priority: 10, Items: []protocol.EntryItem{ei("l", 60_000)}},
			{ID: "counter/large-transfer", Trigger: "large-transfer", Priority: -5, Dayparts: []protocol.Daypart{dp("mon-fri", "09:00", "17:00")},
				Items: []protocol.EntryItem{ei("1", 8000), ei("2", 8000)}},
		},
	}}}
	ev, _ := New(s, "audio", nil)
	now := at(t, "Asia/Shanghai", "2026-03-02 10:00")
	env := Env{Now: now, Synced: true}
	// Never by time.
	plays, _ := run(ev, now, now.Add(10*time.Minute), env)
	if got := titles(plays); got != strings.Repeat("l", 10) {
		t.Fatalf("before any trigger: %s", got)
	}
	if ev.Trigger("nobody-home", now) || ev.Bound("nobody-home") || !ev.Bound("large-transfer") {
		t.Fatal("unbound trigger accepted")
	}
	// A trigger preempts the loop at the next pick; twice plays twice, round-robin.
	ev.Trigger("large-transfer", now)
	ev.Trigger("large-transfer", now)
	var got []string
	for range 3 {
		p := ev.Next(env)
		got = append(got, p.Item.Title+"/"+p.Trigger)
	}
	if d := cmp.Diff([]string{"1/large-transfer", "2/large-transfer", "l/"}, got); d != "" {
		t.Fatalf("(-want +got)\n%s", d)
	}
	// Outside its daypart, and in quiet hours, a trigger is dropped.
	sat := at(t, "Asia/Shanghai", "2026-03-07 10:00")
	ev.Trigger("large-transfer", sat)
	if p := ev.Next(Env{Now: sat, Synced: true}); p.Item.Title != "l" {
		t.Fatalf("trigger on saturday: %+v", p)
	}
	night := at(t, "Asia/Shanghai", "2026-03-02 23:00")
	ev.Trigger("large-transfer", night)
	if p := ev.Next(Env{Now: night, Synced: true}); p.Item.SHA256 != "" {
		t.Fatalf("trigger in quiet hours: %+v", p)
	}
	later := at(t, "Asia/Shanghai", "2026-03-03 09:00")
	if p := ev.Next(Env{Now: later, Synced: true}); p.Trigger != "" {
		t.Fatalf("stale trigger served: %+v", p)
	}
}

func TestRoundRobinFairness(t *testing.T) {
	s := &protocol.Schedule{TZ: "UTC", Outputs: []protocol.OutputPlan{{Output: "tv", Entries: []protocol.Entry{
		{ID: "a", Priority: 3, Items: []protocol.EntryItem{ei("a", 1000), ei("b", 1000), ei("c", 1000)}},
		{ID: "d", Priority: 3, Items: []protocol.EntryItem{ei("d", 1000)}},
		{ID: "e", Priority: 3, Items: []protocol.EntryItem{ei("e", 1000), ei("f", 1000)}},
		{ID: "low", Priority: 1, Items: []protocol.EntryItem{ei("z", 1000)}},
	}}}}
	from := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	plays, _, _ := Preview(s, "tv", nil, from, from.Add(12*time.Second))
	if got := titles(plays); got != "adebdfcdeadf" {
		t.Fatalf("round robin: %s", got)
	}
	// Uncached items are skipped without breaking the rotation.
	ev, _ := New(s, "tv", nil)
	noB := func(s string) bool { return s != sha("b") && s != sha("d") }
	plays, _ = run(ev, from, from.Add(6*time.Second), Env{Synced: true, Cached: noB})
	if got := titles(plays); got != "aecfae" {
		t.Fatalf("round robin with gaps: %s", got)
	}
}

func TestLegacyPlaylists(t *testing.T) {
	legacy := []protocol.Playlist{
		{Name: "door", Output: "led", Items: []protocol.Item{it("a", 1000), it("b", 1000)}},
		{Name: "hall", Output: "tv", Items: []protocol.Item{it("t", 1000)}},
	}
	from := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	plays, _, err := Preview(nil, "led", legacy, from, from.Add(3*time.Second))
	if err != nil || titles(plays) != "aba" || plays[0].EntryID != "door" {
		t.Fatalf("legacy: %v %+v", err, plays)
	}
	// A schedule plan for the output replaces the playlist; other outputs keep theirs.
	s := &protocol.Schedule{TZ: "UTC", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{{ID: "x", Items: []protocol.EntryItem{ei("x", 1000)}}}}}}
	plays, _, _ = Preview(s, "led", legacy, from, from.Add(2*time.Second))
	if titles(plays) != "xx" {
		t.Fatalf("schedule over legacy: %s", titles(plays))
	}
	plays, _, _ = Preview(s, "tv", legacy, from, from.Add(2*time.Second))
	if titles(plays) != "tt" {
		t.Fatalf("legacy beside schedule: %s", titles(plays))
	}
	ev, err := New(s, "printer", legacy)
	if err != nil || !ev.Empty() {
		t.Fatalf("nothing on printer: %v", err)
	}
}

func TestDSTPreview(t *testing.T) {
	tests := []struct {
		zone      string
		from, to  string // UTC
		daypart   protocol.Daypart
		wantPlays int // one-minute items
	}{
		// Spring forward: the 02:00–03:00 window does not occur.
		{"Europe/Berlin", "2026-03-28T23:00:00Z", "2026-03-29T03:00:00Z", dp("daily", "02:00", "03:00"), 0},
		// Fall back: it occurs twice.
		{"Europe/Berlin", "2026-10-24T22:00:00Z", "2026-10-25T03:00:00Z", dp("daily", "02:00", "03:00"), 120},
		// New York, 01:00–04:00 on spring-forward Sunday is two real hours.
		{"America/New_York", "2026-03-08T04:00:00Z", "2026-03-08T10:00:00Z", dp("sun", "01:00", "04:00"), 120},
		// ... and four on fall-back Sunday.
		{"America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T11:00:00Z", dp("sun", "01:00", "04:00"), 240},
		// Shanghai has no DST: three hours.
		{"Asia/Shanghai", "2026-03-07T16:00:00Z", "2026-03-08T00:00:00Z", dp("sun", "01:00", "04:00"), 180},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.from, func(t *testing.T) {
			s := &protocol.Schedule{TZ: tt.zone, Outputs: []protocol.OutputPlan{{Output: "tv", Entries: []protocol.Entry{
				{ID: "night", Dayparts: []protocol.Daypart{tt.daypart}, Items: []protocol.EntryItem{ei("n", 60_000)}},
			}}}}
			from, _ := time.Parse(time.RFC3339, tt.from)
			to, _ := time.Parse(time.RFC3339, tt.to)
			plays, _, err := Preview(s, "tv", nil, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if len(plays) != tt.wantPlays {
				var first, last string
				if len(plays) > 0 {
					first, last = plays[0].Start.In(loc(t, tt.zone)).String(), plays[len(plays)-1].Start.In(loc(t, tt.zone)).String()
				}
				t.Fatalf("%d plays (%s … %s), want %d", len(plays), first, last, tt.wantPlays)
			}
		})
	}
}

func TestMonthEndPreview(t *testing.T) {
	// An entry running Jan 31 only, with a night daypart, continues into
	// Feb 1 morning and stops; Feb 29 2028 exists, 2027 does not need it.
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{
		{ID: "night", From: "2026-01-31", Until: "2026-02-01", Dayparts: []protocol.Daypart{dp("daily", "23:00", "01:00")}, Items: []protocol.EntryItem{ei("n", 600_000)}},
		{ID: "leap", From: "2028-02-29", Until: "2028-03-01", Items: []protocol.EntryItem{ei("l", 3_600_000)}},
	}}}}
	plays, _, _ := Preview(s, "led", nil, at(t, "Asia/Shanghai", "2026-01-31 22:00"), at(t, "Asia/Shanghai", "2026-02-01 23:59"))
	if len(plays) != 12 || !plays[0].Start.Equal(at(t, "Asia/Shanghai", "2026-01-31 23:00")) || !plays[11].Start.Equal(at(t, "Asia/Shanghai", "2026-02-01 00:50")) {
		t.Fatalf("%d plays from %v", len(plays), plays)
	}
	plays, _, _ = Preview(s, "led", nil, at(t, "Asia/Shanghai", "2028-02-28 00:00"), at(t, "Asia/Shanghai", "2028-03-02 00:00"))
	if len(plays) != 24 || !plays[0].Start.Equal(at(t, "Asia/Shanghai", "2028-02-29 00:00")) {
		t.Fatalf("leap day: %d plays, first %v", len(plays), plays)
	}
}

func TestNewRefuses(t *testing.T) {
	bad := &protocol.Schedule{TZ: "Mars/Olympus"}
	if _, err := New(bad, "led", nil); err == nil {
		t.Fatal("bad zone accepted")
	}
	legacy := []protocol.Playlist{{Name: "x", Output: "led", Items: []protocol.Item{{SHA256: sha("a")}}}}
	if _, err := New(nil, "led", legacy); err == nil {
		t.Fatal("zero-duration legacy item accepted")
	}
}

func TestMinEveryPausesForQuietHours(t *testing.T) {
	// The speaker is silent over lunch; the every-10-minutes rule is not
	// broken by it, and resumes counting when lunch ends.
	s := &protocol.Schedule{TZ: "America/New_York", Outputs: []protocol.OutputPlan{{
		Output: "audio", Quiet: []protocol.Daypart{dp("daily", "12:00", "13:00")},
		Entries: []protocol.Entry{
			{ID: "loop", Priority: 10, Items: []protocol.EntryItem{ei("L", 120_000)}},
			{ID: "voice", MinEveryMS: 600_000, Dayparts: []protocol.Daypart{dp("daily", "09:00", "17:00")}, Items: []protocol.EntryItem{ei("v", 20_000)}},
		},
	}}}
	from := at(t, "America/New_York", "2026-07-01 11:00")
	plays, misses, err := Preview(s, "audio", nil, from, from.Add(4*time.Hour))
	if err != nil || len(misses) != 0 {
		t.Fatalf("%v misses %+v", err, misses)
	}
	var firstAfter time.Time
	for _, p := range plays {
		if p.EntryID == "voice" && !p.Start.Before(at(t, "America/New_York", "2026-07-01 13:00")) {
			firstAfter = p.Start
			break
		}
	}
	if d := firstAfter.Sub(at(t, "America/New_York", "2026-07-01 13:00")); d > 10*time.Minute || d < 8*time.Minute {
		t.Fatalf("first prompt after lunch at %s", firstAfter)
	}
}
