// Package ingest takes proof batches off the bus, checks each against the
// device's pinned key and stored chain, commits them durably in groups and
// only then tells the device, by a receipt, what is stored.
//
// A device's chain lives in key epochs (store.DeviceKey): every pinned key
// opens one, and its records are numbered from seq 1 and chained from the
// genesis hash within it. Ingestion checks a batch against the current
// epoch's key and head only; a retired key's records are refused.
//
// Losslessness does not rest on the broker: the bus handler blocks when the
// commit queue is full (backpressure to that publisher), nothing is
// receipted before its transaction commits, and an agent resends whatever
// was not receipted. A resend is idempotent on (device, epoch, seq).
package ingest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Publisher sends receipts to devices.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, retain bool) error
}

// Options tune the ingestion pipeline.
type Options struct {
	// QueueBatches bounds decoded batches waiting for a commit. When full,
	// the bus handler blocks, which slows that publisher down instead of
	// dropping its messages.
	QueueBatches int `json:"queue_batches" yaml:"queue_batches"`
	// GroupRecords is the most records committed in one transaction.
	GroupRecords int `json:"group_records" yaml:"group_records"`
	// RetryEvery is how long to wait after a failed commit (a full disk)
	// before trying again.
	RetryEvery time.Duration `json:"retry_every" yaml:"retry_every"`
}

// DefaultOptions are sized for a town on a Raspberry-Pi-class controller
// and for ≥20,000 records/s on a 2-core server.
var DefaultOptions = Options{QueueBatches: 512, GroupRecords: 4000, RetryEvery: time.Second}

// Committed is called after each durable commit with the new rows; the
// demo prints them. It must not block for long.
type Committed func(rows []store.ProofRow)

// Ingester is the proof ingestion pipeline.
type Ingester struct {
	st   *store.Store
	pub  Publisher
	log  *slog.Logger
	opts Options

	queue chan *protocol.ProofBatch

	keyMu sync.Mutex
	keys  map[string]epochKey

	heads map[string]epochHead // owned by the committer goroutine
	bad   map[string]uint64    // last bad-signature seq per device, so resends add no new findings

	rcptMu  sync.Mutex
	rcpts   map[string]store.Head
	rcptSig chan struct{}

	onCommit Committed

	// CommitTook, when set before Run, is told how long each store
	// transaction took (the metrics histogram).
	CommitTook func(time.Duration)

	stats Stats
}

// Stats counts what the pipeline did (read with Snapshot).
type Stats struct {
	mu        sync.Mutex
	Committed int64 // records durably inserted
	Duplicate int64 // records already stored, receipted again
	Rejected  int64 // batches dropped: malformed, unknown device, bad signature
	Findings  int64
}

// Snapshot returns a copy of the counters.
func (s *Stats) Snapshot() (committed, duplicate, rejected, findings int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Committed, s.Duplicate, s.Rejected, s.Findings
}

func (s *Stats) add(c, d, r, f int64) {
	s.mu.Lock()
	s.Committed += c
	s.Duplicate += d
	s.Rejected += r
	s.Findings += f
	s.mu.Unlock()
}

// New returns an ingester; call Run to start committing.
func New(st *store.Store, pub Publisher, opts Options, onCommit Committed, log *slog.Logger) *Ingester {
	if opts.QueueBatches <= 0 {
		opts.QueueBatches = DefaultOptions.QueueBatches
	}
	if opts.GroupRecords <= 0 {
		opts.GroupRecords = DefaultOptions.GroupRecords
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = DefaultOptions.RetryEvery
	}
	return &Ingester{
		st: st, pub: pub, log: log, opts: opts,
		queue:    make(chan *protocol.ProofBatch, opts.QueueBatches),
		keys:     map[string]epochKey{},
		heads:    map[string]epochHead{},
		bad:      map[string]uint64{},
		rcpts:    map[string]store.Head{},
		rcptSig:  make(chan struct{}, 1),
		onCommit: onCommit,
	}
}

// Stats returns the pipeline's counters.
func (in *Ingester) Stats() *Stats { return &in.stats }

// ForgetKeys drops cached device keys, e.g. after an enrollment reset made
// by another process.
func (in *Ingester) ForgetKeys() {
	in.keyMu.Lock()
	clear(in.keys)
	in.keyMu.Unlock()
}

// SetKey is told of a device's newly pinned key. It drops what is cached
// for the device, so that its next batch reads the key with its epoch
// from the store (a new key starts a new epoch and a new chain).
func (in *Ingester) SetKey(device string, _ ed25519.PublicKey) {
	in.forgetKey(device)
}

func (in *Ingester) forgetKey(device string) {
	in.keyMu.Lock()
	delete(in.keys, device)
	in.keyMu.Unlock()
}

// epochKey is a device's current key and the epoch it opened.
type epochKey struct {
	epoch uint64
	pub   ed25519.PublicKey
}

// epochHead is where a device's chain ends within an epoch.
type epochHead struct {
	epoch uint64
	store.Head
}

// HandleProofs is the bus handler for every device's proofs topic. It
// decodes and validates in the caller's goroutine and blocks while the
// commit queue is full. A malformed batch is logged and dropped.
func (in *Ingester) HandleProofs(ctx context.Context, topic string, payload []byte) {
	t, err := protocol.ParseTopic(topic)
	if err != nil || t.Name != protocol.TopicProofs || t.Dir != protocol.Up {
		in.log.Warn("proofs on an unexpected topic, dropped", "topic", topic)
		in.stats.add(0, 0, 1, 0)
		return
	}
	var b protocol.ProofBatch
	if err := protocol.Decode(payload, &b); err != nil {
		in.log.Warn("malformed proof batch, dropped", "device", t.Device, "bytes", len(payload), "err", err)
		in.stats.add(0, 0, 1, 0)
		return
	}
	if b.Device != t.Device {
		in.log.Warn("proof batch names another device, dropped", "topic_device", t.Device, "batch_device", b.Device)
		in.stats.add(0, 0, 1, 0)
		return
	}
	select {
	case in.queue <- &b:
	case <-ctx.Done():
	}
}

// Receipt queues a receipt for a device's current head (e.g. after a hello,
// so a reconnecting agent prunes what is already stored).
func (in *Ingester) Receipt(ctx context.Context, device string) error {
	d, err := in.st.Device(ctx, device)
	if err != nil {
		return err
	}
	in.queueReceipt(device, store.Head{Seq: d.LastSeq, Hash: d.LastHash})
	return nil
}

func (in *Ingester) queueReceipt(device string, h store.Head) {
	in.rcptMu.Lock()
	in.rcpts[device] = h
	in.rcptMu.Unlock()
	select {
	case in.rcptSig <- struct{}{}:
	default:
	}
}

// Run commits queued batches until ctx is cancelled, and sends receipts
// from a goroutine of its own so that a slow publish never holds up a
// commit (with an external broker, publishing may wait on the same
// connection the blocked bus handler holds).
func (in *Ingester) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.sendReceipts(ctx)
	}()
	defer wg.Wait()
	for {
		var first *protocol.ProofBatch
		select {
		case <-ctx.Done():
			return nil
		case first = <-in.queue:
		}
		group := []*protocol.ProofBatch{first}
		n := len(first.Records)
	drain:
		for n < in.opts.GroupRecords {
			select {
			case b := <-in.queue:
				group = append(group, b)
				n += len(b.Records)
			default:
				break drain
			}
		}
		for {
			err := in.commit(ctx, group)
			if err == nil {
				break
			}
			in.log.Error("proof commit failed; nothing receipted, will retry", "batches", len(group), "records", n, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(in.opts.RetryEvery):
			}
		}
	}
}

func (in *Ingester) key(ctx context.Context, device string) (epochKey, error) {
	in.keyMu.Lock()
	k, ok := in.keys[device]
	in.keyMu.Unlock()
	if ok {
		return k, nil
	}
	d, err := in.st.Device(ctx, device)
	if err != nil {
		return epochKey{}, err
	}
	if d.PubKey == nil {
		return epochKey{}, errNotEnrolled
	}
	k = epochKey{epoch: d.Epoch, pub: ed25519.PublicKey(d.PubKey)}
	in.keyMu.Lock()
	in.keys[device] = k
	in.keyMu.Unlock()
	return k, nil
}

var (
	errNotEnrolled = errors.New("device key not pinned yet")
	errStaleEpoch  = errors.New("device key epoch changed")
)

// head is where the device's chain ends in epoch; errStaleEpoch when the
// store has moved to another epoch (the cached key is out of date).
func (in *Ingester) head(ctx context.Context, device string, epoch uint64) (store.Head, error) {
	if h, ok := in.heads[device]; ok && h.epoch == epoch {
		return h.Head, nil
	}
	d, err := in.st.Device(ctx, device)
	if err != nil {
		return store.Head{}, err
	}
	if d.Epoch != epoch || d.PubKey == nil {
		return store.Head{}, errStaleEpoch
	}
	h := store.Head{Seq: d.LastSeq, Hash: d.LastHash}
	in.heads[device] = epochHead{epoch: epoch, Head: h}
	return h, nil
}

// commit checks and stores one group of batches in a single transaction.
// Heads move and receipts go out only once the transaction has committed.
func (in *Ingester) commit(ctx context.Context, group []*protocol.ProofBatch) error {
	now := time.Now()
	c := store.ProofCommit{Heads: map[string]store.Head{}, Epochs: map[string]uint64{}}
	var dup, rejected int64
	touched := map[string]bool{}
	for _, b := range group {
		key, err := in.key(ctx, b.Device)
		if err != nil {
			if errors.Is(err, errNotEnrolled) || errors.Is(err, store.ErrNotFound) {
				in.log.Warn("proofs from a device without a pinned key, dropped; it will resend after enrolling", "device", b.Device, "err", err)
				rejected++
				continue
			}
			return err
		}
		if e, ok := c.Epochs[b.Device]; ok && e != key.epoch {
			// The key changed within this group: the agent resends.
			rejected++
			continue
		}
		last := &b.Records[len(b.Records)-1]
		lastHash := last.Hash()
		if !protocol.VerifyHead(key.pub, b.Device, last.Seq, lastHash, b.HeadSig) {
			in.log.Warn("proof batch signature does not verify against the pinned key, dropped", "device", b.Device, "seq", last.Seq)
			rejected++
			if in.bad[b.Device] == last.Seq {
				continue
			}
			in.bad[b.Device] = last.Seq
			c.Findings = append(c.Findings, store.Finding{Device: b.Device, Seq: last.Seq, Kind: store.FindingBadSignature,
				Detail: fmt.Sprintf("batch %d..%d: head signature does not verify%s", b.Records[0].Seq, last.Seq,
					in.retiredSigner(ctx, b.Device, last.Seq, lastHash, b.HeadSig)), At: now.Unix()})
			continue
		}
		h, ok := c.Heads[b.Device]
		if !ok {
			if h, err = in.head(ctx, b.Device, key.epoch); err != nil {
				if errors.Is(err, errStaleEpoch) {
					in.forgetKey(b.Device)
					rejected++
					continue
				}
				return err
			}
		}
		c.Epochs[b.Device] = key.epoch
		touched[b.Device] = true
		recs := b.Records
		// Records already stored: the last overlapping one must match what we
		// hold; by the chain, so do all before it.
		if recs[0].Seq <= h.Seq {
			k := int(min(h.Seq, last.Seq) - recs[0].Seq)
			over := &recs[k]
			stored := h.Hash
			if over.Seq != h.Seq {
				if stored, err = in.st.ProofHashIn(ctx, b.Device, key.epoch, over.Seq); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			if stored != "" && stored != over.Hash() {
				c.Findings = append(c.Findings, store.Finding{Device: b.Device, Seq: over.Seq, Kind: store.FindingConflict,
					Detail: fmt.Sprintf("seq %d resent with different content (hash %s, stored %s)%s", over.Seq, over.Hash(), stored, inEpoch(key.epoch)), At: now.Unix()})
			}
			dup += int64(k + 1)
			recs = recs[k+1:]
		}
		for i := range recs {
			r := recs[i]
			row := store.ProofRow{ProofRecord: r, Hash: r.Hash(), ReceivedAt: now.UnixNano(), Epoch: key.epoch}
			if i == 0 {
				switch {
				case r.Seq > h.Seq+1:
					row.Flag = store.FindingGap
					c.Findings = append(c.Findings, store.Finding{Device: b.Device, Seq: r.Seq, Kind: store.FindingGap,
						Detail: fmt.Sprintf("records %d..%d never arrived; chain resumes at %d%s", h.Seq+1, r.Seq-1, r.Seq, inEpoch(key.epoch)), At: now.Unix()})
				case r.Prev != h.Hash:
					row.Flag = store.FindingChain
					c.Findings = append(c.Findings, store.Finding{Device: b.Device, Seq: r.Seq, Kind: store.FindingChain,
						Detail: fmt.Sprintf("seq %d prev %s does not match stored hash %s of seq %d%s", r.Seq, r.Prev, h.Hash, h.Seq, inEpoch(key.epoch)), At: now.Unix()})
				}
			}
			if i == len(recs)-1 {
				row.HeadSig = b.HeadSig
			}
			c.Rows = append(c.Rows, row)
		}
		if len(recs) > 0 {
			h = store.Head{Seq: last.Seq, Hash: lastHash}
		}
		c.Heads[b.Device] = h
	}
	var stale map[string]bool
	if len(c.Rows) > 0 || len(c.Findings) > 0 {
		var err error
		began := time.Now()
		stale, err = in.st.CommitProofsChecked(ctx, c)
		if in.CommitTook != nil {
			in.CommitTook(time.Since(began))
		}
		if err != nil {
			return err
		}
	}
	committed, findings := int64(len(c.Rows)), int64(len(c.Findings))
	for dev := range stale {
		// Reset or enrolled again since the check: nothing of it was
		// stored; its next batch is checked against the current key.
		in.log.Warn("proofs checked against a key retired meanwhile, dropped; the agent resends", "device", dev)
		in.forgetKey(dev)
		delete(in.heads, dev)
		delete(touched, dev)
		delete(c.Heads, dev)
		rejected++
		for _, r := range c.Rows {
			if r.Device == dev {
				committed--
			}
		}
		for _, f := range c.Findings {
			if f.Device == dev {
				findings--
			}
		}
	}
	for dev, h := range c.Heads {
		in.heads[dev] = epochHead{epoch: c.Epochs[dev], Head: h}
	}
	in.stats.add(committed, dup, rejected, findings)
	if in.onCommit != nil && len(c.Rows) > 0 {
		rows := c.Rows
		if stale != nil {
			rows = nil
			for _, r := range c.Rows {
				if !stale[r.Device] {
					rows = append(rows, r)
				}
			}
		}
		if len(rows) > 0 {
			in.onCommit(rows)
		}
	}
	// Receipts last: whoever holds a receipt knows the commit callback
	// (the demo's printout, the metrics counter) has seen those records.
	for dev := range touched {
		in.queueReceipt(dev, in.heads[dev].Head)
	}
	return nil
}

// inEpoch names a key epoch after the first in a finding's detail (a
// finding's seq counts within its epoch).
func inEpoch(epoch uint64) string {
	if epoch <= 1 {
		return ""
	}
	return fmt.Sprintf(" (key epoch %d)", epoch)
}

// retiredSigner says, for a finding, whether a batch that failed against
// the current key was signed by one of the device's retired keys (an old
// SD card still running after its device was enrolled again). Only the
// refusal path pays for it.
func (in *Ingester) retiredSigner(ctx context.Context, device string, seq uint64, hash string, sig []byte) string {
	keys, err := in.st.DeviceKeys(ctx, device)
	if err != nil {
		return ""
	}
	for _, k := range keys {
		if k.RetiredAt != 0 && protocol.VerifyHead(k.PubKey, device, seq, hash, sig) {
			return fmt.Sprintf(" (signed by the key of epoch %d, %s, retired at %s: %s)", k.Epoch, protocol.KeyID(k.PubKey),
				time.Unix(k.RetiredAt, 0).UTC().Format(time.RFC3339), k.RetiredWhy)
		}
	}
	return ""
}

func (in *Ingester) sendReceipts(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.rcptSig:
		}
		in.rcptMu.Lock()
		pending := in.rcpts
		in.rcpts = map[string]store.Head{}
		in.rcptMu.Unlock()
		for dev, h := range pending {
			payload, _ := json.Marshal(protocol.Receipt{V: protocol.Version, Device: dev, Through: h.Seq, Head: h.Hash})
			if h.Seq == 0 {
				payload, _ = json.Marshal(protocol.Receipt{V: protocol.Version, Device: dev})
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := in.pub.Publish(pctx, protocol.DownTopic(dev, protocol.TopicReceipt), payload, false)
			cancel()
			if err != nil && ctx.Err() == nil {
				// The agent resends what is not receipted; the next commit or
				// hello for this device queues a fresh receipt.
				in.log.Warn("receipt not sent", "device", dev, "through", h.Seq, "err", err)
			}
		}
	}
}
