package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/agent/internal/link/linktest"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// stepClock is a fake clock that knows the deadlines it has handed out,
// so a test can jump straight to the next one once every goroutine is
// parked: plays then end exactly on their deadlines, as in plan.Preview.
type stepClock struct {
	*clock.Fake
	mu        sync.Mutex
	deadlines []time.Time
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	if d > 0 {
		c.mu.Lock()
		c.deadlines = append(c.deadlines, c.Fake.Now().Add(d))
		c.mu.Unlock()
	}
	return c.Fake.After(d)
}

// step waits until waiters timers are pending (every goroutine that
// waits on the clock is parked), then moves the clock to the earliest
// pending deadline. It reports false, without moving, when that deadline
// is after limit.
func (c *stepClock) step(t *testing.T, waiters int, limit time.Time) bool {
	t.Helper()
	timeout := make(chan struct{})
	tm := time.AfterFunc(20*time.Second, func() { close(timeout) })
	defer tm.Stop()
	if !c.BlockUntil(timeout, waiters) {
		t.Fatalf("at %s: only %d of %d clock waiters parked", c.Now(), c.Waiters(), waiters)
	}
	now := c.Now()
	c.mu.Lock()
	kept := c.deadlines[:0]
	var next time.Time
	for _, d := range c.deadlines {
		if d.After(now) {
			kept = append(kept, d)
			if next.IsZero() || d.Before(next) {
				next = d
			}
		}
	}
	c.deadlines = kept
	c.mu.Unlock()
	if next.IsZero() || next.After(limit) {
		return false
	}
	c.Set(next)
	return true
}

// mediaItem makes an item of kind lasting ms, served by the media server.
func (e *env) mediaItem(name, kind string, ms int64) protocol.Item {
	it := e.item(name)
	it.Kind, it.DurationMS = kind, ms
	return it
}

// cacheItems puts items straight into the agent's media cache.
func (e *env) cacheItems(items ...protocol.Item) {
	e.t.Helper()
	for _, it := range items {
		if err := os.WriteFile(filepath.Join(e.cacheDir, it.SHA256), e.media[it.SHA256], 0o640); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) signDoc(doc protocol.DesiredState) []byte {
	e.t.Helper()
	now := e.clk.Now().Unix()
	doc.V, doc.Device = protocol.Version, dev
	if doc.Version == 0 {
		doc.Version = 1
	}
	if doc.IssuedAt == 0 {
		doc.IssuedAt = now - 60
	}
	if doc.ExpiresAt == 0 {
		doc.ExpiresAt = now + 86400
	}
	raw, err := protocol.SignDesired(e.key, &doc)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

// holdDoc stores raw as the agent's held desired state, as if received
// before a restart.
func (e *env) holdDoc(raw []byte) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.state, DesiredFile), raw, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// offline points the agent at a broker that is not there.
func (e *env) offline(o *Options) {
	cfg := *e.cfg
	cfg.BrokerURL = "tcp://127.0.0.1:1"
	o.Config = &cfg
	o.StatusEvery = 1000 * time.Hour // one parked status timer, never due in these tests
}

type play struct {
	Output string
	SHA    string
	Start  time.Time
}

func (r *running) plays(before time.Time) []play {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []play
	for kind, o := range r.outputs {
		for _, h := range o.History() {
			if h.Result.Start.Before(before) {
				out = append(out, play{kind, h.Item.SHA256, h.Result.Start})
			}
		}
	}
	sortPlays(out)
	return out
}

func sortPlays(ps []play) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Output != ps[j].Output {
			return ps[i].Output < ps[j].Output
		}
		return ps[i].Start.Before(ps[j].Start)
	})
}

func previewPlays(t *testing.T, doc protocol.DesiredState, outputs []string, from, to time.Time) ([]play, []plan.Miss) {
	t.Helper()
	var out []play
	var misses []plan.Miss
	for _, o := range outputs {
		ps, ms, err := plan.Preview(doc.Schedule, o, doc.Playlists, from, to)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			out = append(out, play{o, p.Item.SHA256, p.Start})
		}
		misses = append(misses, ms...)
	}
	sortPlays(out)
	return out, misses
}

func shanghai(t *testing.T, s string) time.Time {
	t.Helper()
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, l)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPlaybackAgreesWithPreview runs the real daemon on virtual outputs
// whose plays last exactly their duration, for three simulated hours
// across daypart boundaries and quiet hours, and compares every play
// (output, media, start) with plan.Preview over the same span.
func TestPlaybackAgreesWithPreview(t *testing.T) {
	e := newEnv(t)
	from := shanghai(t, "2026-03-02 08:40:00") // a Monday
	to := from.Add(3 * time.Hour)
	clk := &stepClock{Fake: clock.NewFake(from)}
	e.clk = clk.Fake

	ads1, ads2 := e.mediaItem("ads-1", "text", 30_000), e.mediaItem("ads-2", "text", 45_000)
	hot, morning := e.mediaItem("hotline", "text", 20_000), e.mediaItem("morning", "text", 25_000)
	aAds, aVoice, aSafe := e.mediaItem("a-ads", "audio", 60_000), e.mediaItem("a-voice", "audio", 12_000), e.mediaItem("a-safe", "audio", 40_000)
	hall1, hall2 := e.mediaItem("hall-1", "video", 33_000), e.mediaItem("hall-2", "video", 17_000)
	e.cacheItems(ads1, ads2, hot, morning, aAds, aVoice, aSafe, hall1, hall2)
	ei := func(its ...protocol.Item) []protocol.EntryItem {
		var out []protocol.EntryItem
		for _, it := range its {
			out = append(out, protocol.EntryItem{Item: it})
		}
		return out
	}
	doc := protocol.DesiredState{
		Playlists: []protocol.Playlist{{Name: "hall", Output: "tv", Items: []protocol.Item{hall1, hall2}}},
		Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{
			{Output: "led", Entries: []protocol.Entry{
				{ID: "bank/ads", Campaign: "bank", Priority: 5, Items: ei(ads1, ads2)},
				{ID: "police/hotline", Campaign: "police", MinShare: 0.25, Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "10:30"}}, Items: ei(hot)},
				{ID: "police/morning", Campaign: "police", Priority: 8, Dayparts: []protocol.Daypart{{Days: "mon-fri", Start: "08:00", End: "09:00"}}, Items: ei(morning)},
			}},
			{Output: "audio", Quiet: []protocol.Daypart{{Days: "daily", Start: "10:00", End: "10:20"}}, Safe: []protocol.Item{aSafe}, Entries: []protocol.Entry{
				{ID: "bank/audio", Priority: 3, Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "11:00"}}, Items: ei(aAds)},
				{ID: "police/atm", MinEveryMS: 300_000, Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "11:00"}}, Items: ei(aVoice)},
			}},
		}},
	}
	e.holdDoc(e.signDoc(doc))

	r := e.startWith(func(o *Options) { e.offline(o); o.Clock = clk })
	waiters := 3 + 1 // a player per output, the status timer
	steps := 0
	for clk.step(t, waiters, to) {
		steps++
	}
	r.stop(t) // the plays in progress at the end go into the history, cut short
	got := r.plays(to)
	want, misses := previewPlays(t, doc, []string{"audio", "led", "tv"}, from, to)
	if len(want) < 500 {
		t.Fatalf("only %d plays previewed", len(want))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("daemon and preview disagree (-preview +daemon):\n%s", d)
	}
	t.Logf("%d plays on 3 outputs agree with the preview (%d clock steps, %d misses)", len(got), steps, len(misses))
}

// TestOfflineForAMonth: the agent never reaches a broker; its held
// document expires after a day; it keeps following the schedule for 32
// days, exactly as previewed.
func TestOfflineForAMonth(t *testing.T) {
	e := newEnv(t)
	from := shanghai(t, "2026-03-01 00:00:00")
	to := from.Add(32 * 24 * time.Hour)
	clk := &stepClock{Fake: clock.NewFake(from)}
	e.clk = clk.Fake
	morning, evening := e.mediaItem("morning", "text", 600_000), e.mediaItem("evening", "text", 900_000)
	e.cacheItems(morning, evening)
	doc := protocol.DesiredState{
		Version: 7, ExpiresAt: from.Add(24 * time.Hour).Unix(),
		Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{Output: "led", Entries: []protocol.Entry{
			{ID: "morning", Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "10:00"}}, Items: []protocol.EntryItem{{Item: morning}}},
			{ID: "evening", Dayparts: []protocol.Daypart{{Days: "mon-fri", Start: "18:00", End: "18:30"}}, Items: []protocol.EntryItem{{Item: evening}}},
		}}}},
	}
	e.holdDoc(e.signDoc(doc))
	r := e.startWith(func(o *Options) { e.offline(o); o.Clock = clk })
	for clk.step(t, 2, to) {
	}
	r.stop(t)
	got := r.plays(to)
	want, _ := previewPlays(t, doc, []string{"led"}, from, to)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("offline playback (-preview +daemon):\n%s", d)
	}
	last := got[len(got)-1]
	if last.Start.Before(from.Add(31 * 24 * time.Hour)) {
		t.Fatalf("last play at %s", last.Start)
	}
	// 6 mornings a day, 2 evenings per weekday.
	weekdays := 0
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			weekdays++
		}
	}
	if n := len(got); n != 32*6+weekdays*2 {
		t.Fatalf("%d plays in 32 days", n)
	}
	if st := r.d.OutboxStats(); st.Unreceipted != uint64(len(got)) {
		t.Fatalf("outbox %+v, want every play kept", st)
	}
	t.Logf("%d plays over 32 offline days; held version %d expired on day 1", len(got), r.d.HeldVersion())
}

// probe is an output that reports each play's start (fake and real
// time) after it has armed its own timer, so a test can advance the
// fake clock knowing the play is waiting on it.
type probe struct {
	kind   string
	clk    clock.Clock
	events chan probeEvent
}

type probeEvent struct {
	Output string
	Item   protocol.Item
	Start  time.Time // fake clock
	Real   time.Time
	Body   string
}

var _ output.Output = (*probe)(nil)

func (p *probe) Kind() string { return p.kind }

func (p *probe) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return output.Result{}, fmt.Errorf("probe: %w", err)
	}
	start := p.clk.Now()
	done := p.clk.After(time.Duration(it.DurationMS) * time.Millisecond)
	p.events <- probeEvent{p.kind, it, start, time.Now(), string(body)}
	res := output.Result{Start: start}
	select {
	case <-done:
		res.Played = true
	case <-ctx.Done():
		res.Reason = "interrupted"
	}
	res.End = p.clk.Now()
	res.Mono = res.End.Sub(start)
	return res, nil
}

func (e *env) probes(o *Options) <-chan probeEvent {
	events := make(chan probeEvent, 1000)
	clk := o.Clock
	o.NewOutput = func(kind string) (output.Output, error) { return &probe{kind, clk, events}, nil }
	return events
}

func nextEvent(t *testing.T, ch <-chan probeEvent) probeEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a play")
	}
	panic("unreachable")
}

func noEvent(t *testing.T, ch <-chan probeEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected play %+v", ev)
	default:
	}
}

// acks collects acks from the broker.
func collectAcks(t *testing.T, ch <-chan linktest.Message, want func(map[string]protocol.Ack) bool) map[string]protocol.Ack {
	t.Helper()
	got := map[string]protocol.Ack{}
	deadline := time.After(20 * time.Second)
	for !want(got) {
		select {
		case m := <-ch:
			var a protocol.Ack
			if err := protocol.Decode(m.Payload, &a); err != nil {
				t.Fatal(err)
			}
			got[ackKey(a)+"|"+a.Event+a.Entry] = a
		case <-deadline:
			t.Fatalf("timed out waiting for acks; have %v", keys(got))
		}
	}
	return got
}

func keys(m map[string]protocol.Ack) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func has(ks ...string) func(map[string]protocol.Ack) bool {
	return func(m map[string]protocol.Ack) bool {
		for _, k := range ks {
			if _, ok := m[k]; !ok {
				return false
			}
		}
		return true
	}
}

func textSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestAlertPreemptsRepeatsAndExpires(t *testing.T) {
	e := newEnv(t)
	acks := e.broker.Subscribe(t, protocol.UpTopic(dev, protocol.TopicAck), 100)
	loop := e.mediaItem("loop", "text", 60_000)
	e.cacheItems(loop)
	base := protocol.DesiredState{Version: 1, Nodes: []string{"site-7", "town"},
		Playlists: []protocol.Playlist{{Name: "door", Output: "led", Items: []protocol.Item{loop}}}}
	e.publishDesired(e.signDoc(base))
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) { events = e.probes(o) })
	defer r.stop(t)
	if ev := nextEvent(t, events); ev.Item.SHA256 != loop.SHA256 {
		t.Fatalf("first play %+v", ev)
	}
	collectAcks(t, acks, has("adopted/1|adopted"))

	now := e.clk.Now()
	text := "紧急预警：冒充公检法诈骗 — police never ask you to transfer money"
	v2 := base
	v2.Version = 2
	v2.Alerts = []protocol.Alert{
		{ID: "w1", Targets: []string{"site-7"}, Outputs: []string{"led", "audio"}, Text: text,
			IssuedAt: now.Unix(), ExpiresAt: now.Unix() + 50, RepeatEveryMS: 30_000, HoldMS: 5000},
		{ID: "not-us", Targets: []string{"site-9"}, Outputs: []string{"led"}, Text: "other site", IssuedAt: now.Unix(), ExpiresAt: now.Unix() + 50},
	}
	sent := time.Now()
	e.publishDesired(e.signDoc(v2))
	ev := nextEvent(t, events)
	latency := ev.Real.Sub(sent)
	if ev.Item.SHA256 != textSHA(text) || ev.Body != text || ev.Item.Kind != "text" || ev.Item.DurationMS != 5000 || !ev.Start.Equal(now) {
		t.Fatalf("alert play %+v", ev)
	}
	// The fake clock does not move: an alert that waited for the current
	// play's end would never start, so any finite latency is preemption.
	if latency > 10*time.Second {
		t.Fatalf("alert started %s after arrival", latency)
	}
	t.Logf("alert preempted the sign %s after the document was published", latency)
	got := collectAcks(t, acks, has("adopted/2|adopted", "received/w1|received"))
	if a := got["received/w1|received"]; a.Version != 2 || a.Device != dev || !a.ClockSynced {
		t.Fatalf("received ack %+v", a)
	}

	e.clk.Advance(5 * time.Second) // the alert's hold ends
	if ev := nextEvent(t, events); ev.Item.SHA256 != loop.SHA256 {
		t.Fatalf("after the alert: %+v", ev)
	}
	got = collectAcks(t, acks, has("first_play/w1/led|first_play"))
	if a := got["first_play/w1/led|first_play"]; a.Output != "led" || a.Alert != "w1" {
		t.Fatalf("first play ack %+v", a)
	}
	e.clk.Advance(25 * time.Second) // 30 s after the first: the repeat interrupts the loop
	if ev := nextEvent(t, events); ev.Item.SHA256 != textSHA(text) || !ev.Start.Equal(now.Add(30*time.Second)) {
		t.Fatalf("repeat %+v", ev)
	}
	e.clk.Advance(5 * time.Second)
	if ev := nextEvent(t, events); ev.Item.SHA256 != loop.SHA256 {
		t.Fatalf("after the repeat: %+v", ev)
	}
	// The next repeat would be at 60 s, after expiry at 50 s: none.
	e.clk.Advance(60 * time.Second)
	if ev := nextEvent(t, events); ev.Item.SHA256 != loop.SHA256 || !ev.Start.Equal(now.Add(95*time.Second)) {
		t.Fatalf("after expiry: %+v", ev)
	}
	noEvent(t, events)

	// The proof chain tells it: loop interrupted by the alert, alert
	// played twice as "alert:w1", loop interrupted by the repeat.
	var h protocol.Hello
	protocol.Decode(recv(t, e.hellos).Payload, &h)
	c := &chain{pub: h.PublicKey, records: map[uint64]protocol.ProofRecord{}}
	e.drive(c, func() bool { return c.last >= 6 })
	var story []string
	for seq := uint64(1); seq <= 6; seq++ {
		p := c.records[seq]
		story = append(story, fmt.Sprintf("v%d %s %s %s", p.Version, p.Playlist, p.Result, p.Reason))
	}
	want := []string{
		"v1 door failed interrupted: urgent alert",
		"v2 alert:w1 played ",
		"v2 door failed interrupted: urgent alert",
		"v2 alert:w1 played ",
		"v2 door played ",
		"v2 door played ",
	}
	if d := cmp.Diff(want, story); d != "" {
		t.Fatalf("proofs (-want +got):\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(e.cacheDir, textSHA("other site"))); err == nil {
		t.Fatal("an alert for another site was stored")
	}
}

func TestAlertWaitsForQuietHoursToEnd(t *testing.T) {
	e := newEnv(t)
	from := shanghai(t, "2026-03-02 06:59:30")
	e.clk = clock.NewFake(from)
	loop := e.mediaItem("loop", "text", 60_000)
	e.cacheItems(loop)
	doc := protocol.DesiredState{Version: 3, Nodes: []string{"town"},
		Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
			Output: "led", Quiet: []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}},
			Entries: []protocol.Entry{{ID: "loop", Items: []protocol.EntryItem{{Item: loop}}}},
		}}},
		Alerts: []protocol.Alert{{ID: "night", Targets: []string{"town"}, Outputs: []string{"led"}, Text: "warning",
			IssuedAt: from.Unix() - 10, ExpiresAt: from.Unix() + 3600}},
	}
	e.holdDoc(e.signDoc(doc))
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) { e.offline(o); events = e.probes(o) })
	defer r.stop(t)
	e.clk.BlockUntil(nil, 2) // the player waits out the quiet window; the status timer
	noEvent(t, events)
	e.clk.Advance(30 * time.Second)
	ev := nextEvent(t, events)
	if ev.Item.SHA256 != textSHA("warning") || !ev.Start.Equal(shanghai(t, "2026-03-02 07:00:00")) {
		t.Fatalf("first play after quiet hours %+v", ev)
	}
}

// TestUnsyncedClockPlaysSafeLoop: after a power cut the clock is not
// synchronised; the agent plays the safe loop (proofs say so) and
// switches to the schedule once the clock is trusted.
func TestUnsyncedClockPlaysSafeLoop(t *testing.T) {
	e := newEnv(t)
	safe, dated := e.mediaItem("safe", "text", 20_000), e.mediaItem("dated", "text", 20_000)
	e.cacheItems(safe, dated)
	e.holdDoc(e.signDoc(protocol.DesiredState{Schedule: &protocol.Schedule{TZ: "Europe/Berlin", Outputs: []protocol.OutputPlan{{
		Output: "led", Safe: []protocol.Item{safe},
		Entries: []protocol.Entry{{ID: "spring", From: "2000-01-01", Items: []protocol.EntryItem{{Item: dated}}}},
	}}}}))
	var mu sync.Mutex
	synced := false
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) {
		e.offline(o)
		events = e.probes(o)
		o.ClockSynced = func() bool { mu.Lock(); defer mu.Unlock(); return synced }
	})
	if ev := nextEvent(t, events); ev.Item.SHA256 != safe.SHA256 {
		t.Fatalf("unsynced: %+v", ev)
	}
	e.clk.Advance(20 * time.Second)
	if ev := nextEvent(t, events); ev.Item.SHA256 != safe.SHA256 {
		t.Fatalf("unsynced: %+v", ev)
	}
	mu.Lock()
	synced = true
	mu.Unlock()
	e.clk.Advance(20 * time.Second)
	if ev := nextEvent(t, events); ev.Item.SHA256 != dated.SHA256 {
		t.Fatalf("synced: %+v", ev)
	}
	recs, err := r.d.outbox.Pending(t.Context(), 0, 10)
	r.stop(t)
	if err != nil || len(recs) < 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, rec := range recs[:2] {
		if rec.Playlist != "safe" || rec.ClockSynced || rec.Result != protocol.ResultPlayed {
			t.Fatalf("safe-loop proof %+v", rec)
		}
	}
}
