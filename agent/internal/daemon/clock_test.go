package daemon

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/agent/internal/clocksync"
	"github.com/guardcast/guardcast/agent/internal/clocksync/clocksynctest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// TestClockSyncsLate: a Pi boots with the kernel saying the clock is not
// synchronised. The status says so (source kernel) and the agent plays
// the safe loop; when NTP syncs, the next kernel read switches it to the
// schedule without a restart and a status goes out at once.
func TestClockSyncsLate(t *testing.T) {
	e := newEnv(t)
	safe, dated := e.mediaItem("safe", "text", 20_000), e.mediaItem("dated", "text", 20_000)
	e.cacheItems(safe, dated)
	e.holdDoc(e.signDoc(protocol.DesiredState{Version: 7, Schedule: &protocol.Schedule{TZ: "Europe/Berlin", Outputs: []protocol.OutputPlan{{
		Output: "led", Safe: []protocol.Item{safe},
		Entries: []protocol.Entry{{ID: "spring", From: "2000-01-01", Items: []protocol.EntryItem{{Item: dated}}}},
	}}}}))
	k := clocksynctest.New(false)
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) {
		events = e.probes(o)
		o.ClockSynced, o.ClockKernel = nil, k
		o.StatusEvery = 1000 * time.Hour // only a change sends a status
	})
	defer r.stop(t)
	st := lastStatus(t, e.statuses, func(s protocol.Status) bool { return s.Online })
	if st.ClockSynced || st.ClockSource != protocol.ClockKernel {
		t.Fatalf("first status: clock_synced %v source %q, want untrusted from the kernel", st.ClockSynced, st.ClockSource)
	}
	// Two minutes unsynchronised: the kernel is read again, the safe loop
	// goes on.
	for i := 0; i < 6 || k.Reads() < 2; i++ {
		if i > 20 {
			t.Fatalf("kernel read %d times", k.Reads())
		}
		if ev := nextEvent(t, events); ev.Item.SHA256 != safe.SHA256 {
			t.Fatalf("unsynchronised: %+v", ev)
		}
		e.clk.Advance(20 * time.Second)
	}
	k.Set(true, nil)
	var synced time.Time
	for i := 0; synced.IsZero(); i++ {
		if i > 20 {
			t.Fatal("no status with the clock synchronised")
		}
		e.clk.Advance(20 * time.Second)
		nextEvent(t, events)
		select {
		case m := <-e.statuses:
			var s protocol.Status
			if err := protocol.Decode(m.Payload, &s); err != nil {
				t.Fatal(err)
			}
			if s.ClockSource != protocol.ClockKernel {
				t.Fatalf("status %+v, want the clock state from the kernel", s)
			}
			if s.ClockSynced { // earlier ones (what plays changed) may still say not
				synced = e.clk.Now()
			}
		case <-time.After(50 * time.Millisecond): // the monitor reads once a minute
		}
	}
	for {
		e.clk.Advance(20 * time.Second)
		ev := nextEvent(t, events)
		if ev.Start.After(synced) {
			if ev.Item.SHA256 != dated.SHA256 {
				t.Fatalf("after the sync at %s played %+v, want the schedule", synced, ev)
			}
			break
		}
	}
	if n := k.Reads(); n < 2 {
		t.Fatalf("kernel read %d times", n)
	}
}

// TestClockTrustedForced: --clock-trusted plays the schedule without
// asking the kernel, and the status says the trust is forced.
func TestClockTrustedForced(t *testing.T) {
	e := newEnv(t)
	safe, dated := e.mediaItem("safe", "text", 20_000), e.mediaItem("dated", "text", 20_000)
	e.cacheItems(safe, dated)
	e.holdDoc(e.signDoc(protocol.DesiredState{Schedule: &protocol.Schedule{TZ: "UTC", Outputs: []protocol.OutputPlan{{
		Output: "led", Safe: []protocol.Item{safe},
		Entries: []protocol.Entry{{ID: "spring", From: "2000-01-01", Items: []protocol.EntryItem{{Item: dated}}}},
	}}}}))
	k := clocksynctest.New(false)
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) {
		events = e.probes(o)
		o.ClockSynced, o.ClockKernel, o.ClockTrusted = nil, k, true
	})
	defer r.stop(t)
	st := lastStatus(t, e.statuses, func(s protocol.Status) bool { return s.Online })
	if !st.ClockSynced || st.ClockSource != protocol.ClockForced {
		t.Fatalf("status: clock_synced %v source %q, want forced", st.ClockSynced, st.ClockSource)
	}
	if ev := nextEvent(t, events); ev.Item.SHA256 != dated.SHA256 {
		t.Fatalf("forced trust played %+v", ev)
	}
	if k.Reads() != 0 {
		t.Fatal("forced trust read the kernel")
	}
}

// previewUntrusted is plan.Preview with the clock untrusted: the loop the
// controller's preview runs for a device whose status says so
// (schedule.PreviewStateClock), which the agent cannot import.
func previewUntrusted(t *testing.T, doc protocol.DesiredState, outputs []string, from, to time.Time) []play {
	t.Helper()
	var out []play
	for _, o := range outputs {
		ev, err := plan.New(doc.Schedule, o, doc.Playlists)
		if err != nil {
			t.Fatal(err)
		}
		for at := from; at.Before(to); {
			p := ev.Next(plan.Env{Now: at, Synced: false})
			if p.Item.SHA256 == "" {
				at = at.Add(max(p.Wait, time.Millisecond))
				continue
			}
			end := at.Add(time.Duration(p.Item.DurationMS) * time.Millisecond)
			out = append(out, play{o, p.Item.SHA256, at})
			ev.Played(p, at, end)
			at = end
		}
	}
	sortPlays(out)
	return out
}

// TestUntrustedPlaybackAgreesWithPreview is TestPlaybackAgreesWithPreview
// on a device whose kernel says the clock is not synchronised: the real
// daemon (its clock monitor included) against the untrusted preview,
// across dayparts and quiet hours. The LED sign plays its safe loop, the
// TV its date-free playlist, the audio output (quiet hours, no safe loop,
// only dated entries) nothing.
func TestUntrustedPlaybackAgreesWithPreview(t *testing.T) {
	e := newEnv(t)
	from := shanghai(t, "2026-03-02 08:40:00")
	to := from.Add(3 * time.Hour)
	clk := &stepClock{Fake: clock.NewFake(from)}
	e.clk = clk.Fake

	ads, hot, safe1, safe2 := e.mediaItem("ads", "text", 30_000), e.mediaItem("hotline", "text", 20_000),
		e.mediaItem("safe-1", "text", 15_000), e.mediaItem("safe-2", "text", 25_000)
	aAds := e.mediaItem("a-ads", "audio", 60_000)
	hall1, hall2 := e.mediaItem("hall-1", "video", 33_000), e.mediaItem("hall-2", "video", 17_000)
	e.cacheItems(ads, hot, safe1, safe2, aAds, hall1, hall2)
	doc := protocol.DesiredState{
		Playlists: []protocol.Playlist{{Name: "hall", Output: "tv", Items: []protocol.Item{hall1, hall2}}},
		Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{
			{Output: "led", Safe: []protocol.Item{safe1, safe2}, Entries: []protocol.Entry{
				{ID: "bank/ads", Priority: 5, Items: []protocol.EntryItem{{Item: ads}}},
				{ID: "town/hotline", MinShare: 0.25, Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "10:30"}},
					Items: []protocol.EntryItem{{Item: hot}}},
			}},
			{Output: "audio", Quiet: []protocol.Daypart{{Days: "daily", Start: "10:00", End: "10:20"}}, Entries: []protocol.Entry{
				{ID: "bank/audio", Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "11:00"}}, Items: []protocol.EntryItem{{Item: aAds}}},
			}},
		}},
	}
	e.holdDoc(e.signDoc(doc))
	k := clocksynctest.New(false)
	r := e.startWith(func(o *Options) {
		e.offline(o)
		o.Clock = clk
		o.ClockSynced, o.ClockKernel = nil, k
	})
	waiters := 3 + 1 + 1 // a player per output, the status timer, the clock monitor
	for clk.step(t, waiters, to) {
	}
	r.stop(t)
	got := r.plays(to)
	want := previewUntrusted(t, doc, []string{"audio", "led", "tv"}, from, to)
	if len(want) < 500 {
		t.Fatalf("only %d plays previewed", len(want))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("untrusted daemon and preview disagree (-preview +daemon):\n%s", d)
	}
	shas := map[string]bool{}
	for _, p := range got {
		shas[p.SHA] = true
	}
	if shas[hot.SHA256] || shas[ads.SHA256] || shas[aAds.SHA256] || !shas[safe1.SHA256] || !shas[hall1.SHA256] {
		t.Fatalf("untrusted clock played %v", shas)
	}
	if n := k.Reads(); n < 180 {
		t.Fatalf("kernel read %d times in 3 hours, want every minute", n)
	}
	t.Logf("%d untrusted plays agree with the preview", len(got))
}

var _ clocksync.Kernel = (*clocksynctest.Kernel)(nil)
