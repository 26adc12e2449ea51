// Package daemon wires the agent together and owns its shutdown: config,
// device key, outbox, media cache, the held signed desired state, the MQTT
// link, playback on every output, the proof sender, acks, local triggers
// and status.
//
// Offline first: the agent plays its last good signed schedule from its
// own cache for as long as it is cut off — evaluating it locally with
// package internal/plan, the code the controller's preview runs — and
// keeps every proof until the controller receipts it.
//
// Each output has a player. Urgent alerts addressed to the device come
// first: a document carrying a new one interrupts the output's current
// play, the alert's text is written into the media cache as a text item,
// and it repeats per its rule until it expires. Then the output's
// evaluator picks. A local trigger (Fire, or the HTTP listener of package
// trigger) queues its entry's play and interrupts a normal play at once.
// Every play, including one cut short, becomes a proof record; alert
// plays are recorded as playlist "alert:<id>".
//
// Acks ("signed for": a version adopted, an alert received and first
// played, a quota missed) are queued durably in the state directory and
// delivered while connected; see ackQueue.
package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/cache"
	"github.com/guardcast/guardcast/agent/internal/clocksync"
	"github.com/guardcast/guardcast/agent/internal/link"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/virtual"
	"github.com/guardcast/guardcast/agent/internal/proof"
	"github.com/guardcast/guardcast/agent/internal/scheduler"
	"github.com/guardcast/guardcast/agent/internal/trigger"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Default locations and intervals.
const (
	DefaultStateDir    = "/var/lib/guardcast-agent"
	DefaultCacheDir    = "/var/cache/guardcast-agent"
	DefaultResend      = 10 * time.Second
	DefaultStatusEvery = 30 * time.Second
)

// Files in the state directory.
const (
	KeyFile     = "device.key"
	DesiredFile = "desired.json"
	OutboxFile  = "outbox.db"
)

// Options configure a Daemon. Zero values take the defaults.
type Options struct {
	Config      *protocol.AgentConfig
	StateDir    string // overrides Config.StateDir
	CacheDir    string // overrides Config.CacheDir
	Resend      time.Duration
	StatusEvery time.Duration
	// Window bounds the unreceipted records in flight (default 2000);
	// Batch the records per ProofBatch (default 200).
	Window int
	Batch  int
	// FetchConcurrency bounds parallel media downloads (default 2);
	// FetchRetry is the wait before retrying failed ones (default 30 s).
	FetchConcurrency int
	FetchRetry       time.Duration
	AgentVersion     string
	Clock            clock.Clock
	Logger           *slog.Logger
	HTTPClient       *http.Client
	// ClockTrusted trusts the clock whatever the kernel says (an RTC or
	// GPS clock: --clock-trusted). Otherwise the kernel's NTP sync state
	// is read through ClockKernel (default clocksync.Adjtimex) at start
	// and every minute, and a change goes out in the status at once.
	ClockTrusted bool
	ClockKernel  clocksync.Kernel
	// ClockSynced, when set, decides clock trust instead (tests); the
	// status reports it as forced.
	ClockSynced func() bool
	// NewOutput builds the driver for an output kind (default: virtual).
	NewOutput func(kind string) (output.Output, error)
	// Health reports the drivers' own health for the status (optional).
	Health func() []protocol.OutputHealth
	// Link tunes the MQTT link; BrokerURL, Device, Password, Insecure,
	// Will, Greet and Logger are filled in by the daemon, and TLS (when
	// nil) from the config's ca_cert. HTTPClient, when nil, is
	// cache.NewClient with the same TLS.
	Link link.Options
	// Trigger configures the local HTTP trigger listener (Addr "" — the
	// zero value — disables it; the command line defaults to
	// trigger.DefaultOpts). GPIO drivers call Daemon.Fire directly.
	Trigger trigger.Options
}

// Daemon is one running agent.
type Daemon struct {
	o       Options
	cfg     *protocol.AgentConfig
	device  string
	log     *slog.Logger
	clk     clock.Clock
	key     ed25519.PrivateKey
	trusted []ed25519.PublicKey
	state   string
	outbox  *proof.Outbox
	cache   *cache.Cache
	link    *link.Link
	acks    *ackQueue
	trig    *trigger.Server
	clock   *clocksync.Monitor // nil when Options.ClockSynced decides

	appended    chan struct{} // cap 1: a record was appended
	linkSend    chan struct{} // cap 1: link state changed (for sendLoop)
	receipted   chan struct{} // cap 1: acked advanced
	statusDirty chan struct{} // cap 1: version or current items changed

	mu      sync.Mutex
	raw     []byte // the held signed envelope, exactly as received
	doc     *protocol.DesiredState
	refused string
	current map[string]protocol.NowPlaying
	acked   uint64        // every seq <= acked is receipted and pruned
	docCh   chan struct{} // closed when doc changes
	cacheCh chan struct{} // closed when the cache gains an item
	outputs map[string]output.Output
	players []*player                   // the running players, for Fire
	alerts  map[alertKey]*alertProgress // alert plays, across documents
	held    *heldBack                   // plays not started for want of room for their proof
}

// heldBack is an outage of the outbox: from the first play it held back
// to now, how many per output.
type heldBack struct {
	from  time.Time
	first string         // the output of the first play held back
	n     map[string]int // plays held back per output
	err   string
}

// provable reserves room in the outbox for the proof of a play of it on
// out. Play only what can be proved: when the outbox cannot take the
// record, the play is not started; the gap is counted, shows in the
// status at once, and is closed by one record when room returns. A play
// held back still takes its slot. It reports whether the play may start.
func (d *Daemon) provable(ctx context.Context, out string, it protocol.Item) bool {
	now := d.clk.Now()
	err := d.outbox.Reserve()
	if err == nil {
		d.closeGap(now)
		return true
	}
	d.mu.Lock()
	first := d.held == nil
	if first {
		d.held = &heldBack{from: now, first: out, n: map[string]int{}}
	}
	d.held.n[out]++
	d.held.err = err.Error()
	d.mu.Unlock()
	if first {
		d.log.Error("PROOF OUTBOX FULL: plays are held back until the state disk has room", "output", out, "err", err)
		notify(d.statusDirty)
	}
	d.setCurrent(out, nil)
	select {
	case <-ctx.Done():
	case <-d.clk.After(max(time.Duration(it.DurationMS)*time.Millisecond, time.Second)):
	}
	return false
}

// closeGap appends the one record that states an outage of the outbox:
// from, to, and the plays held back on each output.
func (d *Daemon) closeGap(now time.Time) {
	d.mu.Lock()
	h := d.held
	d.held = nil
	version := uint64(0)
	if d.doc != nil {
		version = d.doc.Version
	}
	d.mu.Unlock()
	if h == nil {
		return
	}
	outs := make([]string, 0, len(h.n))
	total := 0
	for o, n := range h.n {
		outs = append(outs, fmt.Sprintf("%s %d", o, n))
		total += n
	}
	sort.Strings(outs)
	if now.Before(h.from) {
		now = h.from
	}
	r := protocol.ProofRecord{
		Device: d.device, Version: version, Output: h.first, Playlist: "held-back",
		StartNS: h.from.UnixNano(), EndNS: now.UnixNano(), MonoNS: int64(now.Sub(h.from)),
		ClockSynced: d.o.ClockSynced(), Result: protocol.ResultFailed,
		Reason: truncate(fmt.Sprintf("not played: proof outbox full from %s to %s, %d plays held back (%s): %s",
			h.from.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), total, strings.Join(outs, ", "), h.err), 500),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	got, err := d.outbox.Append(ctx, r)
	cancel()
	if err != nil {
		// Keep counting: the next play that can be proved tries again.
		d.mu.Lock()
		if d.held == nil {
			d.held = h
		} else {
			d.held.from = h.from
			for o, n := range h.n {
				d.held.n[o] += n
			}
		}
		d.mu.Unlock()
		d.log.Error("gap record not written", "err", err)
		return
	}
	d.log.Warn("proof outbox has room again", "seq", got.Seq, "held_back", total, "from", h.from, "to", now)
	notify(d.appended)
	notify(d.statusDirty)
}

// New loads everything the agent needs and fails early on a bad config,
// key or state directory. Run starts it.
func New(o Options) (*Daemon, error) {
	if o.Config == nil {
		return nil, errors.New("daemon: no config")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	cfg := o.Config
	if o.StateDir == "" {
		o.StateDir = cfg.StateDir
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.CacheDir == "" {
		o.CacheDir = cfg.CacheDir
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	if o.Resend <= 0 {
		o.Resend = DefaultResend
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = DefaultStatusEvery
	}
	if o.Window <= 0 {
		o.Window = 2000
	}
	if o.Batch <= 0 || o.Batch > protocol.MaxBatch {
		o.Batch = 200
	}
	if o.FetchConcurrency <= 0 {
		o.FetchConcurrency = 2
	}
	if o.FetchRetry <= 0 {
		o.FetchRetry = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger.With("device", cfg.Device)
	if o.NewOutput == nil {
		clk := o.Clock
		o.NewOutput = func(kind string) (output.Output, error) { return virtual.New(kind, clk, log), nil }
	}
	trusted, err := cfg.TrustedKeys()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	d := &Daemon{
		o: o, cfg: cfg, device: cfg.Device, log: log, clk: o.Clock, trusted: trusted,
		state:       o.StateDir,
		appended:    make(chan struct{}, 1),
		linkSend:    make(chan struct{}, 1),
		receipted:   make(chan struct{}, 1),
		statusDirty: make(chan struct{}, 1),
		current:     map[string]protocol.NowPlaying{},
		docCh:       make(chan struct{}),
		cacheCh:     make(chan struct{}),
		outputs:     map[string]output.Output{},
		alerts:      map[alertKey]*alertProgress{},
	}
	if d.o.ClockSynced == nil {
		d.clock = clocksync.New(clocksync.Opts{Kernel: o.ClockKernel, Clock: o.Clock, Forced: o.ClockTrusted, OnChange: d.clockChanged})
		d.o.ClockSynced = d.clock.Synced
		if st := d.clock.State(); !st.Synced {
			log.Warn("CLOCK NOT SYNCHRONISED: playing only the safe loop until NTP syncs (or run with --clock-trusted for an RTC or GPS clock)", "err", st.Err)
		}
	}
	if d.key, err = loadOrCreateKey(filepath.Join(o.StateDir, KeyFile)); err != nil {
		return nil, err
	}
	// One TLS configuration for the broker and media: the pinned CA only.
	tc, err := cfg.ClientTLS()
	if err != nil {
		return nil, err
	}
	if o.HTTPClient == nil {
		o.HTTPClient = cache.NewClient(tc, cfg.Insecure)
	}
	if d.cache, err = cache.New(o.CacheDir, o.HTTPClient); err != nil {
		return nil, err
	}
	if d.trig, err = trigger.NewServer(o.Trigger, d, log.With("component", "trigger")); err != nil {
		return nil, err
	}
	if d.acks, err = openAcks(filepath.Join(o.StateDir, AcksFile)); err != nil {
		if d.acks == nil {
			return nil, err
		}
		log.Error("acks", "err", err)
	}
	d.loadDesired()
	if d.outbox, err = proof.Open(filepath.Join(o.StateDir, OutboxFile), d.device); err != nil {
		return nil, err
	}
	st := d.outbox.Stats()
	d.acked = st.NextSeq - 1 - st.Unreceipted

	lo := o.Link
	lo.BrokerURL, lo.Device, lo.Password = cfg.BrokerURL, cfg.Device, cfg.Password
	if lo.TLS == nil {
		lo.TLS = tc
	}
	lo.Insecure = cfg.Insecure
	lo.Will, _ = json.Marshal(protocol.Status{V: protocol.Version, Device: d.device, Online: false, AgentVersion: o.AgentVersion,
		Capability: protocol.CapabilityVersion})
	lo.Greet = d.greet
	lo.Logger = log.With("component", "link")
	if d.link, err = link.New(lo); err != nil {
		d.outbox.Close()
		return nil, err
	}
	return d, nil
}

// PublicKey is the device's public key, the only part of it that leaves
// the device.
func (d *Daemon) PublicKey() ed25519.PublicKey { return d.key.Public().(ed25519.PublicKey) }

// HeldVersion is the version of the desired state being played (0: none).
func (d *Daemon) HeldVersion() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doc == nil {
		return 0
	}
	return d.doc.Version
}

// TriggerAddr is the address the trigger listener is bound to ("" when
// disabled or not yet listening).
func (d *Daemon) TriggerAddr() string { return d.trig.Addr() }

// Outbox gives tests and tools read access to the outbox stats.
func (d *Daemon) OutboxStats() proof.Stats { return d.outbox.Stats() }

// Run runs the agent until ctx ends, then shuts down in order: playback
// stops (each interrupted play is still recorded), an offline status goes
// out if connected, the link disconnects, the outbox closes. It waits for
// every goroutine it started.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.outbox.Close()
	st := d.outbox.Stats()
	d.log.Info("agent starting", "state_dir", d.state, "cache_dir", d.cache.Dir(),
		"held_version", d.HeldVersion(), "next_seq", st.NextSeq, "unreceipted", st.Unreceipted,
		"public_key", protocol.EncodeKey(d.PublicKey()))

	linkCtx, stopLink := context.WithCancel(context.Background())
	defer stopLink()
	var linkWG sync.WaitGroup
	linkErr := make(chan error, 1)
	linkWG.Go(func() { linkErr <- d.link.Run(linkCtx) })

	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var wg sync.WaitGroup
	wg.Go(func() { d.superviseOutputs(work) })
	wg.Go(func() { d.fetchLoop(work) })
	wg.Go(func() { d.sendLoop(work) })
	wg.Go(func() { d.statusLoop(work) })
	if d.clock != nil {
		wg.Go(func() { _ = d.clock.Run(work) })
	}
	wg.Go(func() { d.ackLoop(work) })
	wg.Go(func() {
		if err := d.trig.Run(work); err != nil {
			// Playback goes on without local triggers.
			d.log.Error("TRIGGERS UNAVAILABLE", "err", err)
		}
	})

	var runErr error
loop:
	for ctx.Err() == nil { // a busy inbox must not delay shutdown
		select {
		case <-ctx.Done():
			break loop
		case err := <-linkErr:
			runErr = err
			break loop
		case m := <-d.link.Messages():
			d.handle(ctx, m)
		case <-d.link.Events():
			// Fan the coalesced link events out to both senders, and to
			// the status: a change made between the connect's greeting
			// and the link coming up is sent now, not at the next tick.
			notify(d.linkSend)
			notify(d.acks.added)
			notify(d.statusDirty)
		}
	}

	d.log.Info("agent stopping")
	stopWork()
	wg.Wait()
	// Everything the link does from here has one deadline, so the agent
	// stops in time whatever the broker connection does; the link's own
	// shutdown adds at most its WriteTimeout and a 250 ms quiesce.
	if up, _ := d.link.State(); up {
		fctx, cancel := context.WithTimeout(context.Background(), ShutdownFlush)
		d.flushTail(fctx)
		if err := d.link.Publish(fctx, protocol.UpTopic(d.device, protocol.TopicStatus), d.statusJSON(false), true); err != nil {
			d.log.Warn("offline status not sent", "err", err)
		}
		cancel()
	}
	stopLink()
	linkWG.Wait()
	d.log.Info("agent stopped")
	return runErr
}

// ShutdownFlush bounds what the agent still sends once playback has
// stopped: the proofs of the plays cut short, and the offline status.
const ShutdownFlush = time.Second

// flushTail publishes the last unreceipted records, up to one batch: the
// plays that shutdown interrupted are among them, and the stopped sender
// would otherwise only send them after the next start. Anything not
// receipted is sent again then anyway.
func (d *Daemon) flushTail(ctx context.Context) {
	last := d.outbox.Stats().NextSeq - 1
	after := max(d.ackedSeq(), last-min(last, uint64(d.o.Batch)))
	recs, err := d.outbox.Pending(ctx, after, d.o.Batch)
	if err != nil {
		d.log.Warn("last proofs not read", "err", err)
		return
	}
	if len(recs) == 0 {
		return
	}
	tail := recs[len(recs)-1]
	payload, err := json.Marshal(protocol.ProofBatch{
		V: protocol.Version, Device: d.device, Records: recs,
		HeadSig: protocol.SignHead(d.key, d.device, tail.Seq, tail.Hash()),
	})
	if err != nil {
		return
	}
	if err := d.link.Publish(ctx, protocol.UpTopic(d.device, protocol.TopicProofs), payload, false); err != nil {
		d.log.Warn("last proofs not sent; they go at the next start", "first", recs[0].Seq, "last", tail.Seq, "err", err)
		return
	}
	d.log.Debug("last proofs sent", "first", recs[0].Seq, "last", tail.Seq)
}

func (d *Daemon) handle(ctx context.Context, m link.Message) {
	t, err := protocol.ParseTopic(m.Topic)
	if err != nil || t.Device != d.device || t.Dir != protocol.Down {
		d.log.Warn("ignoring message on unexpected topic", "topic", m.Topic)
		return
	}
	switch t.Name {
	case protocol.TopicDesired:
		d.onDesired(m.Payload)
	case protocol.TopicReceipt:
		d.onReceipt(ctx, m.Payload)
	}
}

func (d *Daemon) onReceipt(ctx context.Context, payload []byte) {
	var r protocol.Receipt
	if err := protocol.Decode(payload, &r); err != nil {
		d.log.Warn("bad receipt", "err", err)
		return
	}
	if r.Device != d.device {
		d.log.Warn("receipt for another device", "for", r.Device)
		return
	}
	if err := d.outbox.Prune(ctx, r.Through, r.Head); err != nil {
		d.log.Warn("receipt refused", "through", r.Through, "err", err)
		return
	}
	d.mu.Lock()
	if r.Through > d.acked {
		d.acked = r.Through
	}
	d.mu.Unlock()
	d.log.Debug("receipt", "through", r.Through)
	notify(d.receipted)
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (d *Daemon) greet() link.Greeting {
	st := d.outbox.Stats()
	pub := d.PublicKey()
	h := protocol.Hello{
		V:            protocol.Version,
		Device:       d.device,
		PublicKey:    pub,
		AgentVersion: d.o.AgentVersion,
		HaveVersion:  d.HeldVersion(),
		NextSeq:      st.NextSeq,
		Capability:   protocol.CapabilityVersion,
	}
	if secret, err := protocol.DecodeKey(d.cfg.EnrollSecret, 32); err == nil {
		h.EnrollMAC = protocol.EnrollMAC(secret, d.device, pub)
	}
	hello, _ := json.Marshal(h)
	return link.Greeting{Hello: hello, Status: d.statusJSON(true)}
}

func (d *Daemon) statusJSON(online bool) []byte {
	st := d.outbox.Stats()
	d.mu.Lock()
	s := protocol.Status{
		V: protocol.Version, Device: d.device, Online: online, AgentVersion: d.o.AgentVersion,
		Refused: d.refused, NextSeq: st.NextSeq, Unreceipted: st.Unreceipted, Capability: protocol.CapabilityVersion,
	}
	var want []string
	if d.doc != nil {
		s.Version = d.doc.Version
		for _, it := range scheduler.Media(d.doc, d.device, d.clk.Now()) {
			want = append(want, it.SHA256)
		}
		for _, a := range scheduler.Alerts(d.doc, d.device, d.clk.Now()) {
			s.Alerts = append(s.Alerts, a.ID)
		}
	}
	for _, np := range d.current {
		s.Current = append(s.Current, np)
	}
	d.mu.Unlock()
	sort.Slice(s.Current, func(i, j int) bool { return s.Current[i].Output < s.Current[j].Output })
	s.Cache = d.cache.State(want)
	s.ClockSynced, s.ClockSource = d.o.ClockSynced(), protocol.ClockForced
	if d.clock != nil {
		st := d.clock.State()
		s.ClockSynced, s.ClockSource = st.Synced, st.Source
	}
	s.Time = d.clk.Now().Unix()
	if d.o.Health != nil {
		s.Health = d.o.Health()
	}
	d.mu.Lock()
	held := d.held
	var heldN int
	if held != nil {
		for _, n := range held.n {
			heldN += n
		}
	}
	d.mu.Unlock()
	if full := d.outbox.Full(); full != nil || held != nil {
		msg := fmt.Sprintf("proof outbox cannot write: %d plays held back", heldN)
		if full != nil {
			msg += ": " + full.Error()
		}
		s.Health = append(s.Health, protocol.OutputHealth{Output: "outbox", Profile: "state", OK: false,
			LastError: truncate(msg, 500), Checked: d.clk.Now().Unix()})
	}
	b, _ := json.Marshal(s)
	return b
}

// clockChanged is called by the clock monitor when trust changes: the
// players go by it at their next pick, the status says so at once.
func (d *Daemon) clockChanged(st clocksync.State) {
	if st.Synced {
		d.log.Info("clock synchronised: playing the schedule", "source", st.Source)
	} else {
		d.log.Warn("CLOCK NOT SYNCHRONISED: playing only the safe loop", "err", st.Err)
	}
	notify(d.statusDirty)
}

func (d *Daemon) statusLoop(ctx context.Context) {
	tick := d.clk.After(d.o.StatusEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.statusDirty:
		case <-tick:
			tick = d.clk.After(d.o.StatusEvery)
		}
		if ctx.Err() != nil {
			return
		}
		if up, _ := d.link.State(); !up {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := d.link.Publish(pctx, protocol.UpTopic(d.device, protocol.TopicStatus), d.statusJSON(true), true); err != nil && ctx.Err() == nil {
			d.log.Warn("status not sent", "err", err)
		}
		cancel()
	}
}
