package plan

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// dayOfOneDevice is a busy bank-branch audio+screen day: five entries,
// 30-second items, quotas, a trigger and quiet hours.
func dayOfOneDevice() *protocol.Schedule {
	items := func(prefix string, n int) []protocol.EntryItem {
		var out []protocol.EntryItem
		for i := range n {
			out = append(out, ei(fmt.Sprintf("%s%d", prefix, i), 30_000))
		}
		return out
	}
	return &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
		Output: "tv",
		Quiet:  []protocol.Daypart{dp("daily", "23:00", "06:00")},
		Safe:   []protocol.Item{it("safe", 30_000)},
		Entries: []protocol.Entry{
			{ID: "bank/ads", Campaign: "bank", Priority: 5, Items: items("ad", 12)},
			{ID: "police/hotline", Campaign: "police", MinShare: 0.2, Dayparts: []protocol.Daypart{dp("daily", "08:00", "20:00")}, Items: items("hl", 3)},
			{ID: "police/atm", Campaign: "police", MinEveryMS: 600_000, Dayparts: []protocol.Daypart{dp("mon-fri", "09:00", "17:00")}, Items: items("atm", 2)},
			{ID: "town/festival", Campaign: "town", Priority: 7, From: "2026-02-01", Until: "2026-03-01", Dayparts: []protocol.Daypart{dp("sat,sun", "10:00", "18:00")}, Items: items("fest", 4)},
			{ID: "counter/large-transfer", Campaign: "bank", Trigger: "large-transfer", Items: items("lt", 1)},
		},
	}}}
}

// BenchmarkPreviewDay evaluates a full day of one output: 2,880 picks of
// 30-second items. The quiet variant adds night quiet hours, which share
// accounting must subtract.
func BenchmarkPreviewDay(b *testing.B) {
	b.Run("no-quiet", func(b *testing.B) {
		s := dayOfOneDevice()
		s.Outputs[0].Quiet = nil
		benchPreviewDay(b, s)
	})
	b.Run("quiet", func(b *testing.B) { benchPreviewDay(b, dayOfOneDevice()) })
}

func benchPreviewDay(b *testing.B, s *protocol.Schedule) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, sh)
	picks := 0
	b.ReportAllocs()
	for b.Loop() {
		plays, _, err := Preview(s, "tv", nil, from, from.Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		picks = len(plays)
	}
	b.ReportMetric(float64(picks), "picks/day")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(picks), "ns/pick")
}

func BenchmarkNext(b *testing.B) {
	ev, err := New(dayOfOneDevice(), "tv", nil)
	if err != nil {
		b.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	t := time.Date(2026, 3, 2, 12, 0, 0, 0, sh)
	b.ReportAllocs()
	for b.Loop() {
		p := ev.Next(Env{Now: t, Synced: true})
		end := t.Add(time.Duration(p.Item.DurationMS) * time.Millisecond)
		ev.Played(p, t, end)
		t = end
		if p.Item.SHA256 == "" {
			t = t.Add(p.Wait)
		}
	}
}

var fuzzZones = []string{"Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe", "Pacific/Chatham"}

var fuzzClocks = []string{"00:00", "01:30", "02:00", "02:30", "03:00", "07:00", "09:00", "12:00", "17:00", "22:00", "23:59", "24:00"}

var fuzzDays = []string{"daily", "mon-fri", "sat,sun", "fri-mon", "tue", "sun"}

func FuzzActive(f *testing.F) {
	f.Add("mon-fri", "09:00", "17:00", "2026-01-31", "2026-02-01", uint8(0), int64(1772409600))
	f.Add("daily", "22:00", "07:00", "", "", uint8(1), int64(1774746000))
	f.Add("sun", "01:00", "24:00", "2028-02-29", "", uint8(2), int64(1825000000))
	f.Fuzz(func(t *testing.T, days, start, end, from, until string, zone uint8, unix int64) {
		l, err := time.LoadLocation(fuzzZones[int(zone)%len(fuzzZones)])
		if err != nil {
			t.Skip()
		}
		e := protocol.Entry{ID: "e", From: from, Until: until, Dayparts: []protocol.Daypart{dp(days, start, end)}, Items: []protocol.EntryItem{ei("a", 1000)}}
		tm := time.Unix(unix%(1<<40), 0)
		Active(e, l, tm)
		Quiet(protocol.OutputPlan{Quiet: e.Dayparts}, l, tm)
	})
}

// FuzzNext builds a schedule and a run of events from the input and
// drives an evaluator through them: it must not panic, must not play in
// quiet hours or play anything not in the plan, and must always make
// progress.
func FuzzNext(f *testing.F) {
	f.Add([]byte("\x03\x10\x22\x31\x05\x07\x09\x0b\x0d\x0f\x11\x13\x15\x17\x19\x1b\x1d\x1f\x21\x23"), int64(1772409600))
	f.Add([]byte("\x00\x00\x00\x00"), int64(1774740000))
	f.Add([]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1"), int64(1792882800))
	f.Fuzz(func(t *testing.T, data []byte, unix int64) {
		r := &byteReader{b: data}
		zone := fuzzZones[r.n(len(fuzzZones))]
		op := protocol.OutputPlan{Output: "led"}
		if r.n(2) == 0 {
			op.Quiet = []protocol.Daypart{r.daypart()}
		}
		if r.n(2) == 0 {
			op.Safe = []protocol.Item{it("safe", int64(10_000+r.n(100_000)))}
		}
		known := map[string]bool{sha("safe"): true}
		for i := range 1 + r.n(6) {
			e := protocol.Entry{ID: fmt.Sprintf("e%d", i), Priority: r.n(4)}
			if r.n(3) == 0 {
				e.Dayparts = []protocol.Daypart{r.daypart()}
			}
			if r.n(4) == 0 {
				e.From = time.Unix(unix, 0).UTC().AddDate(0, 0, r.n(3)-1).Format(time.DateOnly)
			}
			if r.n(3) == 0 {
				e.MinEveryMS = int64(60_000 * (1 + r.n(30)))
			}
			if r.n(3) == 0 {
				e.MinShare = float64(r.n(11)) / 10
			}
			if r.n(5) == 0 {
				e.Trigger = "t"
			}
			for j := range 1 + r.n(3) {
				name := fmt.Sprintf("%d-%d", i, j)
				known[sha(name)] = true
				item := protocol.EntryItem{Item: it(name, int64(10_000+r.n(300_000)))}
				if r.n(4) == 0 {
					item.ValidUntil = time.Unix(unix, 0).UTC().AddDate(0, 0, r.n(3)).Format(time.DateOnly)
				}
				e.Items = append(e.Items, item)
			}
			op.Entries = append(op.Entries, e)
		}
		s := &protocol.Schedule{TZ: zone, Outputs: []protocol.OutputPlan{op}}
		ev, err := New(s, "led", nil)
		if err != nil {
			return // not a valid schedule (e.g. an empty daypart)
		}
		now := time.Unix(unix%(1<<36), 0)
		synced := true
		cachedMask := uint(0xffff)
		cached := func(h string) bool { return cachedMask&(uint(h[0])%16+1) != 0 }
		l := ev.Location()
		for step := 0; step < 2000; step++ {
			switch r.n(8) {
			case 0:
				synced = !synced
			case 1:
				ev.Trigger("t", now)
			case 2:
				cachedMask = uint(r.n(1 << 16))
			case 3:
				if r.n(4) == 0 { // the wall clock steps back (NTP correction)
					now = now.Add(-time.Duration(r.n(7200)) * time.Second)
				}
			}
			p := ev.Next(Env{Now: now, Synced: synced, Cached: cached})
			ev.Misses()
			if p.Item.SHA256 == "" {
				if p.Wait <= 0 || p.Wait > MaxWait {
					t.Fatalf("wait %s at %s", p.Wait, now)
				}
				now = now.Add(p.Wait)
				continue
			}
			if !known[p.Item.SHA256] {
				t.Fatalf("played unknown item %+v", p)
			}
			if Quiet(op, l, now) {
				t.Fatalf("played %s in quiet hours at %s", p.EntryID, now.In(l))
			}
			end := now.Add(time.Duration(p.Item.DurationMS) * time.Millisecond)
			ev.Played(p, now, end)
			now = end
		}
	})
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) n(max int) int {
	if max <= 1 {
		return 0
	}
	var v uint16
	if r.i+2 <= len(r.b) {
		v = binary.LittleEndian.Uint16(r.b[r.i:])
		r.i += 2
	} else if r.i < len(r.b) {
		v = uint16(r.b[r.i])
		r.i++
	}
	return int(v) % max
}

func (r *byteReader) daypart() protocol.Daypart {
	return dp(fuzzDays[r.n(len(fuzzDays))], fuzzClocks[r.n(len(fuzzClocks))], fuzzClocks[r.n(len(fuzzClocks))])
}
