// Package acks takes devices' acknowledgements — "signed for" receipts of
// desired-state versions and urgent alerts, and reports of quotas a
// schedule could not meet — off the bus and stores them in batches.
//
// The bus handler only decodes, stamps the controller's receive time and
// queues (it never publishes); one goroutine commits whatever has queued
// in a single transaction. Storing is idempotent on (device, event,
// version, alert, output, entry), so an agent may resend freely and the
// first receipt time stands.
package acks

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Options tune the writer.
type Options struct {
	// Queue bounds acks waiting for a commit; when full the bus handler
	// blocks (backpressure on that device's connection) instead of dropping.
	Queue int `json:"queue" yaml:"queue"`
	// Group is the most acks committed in one transaction.
	Group int `json:"group" yaml:"group"`
	// Linger is how long the writer gathers acks after the first before
	// committing: a thousand devices signing for one alert become a few
	// transactions instead of hundreds. Receive times are stamped on
	// arrival, so it delays only when an ack becomes visible.
	Linger time.Duration `json:"linger" yaml:"linger"`
	// RetryEvery is the wait after a failed commit.
	RetryEvery time.Duration `json:"retry_every" yaml:"retry_every"`
}

// DefaultOptions absorb 1,000 devices acknowledging an alert at once.
var DefaultOptions = Options{Queue: 8192, Group: 2000, Linger: 20 * time.Millisecond, RetryEvery: time.Second}

// Committed is called after each commit with the stored rows (resends
// included); it must not block for long.
type Committed func(rows []store.AckRow)

// Writer is the ack pipeline.
type Writer struct {
	st       *store.Store
	log      *slog.Logger
	opts     Options
	queue    chan store.AckRow
	onCommit Committed
	now      func() time.Time

	dropped atomic.Int64
	stored  atomic.Int64
}

// New returns a writer; call Run.
func New(st *store.Store, opts Options, onCommit Committed, log *slog.Logger) *Writer {
	if opts.Queue <= 0 {
		opts.Queue = DefaultOptions.Queue
	}
	if opts.Group <= 0 {
		opts.Group = DefaultOptions.Group
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = DefaultOptions.RetryEvery
	}
	if opts.Linger < 0 {
		opts.Linger = 0
	} else if opts.Linger == 0 {
		opts.Linger = DefaultOptions.Linger
	}
	return &Writer{st: st, log: log, opts: opts, queue: make(chan store.AckRow, opts.Queue), onCommit: onCommit, now: time.Now}
}

// Counts returns how many acks were stored and how many were dropped as
// malformed.
func (w *Writer) Counts() (stored, dropped int64) { return w.stored.Load(), w.dropped.Load() }

// Handle is the bus handler for every device's ack topic.
func (w *Writer) Handle(ctx context.Context, topic string, payload []byte) {
	received := w.now().UnixMilli()
	t, err := protocol.ParseTopic(topic)
	if err != nil || t.Name != protocol.TopicAck || t.Dir != protocol.Up {
		w.dropped.Add(1)
		w.log.Warn("ack on an unexpected topic, dropped", "topic", topic)
		return
	}
	var a protocol.Ack
	if err := protocol.Decode(payload, &a); err != nil {
		w.dropped.Add(1)
		w.log.Warn("malformed ack, dropped", "device", t.Device, "err", err)
		return
	}
	if a.Device != t.Device {
		w.dropped.Add(1)
		w.log.Warn("ack names another device, dropped", "topic_device", t.Device, "ack_device", a.Device)
		return
	}
	select {
	case w.queue <- store.AckRow{Ack: a, ReceivedMS: received}:
	case <-ctx.Done():
	}
}

// Run commits queued acks until ctx is cancelled.
func (w *Writer) Run(ctx context.Context) error {
	for {
		var first store.AckRow
		select {
		case <-ctx.Done():
			return nil
		case first = <-w.queue:
		}
		group := []store.AckRow{first}
		linger := time.NewTimer(w.opts.Linger)
	gather:
		for len(group) < w.opts.Group {
			select {
			case r := <-w.queue:
				group = append(group, r)
			case <-linger.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		linger.Stop()
		for {
			err := w.st.CommitAcks(ctx, group)
			if err == nil {
				break
			}
			w.log.Error("ack commit failed; will retry", "acks", len(group), "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(w.opts.RetryEvery):
			}
		}
		w.stored.Add(int64(len(group)))
		if w.onCommit != nil {
			w.onCommit(group)
		}
	}
}
