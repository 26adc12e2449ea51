package daemon

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/trigger"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestTriggerPreemptsWithin300ms(t *testing.T) {
	e := newEnv(t)
	loop, warn := e.mediaItem("loop", "text", 60_000), e.mediaItem("large-transfer", "text", 8_000)
	e.cacheItems(loop, warn)
	e.holdDoc(e.signDoc(protocol.DesiredState{Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
		Output: "led", Entries: []protocol.Entry{
			{ID: "bank/loop", Priority: 5, Items: []protocol.EntryItem{{Item: loop}}},
			{ID: "counter/large-transfer", Trigger: "large-transfer", Items: []protocol.EntryItem{{Item: warn}}},
		},
	}}}}))
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) {
		e.offline(o)
		events = e.probes(o)
		o.Trigger = trigger.Options{Addr: "127.0.0.1:0"}
	})
	stop := sync.OnceFunc(func() { r.stop(t) })
	defer stop()
	waitFor(t, "trigger listener", func() bool { return r.d.TriggerAddr() != "" })
	url := "http://" + r.d.TriggerAddr() + "/trigger/"
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	post := func(name string) int {
		resp, err := client.Post(url+name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if ev := nextEvent(t, events); ev.Item.SHA256 != loop.SHA256 {
		t.Fatalf("first play %+v", ev)
	}
	if code := post("fire-drill"); code != http.StatusNotFound {
		t.Fatalf("unbound trigger: %d", code)
	}
	if r.d.Fire("nobody") {
		t.Fatal("unbound Fire accepted")
	}
	var lat []time.Duration
	for i := range 10 {
		sent := time.Now()
		if i%2 == 0 {
			if code := post("large-transfer"); code != http.StatusAccepted {
				t.Fatalf("trigger: %d", code)
			}
		} else if !r.d.Fire("large-transfer") { // the GPIO path
			t.Fatal("Fire refused")
		}
		ev := nextEvent(t, events)
		if ev.Item.SHA256 != warn.SHA256 {
			t.Fatalf("after trigger %d: %+v", i, ev)
		}
		lat = append(lat, ev.Real.Sub(sent))
		e.clk.Advance(8 * time.Second)
		if ev := nextEvent(t, events); ev.Item.SHA256 != loop.SHA256 {
			t.Fatalf("after the triggered play: %+v", ev)
		}
	}
	sorted := slices.Clone(lat)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("trigger → Output.Play start: p50 %s, max %s (HTTP and Fire alternating; each interrupts a play and records its proof)", sorted[len(sorted)/2], sorted[len(sorted)-1])
	// The figure is logged (the 300 ms target is the GPIO benchmark's);
	// the bound only catches a trigger that waited for the next slot.
	if sorted[len(sorted)/2] > 5*time.Second {
		t.Fatalf("median trigger latency %s: triggers wait for the schedule: %v", sorted[len(sorted)/2], lat)
	}
	// Each triggered play cut the loop short, with a reason.
	recs, err := r.d.outbox.Pending(t.Context(), 0, 100)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if rec.Reason == "interrupted: trigger large-transfer" {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d plays interrupted by the trigger, want 10", n)
	}
}

// holdProxy forwards TCP to a broker; hold makes it swallow everything
// the agent sends (a link that has gone deaf one way), cut drops the
// connections.
type holdProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	hold bool
	cs   []net.Conn
}

func newHoldProxy(t *testing.T, addr string) *holdProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.cut(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.cs = append(p.cs, c, u)
			p.mu.Unlock()
			wg.Go(func() {
				defer u.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					p.mu.Lock()
					held := p.hold
					p.mu.Unlock()
					if held {
						continue
					}
					if _, err := u.Write(buf[:n]); err != nil {
						return
					}
				}
			})
			wg.Go(func() { io.Copy(c, u); c.Close() })
		}
	})
	return p
}

func (p *holdProxy) setHold(h bool) {
	p.mu.Lock()
	p.hold = h
	p.mu.Unlock()
}

func (p *holdProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cs {
		c.Close()
	}
	p.cs, p.hold = nil, false
}

// TestAcksSurviveDisconnect: an alert arrives, the agent adopts it and
// signs for it, but the connection dies before the acks reach the
// broker. They are kept (on disk) and delivered after the reconnect.
func TestAcksSurviveDisconnect(t *testing.T) {
	e := newEnv(t)
	px := newHoldProxy(t, strings.TrimPrefix(e.broker.URL, "tcp://"))
	acks := e.broker.Subscribe(t, protocol.UpTopic(dev, protocol.TopicAck), 100)
	loop := e.mediaItem("loop", "text", 60_000)
	e.cacheItems(loop)
	base := protocol.DesiredState{Version: 1, Nodes: []string{"unit-bank"}, Playlists: []protocol.Playlist{{Name: "door", Output: "led", Items: []protocol.Item{loop}}}}
	e.publishDesired(e.signDoc(base))
	r := e.startWith(func(o *Options) {
		cfg := *e.cfg
		cfg.BrokerURL = "tcp://" + px.ln.Addr().String()
		o.Config = &cfg
		o.Resend = 500 * time.Millisecond
	})
	defer r.stop(t)
	collectAcks(t, acks, has("adopted/1|adopted"))

	px.setHold(true)
	now := e.clk.Now()
	v2 := base
	v2.Version = 2
	v2.Alerts = []protocol.Alert{{ID: "w9", Targets: []string{"unit-bank"}, Outputs: []string{"led"}, Text: "Do not share SMS codes",
		IssuedAt: now.Unix(), ExpiresAt: now.Unix() + 600}}
	e.publishDesired(e.signDoc(v2))
	waitFor(t, "v2 adopted", func() bool { return r.d.HeldVersion() == 2 })
	waitFor(t, "acks pending", func() bool { return len(r.d.acks.pending()) >= 2 })
	onDisk, err := os.ReadFile(filepath.Join(e.state, AcksFile))
	if err != nil || !strings.Contains(string(onDisk), `"alert":"w9"`) {
		t.Fatalf("acks file: %v %s", err, onDisk)
	}
	select {
	case m := <-acks:
		t.Fatalf("ack got through a deaf link: %s", m.Payload)
	default:
	}
	px.cut()
	got := collectAcks(t, acks, has("adopted/2|adopted", "received/w9|received"))
	if a := got["received/w9|received"]; a.Version != 2 || a.At != now.UnixMilli() {
		t.Fatalf("received ack %+v", a)
	}
	waitFor(t, "queue drained", func() bool { return len(r.d.acks.pending()) == 0 })
}

func TestQuotaMissIsAcked(t *testing.T) {
	e := newEnv(t)
	acks := e.broker.Subscribe(t, protocol.UpTopic(dev, protocol.TopicAck), 100)
	loop := e.mediaItem("loop", "text", 60_000)
	voice := protocol.Item{SHA256: textSHA("never served"), Size: 12, Kind: "text", DurationMS: 5000}
	e.cacheItems(loop)
	e.publishDesired(e.signDoc(protocol.DesiredState{Schedule: &protocol.Schedule{TZ: "Europe/Berlin", Outputs: []protocol.OutputPlan{{
		Output: "led", Entries: []protocol.Entry{
			{ID: "bank/loop", Priority: 5, Items: []protocol.EntryItem{{Item: loop}}},
			{ID: "police/prompt", Campaign: "police", MinEveryMS: 120_000, Items: []protocol.EntryItem{{Item: voice}}},
		},
	}}}}))
	var events <-chan probeEvent
	r := e.startWith(func(o *Options) { events = e.probes(o) })
	defer r.stop(t)
	for range 3 {
		nextEvent(t, events)
		e.clk.Advance(time.Minute)
	}
	got := collectAcks(t, acks, has("|quota_misspolice/prompt"))
	a := got["|quota_misspolice/prompt"]
	if a.Output != "led" || a.Version != 1 || !strings.Contains(a.Detail, "asked at least every 2m0s") {
		t.Fatalf("quota miss ack %+v", a)
	}
}

func TestAckQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), AcksFile)
	q, err := openAcks(path)
	if err != nil {
		t.Fatal(err)
	}
	ack := func(ev string, v uint64, alert, out, entry string) protocol.Ack {
		return protocol.Ack{V: protocol.Version, Device: dev, Event: ev, Version: v, Alert: alert, Output: out, Entry: entry, At: 1}
	}
	for _, tt := range []struct {
		a    protocol.Ack
		want bool
	}{
		{ack("adopted", 3, "", "", ""), true},
		{ack("adopted", 3, "", "", ""), false}, // once per version
		{ack("received", 3, "w1", "", ""), true},
		{ack("received", 4, "w1", "", ""), false}, // once per alert
		{ack("first_play", 3, "w1", "led", ""), true},
		{ack("first_play", 3, "w1", "tv", ""), true},
		{ack("quota_miss", 3, "", "led", "e1"), true},
		{ack("quota_miss", 3, "", "led", "e1"), true}, // every miss counts
	} {
		if got, err := q.add(tt.a); got != tt.want || err != nil {
			t.Fatalf("add %+v = %v, %v", tt.a, got, err)
		}
	}
	if _, err := q.add(ack("bogus", 3, "", "", "")); err == nil {
		t.Fatal("invalid ack queued")
	}
	head, _ := q.first()
	if err := q.taken(head); err != nil {
		t.Fatal(err)
	}
	// A restart finds the rest, and still remembers what was signed for.
	q2, err := openAcks(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(q2.pending()); n != 5 {
		t.Fatalf("%d pending after reopen", n)
	}
	if ok, _ := q2.add(ack("received", 3, "w1", "", "")); ok {
		t.Fatal("signed twice for w1 after a restart")
	}
	q2.forget(func(k string) bool { return !strings.HasPrefix(k, "received/") })
	if ok, _ := q2.add(ack("received", 3, "w1", "", "")); !ok {
		t.Fatal("forgotten key still blocks")
	}
	// Overflow drops quota misses first.
	q2.max = 10
	for range 20 {
		q2.add(ack("quota_miss", 3, "", "led", "e2"))
	}
	ps := q2.pending()
	if len(ps) != 10 || ps[0].Event != protocol.AckReceived || ps[3].Event != protocol.AckReceived {
		t.Fatalf("overflow kept %d, head %+v", len(ps), ps[0])
	}
	// A damaged file starts empty, with an error to log.
	os.WriteFile(path, []byte("{"), 0o600)
	if q3, err := openAcks(path); err == nil || q3 == nil || len(q3.pending()) != 0 {
		t.Fatalf("damaged file: %v", err)
	}
}
