package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// AcksFile holds the acknowledgements not yet taken by the broker.
const AcksFile = "acks.json"

// maxPendingAcks bounds the queue; quota misses are dropped first.
const maxPendingAcks = 1000

// ackQueue is the durable queue of "signed for" receipts. Receipts must
// survive a disconnect and a power cut between the event and its
// delivery, so the queue is a small JSON file rewritten atomically
// (temp, fsync, rename) on every change: acks are rare (a version, an
// alert, a quota miss), far rarer than proofs. An ack leaves the queue
// when the broker has taken it (QoS 1 PUBACK); until then it is re-sent
// on every reconnect. The controller inserts acks idempotently on
// (device, event, version, alert, output), so a duplicate is harmless.
//
// Done remembers the once-only events already queued (adopted per
// version, received per alert, first_play per alert and output), so
// that a restart or a re-delivered document does not sign twice.
type ackQueue struct {
	path  string
	max   int           // pending bound (maxPendingAcks)
	added chan struct{} // cap 1

	mu   sync.Mutex
	file ackFile
}

type ackFile struct {
	Pending []protocol.Ack `json:"pending"`
	Done    []string       `json:"done"`
}

func openAcks(path string) (*ackQueue, error) {
	q := &ackQueue{path: path, max: maxPendingAcks, added: make(chan struct{}, 1)}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acks: %w", err)
	}
	if err := json.Unmarshal(b, &q.file); err != nil {
		// Acks are receipts, not evidence: a damaged file must not stop
		// playback. The caller logs it; the queue starts empty.
		return q, fmt.Errorf("acks %s unreadable, starting empty: %w", path, err)
	}
	return q, nil
}

func (q *ackQueue) saveLocked() error {
	b, err := json.Marshal(q.file)
	if err != nil {
		return err
	}
	return atomicfile.Write(q.path, b, 0o600)
}

func ackKey(a protocol.Ack) string {
	switch a.Event {
	case protocol.AckAdopted:
		return fmt.Sprintf("adopted/%d", a.Version)
	case protocol.AckReceived:
		return "received/" + a.Alert
	case protocol.AckFirstPlay:
		return "first_play/" + a.Alert + "/" + a.Output
	}
	return ""
}

// add queues a (once, for once-only events) and persists the queue. It
// reports whether a was queued.
func (q *ackQueue) add(a protocol.Ack) (bool, error) {
	a.Detail = truncate(a.Detail, 500)
	a.Entry = truncate(a.Entry, 200)
	if err := a.Validate(); err != nil {
		return false, err
	}
	key := ackKey(a)
	q.mu.Lock()
	defer q.mu.Unlock()
	if key != "" {
		for _, k := range q.file.Done {
			if k == key {
				return false, nil
			}
		}
		q.file.Done = append(q.file.Done, key)
	}
	q.file.Pending = append(q.file.Pending, a)
	if n := len(q.file.Pending); n > q.max {
		q.dropOneLocked()
	}
	err := q.saveLocked()
	notify(q.added)
	return true, err
}

func (q *ackQueue) dropOneLocked() {
	for i, a := range q.file.Pending {
		if a.Event == protocol.AckQuotaMiss {
			q.file.Pending = append(q.file.Pending[:i], q.file.Pending[i+1:]...)
			return
		}
	}
	q.file.Pending = q.file.Pending[1:]
}

// forget drops the once-only keys that keep does not want any more (the
// alerts and versions no longer held), so the file does not grow.
func (q *ackQueue) forget(keep func(key string) bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.file.Done[:0]
	for _, k := range q.file.Done {
		if keep(k) {
			kept = append(kept, k)
		}
	}
	if len(kept) == len(q.file.Done) {
		return nil
	}
	q.file.Done = kept
	return q.saveLocked()
}

func (q *ackQueue) first() (protocol.Ack, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.file.Pending) == 0 {
		return protocol.Ack{}, false
	}
	return q.file.Pending[0], true
}

// taken removes a, the queue's head when it was sent, once the broker
// has it.
func (q *ackQueue) taken(a protocol.Ack) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.file.Pending) == 0 || q.file.Pending[0] != a {
		return nil // dropped meanwhile
	}
	q.file.Pending = q.file.Pending[1:]
	return q.saveLocked()
}

func (q *ackQueue) pending() []protocol.Ack {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]protocol.Ack(nil), q.file.Pending...)
}

// ack queues an event of this device about the held version.
func (d *Daemon) ack(a protocol.Ack) {
	a.V, a.Device = protocol.Version, d.device
	if a.At == 0 {
		a.At = d.clk.Now().UnixMilli()
	}
	a.ClockSynced = d.o.ClockSynced()
	queued, err := d.acks.add(a)
	if err != nil {
		d.log.Error("ack not stored durably", "event", a.Event, "alert", a.Alert, "err", err)
	}
	if queued {
		d.log.Info("ack queued", "event", a.Event, "version", a.Version, "alert", a.Alert, "output", a.Output, "entry", a.Entry)
	}
}

// pruneAcks keeps the once-only keys of the held document.
func (d *Daemon) pruneAcks(doc *protocol.DesiredState) {
	if err := d.acks.forget(func(k string) bool {
		ev, rest, _ := strings.Cut(k, "/")
		switch ev {
		case protocol.AckAdopted:
			return rest == fmt.Sprint(doc.Version)
		case protocol.AckReceived, protocol.AckFirstPlay:
			id, _, _ := strings.Cut(rest, "/")
			for _, a := range doc.Alerts {
				if a.ID == id {
					return true
				}
			}
		}
		return false
	}); err != nil {
		d.log.Warn("acks: prune", "err", err)
	}
}

// ackLoop delivers queued acks in order while connected: on every new
// ack, on every (re)connect, and after Resend when a publish failed.
func (d *Daemon) ackLoop(ctx context.Context) {
	var retry <-chan time.Time
	for {
		if up, _ := d.link.State(); up {
			retry = nil
			for ctx.Err() == nil {
				a, ok := d.acks.first()
				if !ok {
					break
				}
				payload, _ := json.Marshal(a)
				pctx, cancel := context.WithTimeout(ctx, d.o.Resend)
				err := d.link.Publish(pctx, protocol.UpTopic(d.device, protocol.TopicAck), payload, false)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						d.log.Warn("ack not sent; will retry", "event", a.Event, "err", err)
						retry = d.clk.After(d.o.Resend)
					}
					break
				}
				d.log.Debug("ack sent", "event", a.Event, "version", a.Version, "alert", a.Alert)
				if err := d.acks.taken(a); err != nil {
					d.log.Warn("acks: store", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.acks.added: // also: the link came up or went down
		case <-retry:
			retry = nil
		}
	}
}
