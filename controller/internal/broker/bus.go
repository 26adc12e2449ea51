package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Message is one MQTT message as the controller sees it.
type Message struct {
	Topic    string
	Payload  []byte // owned by the handler that receives it
	Retained bool   // delivered from the broker's retained store
}

// Handler consumes messages for one subscription. It may block: blocking
// is how ingestion applies backpressure to publishers instead of dropping.
// It owns Message.Payload and need not copy it.
//
// A Handler must not Publish and wait on the same Bus for a message routed
// back through the same connection (see PahoBus); hand such work to
// another goroutine.
type Handler func(Message)

// Bus is how controller logic reaches the broker, whether embedded
// (Embedded.Bus) or external (PahoBus). All publishes are QoS 1.
type Bus interface {
	Publish(ctx context.Context, topic string, payload []byte, retain bool) error
	Subscribe(ctx context.Context, filter string, h Handler) error
	Close() error
}

// ErrClosed is returned by a Bus used after Close.
var ErrClosed = errors.New("broker: bus closed")

var (
	_ Bus = (*inlineBus)(nil)
	_ Bus = (*PahoBus)(nil)
)

// Bus returns an in-process Bus on the embedded broker, using mochi's
// inline client: no sockets, no ACL (the controller may do anything).
//
// Delivery is synchronous: mochi v2.7.9 calls inline subscribers from
// publishToSubscribers in the goroutine that read the PUBLISH from the
// device's connection (after it has sent the PUBACK). A Handler that blocks
// therefore stops reading from that one device, which TCP turns into
// backpressure on the device; nothing is dropped, and other devices are
// unaffected. Publish likewise runs matching inline handlers in the
// caller's goroutine before returning.
func (e *Embedded) Bus() Bus {
	return &inlineBus{srv: e.srv, subs: make(map[int]string)}
}

// nextSubID is process-wide: mochi keys inline subscriptions by
// (filter, id), and several inlineBus values share one server.
var nextSubID atomic.Int64

type inlineBus struct {
	srv *mqtt.Server

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[int]string // subscription id → filter
}

func (b *inlineBus) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	// mochi keeps the slice in the retained store and hands it to every
	// subscriber; copy so the caller may reuse its buffer.
	if err := b.srv.Publish(topic, append([]byte(nil), payload...), retain, 1); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

func (b *inlineBus) Subscribe(ctx context.Context, filter string, h Handler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h == nil {
		return errors.New("broker: nil handler")
	}
	if b.closed.Load() {
		return ErrClosed
	}
	id := int(nextSubID.Add(1))
	fn := func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		// pk.Payload is shared with the retained store and other
		// subscribers; the handler gets its own copy.
		h(Message{
			Topic:    pk.TopicName,
			Payload:  append([]byte(nil), pk.Payload...),
			Retained: pk.FixedHeader.Retain,
		})
	}
	// Retained messages are delivered inside srv.Subscribe, so no lock
	// is held across it (the handler may Publish).
	if err := b.srv.Subscribe(filter, id, fn); err != nil {
		return fmt.Errorf("broker: subscribe %s: %w", filter, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() { // Close ran meanwhile and did not see this one
		_ = b.srv.Unsubscribe(filter, id)
		return ErrClosed
	}
	b.subs[id] = filter
	return nil
}

func (b *inlineBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Swap(true) {
		return nil
	}
	var errs []error
	for id, f := range b.subs {
		if err := b.srv.Unsubscribe(f, id); err != nil {
			errs = append(errs, err)
		}
	}
	b.subs = nil
	return errors.Join(errs...)
}
