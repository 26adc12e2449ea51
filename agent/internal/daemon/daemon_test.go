package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/link"
	"github.com/guardcast/guardcast/agent/internal/link/linktest"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/virtual"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const dev = "bank-door-1"

type env struct {
	t        *testing.T
	broker   *linktest.Broker
	media    map[string][]byte
	mediaURL string
	key      ed25519.PrivateKey
	cfg      *protocol.AgentConfig
	clk      *clock.Fake
	state    string
	cacheDir string
	proofs   <-chan linktest.Message
	hellos   <-chan linktest.Message
	statuses <-chan linktest.Message
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, media: map[string][]byte{}}
	e.broker = linktest.New(t)
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ok := e.media[strings.TrimPrefix(r.URL.Path, "/media/")]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(ts.Close)
	e.mediaURL = ts.URL + "/media/"
	_, e.key, _ = ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	e.cfg = &protocol.AgentConfig{
		Device: dev, Profile: "test", BrokerURL: e.broker.URL, Password: "pw", MediaURL: e.mediaURL,
		ContentKeys:  []string{protocol.EncodeKey(e.key.Public().(ed25519.PublicKey))},
		EnrollSecret: protocol.EncodeKey(secret),
	}
	e.clk = clock.NewFake(time.Now().Truncate(time.Second))
	e.state, e.cacheDir = t.TempDir(), t.TempDir()
	e.proofs = e.broker.Subscribe(t, protocol.UpTopic(dev, protocol.TopicProofs), 10000)
	e.hellos = e.broker.Subscribe(t, protocol.UpTopic(dev, protocol.TopicHello), 100)
	e.statuses = e.broker.Subscribe(t, protocol.UpTopic(dev, protocol.TopicStatus), 10000)
	return e
}

func (e *env) item(text string) protocol.Item {
	b := []byte("Police never ask you to move money to a 'safe account'. " + text)
	s := sha256.Sum256(b)
	h := hex.EncodeToString(s[:])
	e.media[h] = b
	return protocol.Item{SHA256: h, Size: int64(len(b)), Kind: "text", Title: text, DurationMS: 1000}
}

func (e *env) sign(key ed25519.PrivateKey, version uint64, items ...protocol.Item) []byte {
	now := e.clk.Now().Unix()
	raw, err := protocol.SignDesired(key, &protocol.DesiredState{
		V: protocol.Version, Device: dev, Version: version, IssuedAt: now - 60, ExpiresAt: now + 86400,
		Playlists: []protocol.Playlist{{Name: "door", Output: protocol.OutputLED, Items: items}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func (e *env) publishDesired(raw []byte) {
	e.broker.Publish(e.t, protocol.DownTopic(dev, protocol.TopicDesired), raw, true)
}

type running struct {
	d       *Daemon
	outputs map[string]*virtual.Output
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan error
}

func (r *running) led() *virtual.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outputs[protocol.OutputLED]
}

func (e *env) start() *running { return e.startWith(nil) }

// startWith starts a daemon on e with virtual outputs; mod may change the
// options first (a different clock, outputs, broker, trigger listener).
func (e *env) startWith(mod func(*Options)) *running {
	e.t.Helper()
	r := &running{outputs: map[string]*virtual.Output{}, done: make(chan error, 1)}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o := Options{
		Config: e.cfg, StateDir: e.state, CacheDir: e.cacheDir, Clock: e.clk,
		Logger:      log,
		ClockSynced: func() bool { return true },
		Link:        link.Options{RetryInterval: 50 * time.Millisecond, MaxReconnectInterval: 100 * time.Millisecond},
	}
	if mod != nil {
		mod(&o)
	}
	if o.NewOutput == nil {
		clk := o.Clock
		o.NewOutput = func(kind string) (output.Output, error) {
			v := virtual.New(kind, clk, nil)
			r.mu.Lock()
			r.outputs[kind] = v
			r.mu.Unlock()
			return v, nil
		}
	}
	d, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- d.Run(ctx) }()
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

func recv(t *testing.T, ch <-chan linktest.Message) linktest.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a message")
	}
	panic("unreachable")
}

// chain collects proof records from batches, checking each batch's shape,
// head signature and link to what came before.
type chain struct {
	pub     ed25519.PublicKey
	records map[uint64]protocol.ProofRecord
	last    uint64
}

func (c *chain) add(t *testing.T, payload []byte) {
	t.Helper()
	var b protocol.ProofBatch
	if err := protocol.Decode(payload, &b); err != nil {
		t.Fatal(err)
	}
	last := b.Records[len(b.Records)-1]
	if !protocol.VerifyHead(c.pub, dev, last.Seq, last.Hash(), b.HeadSig) {
		t.Fatalf("batch ending %d: head signature does not verify", last.Seq)
	}
	for _, r := range b.Records {
		want := protocol.GenesisHash
		if r.Seq > 1 {
			prev, ok := c.records[r.Seq-1]
			if !ok {
				t.Fatalf("record %d arrived before %d", r.Seq, r.Seq-1)
			}
			want = prev.Hash()
		}
		if r.Prev != want {
			t.Fatalf("record %d does not chain", r.Seq)
		}
		if old, ok := c.records[r.Seq]; ok && old != r {
			t.Fatalf("record %d resent with different content", r.Seq)
		}
		c.records[r.Seq] = r
		c.last = max(c.last, r.Seq)
	}
}

// drive advances the fake clock in steps, collecting proofs, until done.
func (e *env) drive(c *chain, done func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			e.t.Fatalf("gave up driving the clock; have proofs through %d", c.last)
		}
		e.clk.Advance(250 * time.Millisecond)
		for {
			select {
			case m := <-e.proofs:
				c.add(e.t, m.Payload)
				continue
			case <-time.After(5 * time.Millisecond):
			}
			break
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lastStatus(t *testing.T, ch <-chan linktest.Message, cond func(protocol.Status) bool) protocol.Status {
	t.Helper()
	for {
		var s protocol.Status
		m := recv(t, ch)
		if err := protocol.Decode(m.Payload, &s); err != nil {
			t.Fatal(err)
		}
		if cond(s) {
			return s
		}
	}
}

func TestDaemonEndToEnd(t *testing.T) {
	e := newEnv(t)
	a, b := e.item("A"), e.item("B")
	v1 := e.sign(e.key, 1, a, b)
	e.publishDesired(v1)

	r := e.start()
	var h protocol.Hello
	if err := protocol.Decode(recv(t, e.hellos).Payload, &h); err != nil {
		t.Fatal(err)
	}
	secret, _ := protocol.DecodeKey(e.cfg.EnrollSecret, 32)
	if !bytes.Equal(h.PublicKey, r.d.PublicKey()) || !bytes.Equal(h.EnrollMAC, protocol.EnrollMAC(secret, dev, h.PublicKey)) || h.NextSeq != 1 {
		t.Fatalf("hello %+v", h)
	}
	if fi, err := os.Stat(filepath.Join(e.state, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device key: %v %v", fi, err)
	}

	// Media is fetched, the LED plays it in a loop, proofs arrive.
	c := &chain{pub: h.PublicKey, records: map[uint64]protocol.ProofRecord{}}
	e.drive(c, func() bool { return c.last >= 4 })
	if r.d.HeldVersion() != 1 {
		t.Fatalf("held version %d", r.d.HeldVersion())
	}
	for seq := uint64(1); seq <= 4; seq++ {
		p := c.records[seq]
		// Which item plays first depends on which download finished first.
		if p.Version != 1 || p.Output != protocol.OutputLED || p.Playlist != "door" || (p.MediaSHA256 != a.SHA256 && p.MediaSHA256 != b.SHA256) ||
			p.Result != protocol.ResultPlayed || !p.ClockSynced || p.MonoNS != int64(time.Second) || p.EndNS-p.StartNS != int64(time.Second) {
			t.Fatalf("record %d: %+v", seq, p)
		}
	}
	hist := r.led().History()
	if len(hist) < 4 || hist[0].Path != filepath.Join(e.cacheDir, hist[0].Item.SHA256) || hist[2].Item.SHA256 == hist[3].Item.SHA256 {
		t.Fatalf("led history %+v", hist)
	}

	// A receipt prunes the outbox.
	through := c.last
	head := c.records[through]
	rc, _ := json.Marshal(protocol.Receipt{V: protocol.Version, Device: dev, Through: through, Head: head.Hash()})
	e.broker.Publish(t, protocol.DownTopic(dev, protocol.TopicReceipt), rc, false)
	waitFor(t, "outbox pruned", func() bool {
		s := r.d.OutboxStats()
		return s.Unreceipted == s.NextSeq-1-through
	})

	// Signed by another key: refused, v1 keeps playing.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	e.publishDesired(e.sign(other, 2, e.item("scam")))
	s := lastStatus(t, e.statuses, func(s protocol.Status) bool { return s.Refused != "" })
	if s.Version != 1 || !strings.Contains(s.Refused, "unknown key") {
		t.Fatalf("status after wrong key: %+v", s)
	}
	before := c.last
	e.drive(c, func() bool { return c.last >= before+2 })
	if p := c.records[c.last]; p.Version != 1 {
		t.Fatalf("after a refused doc, playing version %d", p.Version)
	}

	// Version 3 is adopted; then version 2 (older) and a different v3 are refused.
	cc := e.item("C")
	v3 := e.sign(e.key, 3, cc)
	e.publishDesired(v3)
	waitFor(t, "version 3 adopted", func() bool { return r.d.HeldVersion() == 3 })
	held, _ := os.ReadFile(filepath.Join(e.state, DesiredFile))
	if !bytes.Equal(held, v3) {
		t.Fatal("desired.json is not the v3 envelope")
	}
	before = c.last
	e.drive(c, func() bool { return c.last >= before+1 && c.records[c.last].Version == 3 })
	if p := c.records[c.last]; p.MediaSHA256 != cc.SHA256 {
		t.Fatalf("v3 plays %s", p.MediaSHA256)
	}
	waitFor(t, "old media evicted", func() bool {
		_, errA := os.Stat(filepath.Join(e.cacheDir, a.SHA256))
		return os.IsNotExist(errA)
	})
	e.publishDesired(e.sign(e.key, 2, a))
	s = lastStatus(t, e.statuses, func(s protocol.Status) bool { return strings.Contains(s.Refused, "older") })
	if s.Version != 3 || r.d.HeldVersion() != 3 {
		t.Fatalf("after older version: %+v", s)
	}
	e.publishDesired(e.sign(e.key, 3, cc, e.item("other")))
	lastStatus(t, e.statuses, func(s protocol.Status) bool { return strings.Contains(s.Refused, "same version") })
	e.publishDesired(v3) // identical re-delivery: silent

	r.stop(t)
	lastStatus(t, e.statuses, func(s protocol.Status) bool { return !s.Online && s.Version == 3 })
	// Drain what the daemon sent before stopping (the last play, cut short).
	stopped := r.d.OutboxStats()

	// Restart on the same state dir: version kept, seq continues.
	r2 := e.start()
	if r2.d.HeldVersion() != 3 {
		t.Fatalf("held version after restart %d", r2.d.HeldVersion())
	}
	var h2 protocol.Hello
	for {
		if err := protocol.Decode(recv(t, e.hellos).Payload, &h2); err != nil {
			t.Fatal(err)
		}
		if h2.NextSeq == stopped.NextSeq {
			break
		}
	}
	if h2.HaveVersion != 3 || !bytes.Equal(h2.PublicKey, h.PublicKey) {
		t.Fatalf("hello after restart %+v", h2)
	}
	e.drive(c, func() bool { return c.last >= stopped.NextSeq })
	if p := c.records[stopped.NextSeq]; p.Version != 3 || p.Seq != stopped.NextSeq {
		t.Fatalf("first record after restart: %+v", p)
	}
	// The play cut short by shutdown is in the chain as a failed play.
	found := false
	for seq := through + 1; seq < stopped.NextSeq; seq++ {
		if p := c.records[seq]; p.Result == protocol.ResultFailed && p.Reason == "interrupted: agent stopping" {
			found = true
		}
	}
	if !found {
		for seq := through + 1; seq <= c.last; seq++ {
			p := c.records[seq]
			t.Logf("%d v%d %s %q mono=%d start=%d", seq, p.Version, p.Result, p.Reason, p.MonoNS, p.StartNS)
		}
		t.Errorf("no record of the play interrupted by shutdown (through %d, stopped %+v)", through, stopped)
	}
	r2.stop(t)
}

func TestResendWithoutReceipt(t *testing.T) {
	e := newEnv(t)
	e.publishDesired(e.sign(e.key, 1, e.item("A")))
	r := e.start()
	defer r.stop(t)
	var h protocol.Hello
	protocol.Decode(recv(t, e.hellos).Payload, &h)
	c := &chain{pub: h.PublicKey, records: map[uint64]protocol.ProofRecord{}}
	e.drive(c, func() bool { return c.last >= 1 })
	// No receipt: within the resend timeout, record 1 is sent again.
	resent := false
	deadline := time.Now().Add(20 * time.Second)
	for !resent && time.Now().Before(deadline) {
		e.clk.Advance(time.Second)
		select {
		case m := <-e.proofs:
			var b protocol.ProofBatch
			protocol.Decode(m.Payload, &b)
			resent = b.Records[0].Seq == 1
			c.add(t, m.Payload)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if !resent {
		t.Fatal("unreceipted records never resent")
	}
}

func TestBadConfigAndKey(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("no config accepted")
	}
	e := newEnv(t)
	os.WriteFile(filepath.Join(e.state, KeyFile), []byte("garbage"), 0o600)
	if _, err := New(Options{Config: e.cfg, StateDir: e.state, CacheDir: e.cacheDir}); err == nil || !strings.Contains(err.Error(), "device key") {
		t.Fatalf("corrupt key: %v", err)
	}
}
