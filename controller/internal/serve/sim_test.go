package serve

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/guardcast/guardcast/controller/internal/fleet"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// controller is a running serve.Run in a temp dir.
type controller struct {
	dir    string
	ep     Endpoints
	cancel context.CancelFunc
	done   chan error
}

func startController(t testing.TB, dir string, cfg Config) *controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Endpoints, 1)
	cfg.DataDir = dir
	if cfg.MQTTAddr == "" {
		cfg.MQTTAddr = "127.0.0.1:0"
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	cfg.Ready = func(e Endpoints) { ready <- e }
	c := &controller{dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- Run(ctx, cfg, testLogger(t)) }()
	select {
	case c.ep = <-ready:
	case err := <-c.done:
		t.Fatalf("controller did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("controller did not start in 20 s")
	}
	return c
}

func (c *controller) stop(t testing.TB) {
	t.Helper()
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("controller exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("controller did not stop in 20 s")
	}
}

// enroll registers devices through the same code as `device add`.
func enroll(t testing.TB, dir string, ids ...string) map[string]*protocol.AgentConfig {
	t.Helper()
	return enrollAt(t, dir, "", ids...)
}

// enrollAt registers devices on a site (org node; "" for none).
func enrollAt(t testing.TB, dir, site string, ids ...string) map[string]*protocol.AgentConfig {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := schedule.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*protocol.AgentConfig{}
	for _, id := range ids {
		cfg, err := fleet.Enroll(ctx, st, fleet.Enrollment{ID: id, Profile: "virtual", Node: site, BrokerURL: "tcp://127.0.0.1:1",
			MediaURL: "http://127.0.0.1:1/media/", ContentKey: key.Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		out[id] = cfg
	}
	return out
}

// simAgent is a minimal agent speaking the real protocol over a real MQTT
// connection: hello with enrollment MAC, signed hash-chained batches,
// receipts, resend on timeout, and acknowledgements: "adopted" for every
// new desired-state version, and for every alert in it "received" and
// "first_play" at once (as if its first output played it immediately).
// Load tests use it where a full agent process per device would measure
// process start-up instead of ingestion.
type simAgent struct {
	cfg  *protocol.AgentConfig
	key  ed25519.PrivateKey
	cli  paho.Client
	recs []protocol.ProofRecord // everything generated, index seq-1

	receipted atomic.Uint64
	anyRcpt   atomic.Bool   // a receipt arrived: the controller has answered our hello
	desired   atomic.Uint64 // version of the last desired state seen
	rcptCh    chan struct{}

	silent  atomic.Bool  // acknowledge nothing (a laggard)
	alertAt atomic.Int64 // when a document with a new alert last arrived (unix ns)
	inForce atomic.Int32 // alerts in the last document
	ackMu   sync.Mutex
	acked   map[string]bool             // once-only acks sent
	alerts  map[string]protocol.Alert   // alerts in the last desired state
	ackWG   sync.WaitGroup              // publishes of acks in flight
	closing bool                        // no new acks once close began
	docCh   chan *protocol.DesiredState // desired states seen (dropped when full)
}

func newSimAgent(t testing.TB, cfg *protocol.AgentConfig, brokerURL string) *simAgent {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	a := &simAgent{cfg: cfg, key: priv, rcptCh: make(chan struct{}, 1), acked: map[string]bool{},
		docCh: make(chan *protocol.DesiredState, 16)}
	opts := paho.NewClientOptions().AddBroker(brokerURL).SetClientID(cfg.Device).SetUsername(cfg.Device).
		SetPassword(cfg.Password).SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false).
		SetWriteTimeout(30 * time.Second)
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		t, err := protocol.ParseTopic(m.Topic())
		if err != nil {
			return
		}
		switch t.Name {
		case protocol.TopicReceipt:
			var r protocol.Receipt
			if protocol.Decode(m.Payload(), &r) == nil {
				a.anyRcpt.Store(true)
				for {
					cur := a.receipted.Load()
					if r.Through <= cur || a.receipted.CompareAndSwap(cur, r.Through) {
						break
					}
				}
				select {
				case a.rcptCh <- struct{}{}:
				default:
				}
			}
		case protocol.TopicDesired:
			var doc protocol.SignedDoc
			if protocol.Decode(m.Payload(), &doc) == nil {
				var d protocol.DesiredState
				if json.Unmarshal(doc.Payload, &d) == nil {
					a.desired.Store(d.Version)
					a.acknowledge(&d)
				}
			}
		}
	})
	a.cli = paho.NewClient(opts)
	if tok := a.cli.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", cfg.Device, tok.Error())
	}
	if tok := a.cli.Subscribe(protocol.DownFilter(cfg.Device), 1, nil); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: subscribe: %v", cfg.Device, tok.Error())
	}
	return a
}

func (a *simAgent) hello(t testing.TB) {
	secret, _ := protocol.DecodeKey(a.cfg.EnrollSecret, 32)
	pub := a.key.Public().(ed25519.PublicKey)
	h, _ := json.Marshal(protocol.Hello{V: protocol.Version, Device: a.cfg.Device, PublicKey: pub,
		EnrollMAC: protocol.EnrollMAC(secret, a.cfg.Device, pub), NextSeq: uint64(len(a.recs) + 1)})
	a.publish(t, protocol.TopicHello, h)
}

func (a *simAgent) publish(t testing.TB, name string, payload []byte) {
	tok := a.cli.Publish(protocol.UpTopic(a.cfg.Device, name), 1, false, payload)
	if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		t.Errorf("%s: publish %s: %v", a.cfg.Device, name, tok.Error())
	}
}

// generate appends n new chained records.
func (a *simAgent) generate(n int) {
	prev := protocol.GenesisHash
	if len(a.recs) > 0 {
		prev = a.recs[len(a.recs)-1].Hash()
	}
	now := time.Now().UnixNano()
	for i := 0; i < n; i++ {
		r := protocol.ProofRecord{Device: a.cfg.Device, Seq: uint64(len(a.recs) + 1), Prev: prev, Version: 1,
			Output: protocol.OutputLED, Playlist: "door", MediaSHA256: "83ae357952a3f882c25ab5b36e663a045efcf905e5e275765bc83b7650355065",
			StartNS: now, EndNS: now + 5e9, MonoNS: 5e9, ClockSynced: true, Result: protocol.ResultPlayed}
		prev = r.Hash()
		a.recs = append(a.recs, r)
	}
}

func (a *simAgent) batch(from, to int) []byte { // records seq from..to inclusive
	recs := a.recs[from-1 : to]
	last := recs[len(recs)-1]
	b, _ := json.Marshal(protocol.ProofBatch{V: protocol.Version, Device: a.cfg.Device, Records: recs,
		HeadSig: protocol.SignHead(a.key, a.cfg.Device, last.Seq, last.Hash())})
	return b
}

// send delivers every generated record, in batches of size, keeping at most
// window records unreceipted (0: no window — a burst), resending from the
// first unreceipted record when receipts stall for resend.
func (a *simAgent) send(t testing.TB, size, window int, resend, limit time.Duration) {
	deadline := time.Now().Add(limit)
	total := uint64(len(a.recs))
	next := a.receipted.Load() + 1
	lastProgress := time.Now()
	lastRcpt := a.receipted.Load()
	for a.receipted.Load() < total {
		if time.Now().After(deadline) {
			t.Errorf("%s: only %d of %d records receipted after %v", a.cfg.Device, a.receipted.Load(), total, limit)
			return
		}
		r := a.receipted.Load()
		if r != lastRcpt {
			lastRcpt, lastProgress = r, time.Now()
		}
		if time.Since(lastProgress) > resend {
			next, lastProgress = r+1, time.Now()
		}
		if next <= total && (window == 0 || next-r-1 < uint64(window)) {
			to := min(next+uint64(size)-1, total)
			a.publish(t, protocol.TopicProofs, a.batch(int(next), int(to)))
			next = to + 1
			continue
		}
		select {
		case <-a.rcptCh:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// acknowledge sends, from a goroutine of its own (never publish inside a
// paho handler), the acks a real agent would for document d.
func (a *simAgent) acknowledge(d *protocol.DesiredState) {
	if a.silent.Load() {
		return
	}
	now := time.Now().UnixMilli()
	var acks []protocol.Ack
	a.ackMu.Lock()
	defer a.ackMu.Unlock()
	a.inForce.Store(int32(len(d.Alerts)))
	if a.closing {
		return
	}
	a.alerts = map[string]protocol.Alert{}
	once := func(key string, ack protocol.Ack) {
		if !a.acked[key] {
			a.acked[key] = true
			ack.V, ack.Device, ack.Version, ack.At, ack.ClockSynced = protocol.Version, a.cfg.Device, d.Version, now, true
			acks = append(acks, ack)
		}
	}
	once(fmt.Sprint("adopted/", d.Version), protocol.Ack{Event: protocol.AckAdopted})
	for _, al := range d.Alerts {
		if _, seen := a.alerts[al.ID]; !seen {
			a.alertAt.Store(time.Now().UnixNano())
		}
		a.alerts[al.ID] = al
		once("received/"+al.ID, protocol.Ack{Event: protocol.AckReceived, Alert: al.ID})
		once("first_play/"+al.ID, protocol.Ack{Event: protocol.AckFirstPlay, Alert: al.ID, Output: al.Outputs[0]})
	}
	select {
	case a.docCh <- d:
	default:
	}
	if len(acks) == 0 {
		return
	}
	a.ackWG.Add(1)
	go func() {
		defer a.ackWG.Done()
		var toks []paho.Token
		for _, k := range acks {
			b, _ := json.Marshal(k)
			toks = append(toks, a.cli.Publish(protocol.UpTopic(a.cfg.Device, protocol.TopicAck), 1, false, b))
		}
		for _, tok := range toks {
			tok.WaitTimeout(30 * time.Second)
		}
	}()
}

func (a *simAgent) close() {
	a.ackMu.Lock()
	a.closing = true
	a.ackMu.Unlock()
	a.ackWG.Wait()
	a.cli.Disconnect(100)
}

// fleetOf connects and enrolls n simulated agents and waits until each has
// the controller's answer to its hello (so its key is pinned).
func fleetOf(t testing.TB, c *controller, n int, prefix string) []*simAgent {
	t.Helper()
	return fleetAt(t, c, n, prefix, func(int) string { return "" })
}

// fleetAt is fleetOf with agent i on site(i).
func fleetAt(t testing.TB, c *controller, n int, prefix string, site func(i int) string) []*simAgent {
	t.Helper()
	ids := make([]string, n)
	bySite := map[string][]string{}
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
		bySite[site(i)] = append(bySite[site(i)], ids[i])
	}
	cfgs := map[string]*protocol.AgentConfig{}
	for s, group := range bySite {
		for id, cfg := range enrollAt(t, c.dir, s, group...) {
			cfgs[id] = cfg
		}
	}
	agents := make([]*simAgent, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			agents[i] = newSimAgent(t, cfgs[id], c.ep.BrokerURL)
			agents[i].hello(t)
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range agents {
		for !a.anyRcpt.Load() || a.desired.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s never got its desired state and hello receipt", a.cfg.Device)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return agents
}
