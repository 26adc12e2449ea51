package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PahoOptions configures a PahoBus.
type PahoOptions struct {
	URL      string // tcp://host:1883, ssl://host:8883
	ClientID string // stable: the session (and its queued messages) is keyed by it
	Username string
	Password string
	TLS      *tls.Config

	KeepAlive            time.Duration // default 30s; a Handler must not block longer
	ConnectTimeout       time.Duration // per attempt, default 10s
	WriteTimeout         time.Duration // default 10s
	MaxReconnectInterval time.Duration // default 30s

	Logger *slog.Logger // may be nil
}

// PahoBus is a Bus on an external broker (Mosquitto, EMQX, or the embedded
// broker over TCP, e.g. for several controllers sharing ingestion through
// $share subscriptions).
//
// It connects with CleanSession=false and a stable client ID, reconnects
// automatically and resubscribes on every reconnect (so it also works with
// brokers that lost the session). Delivery is ordered (paho OrderMatters):
// all handlers run one at a time on paho's single router goroutine, and
// paho acknowledges a QoS 1 message only after its handler returns. So a
// blocking Handler holds up the whole connection: the broker's queue for
// this client fills instead of messages being lost, which is what lossless
// ingestion wants. Two rules follow:
//
//   - A Handler must not wait on Publish (or Subscribe) of the same PahoBus:
//     the PUBACK it waits for is read by the goroutine the handler is
//     blocking. Hand such work to another goroutine.
//   - A Handler must not block longer than KeepAlive: paho's PINGRESP is
//     stuck behind it too, and paho then drops and re-establishes the
//     connection (the broker redelivers unacknowledged QoS 1 messages, so
//     handlers must be idempotent anyway — proofs are keyed by device+seq).
//
// How much the broker queues for a stalled subscriber is broker
// configuration (Mosquitto max_queued_messages, mochi
// Options.MaxClientWritesPending), beyond which it drops.
type PahoBus struct {
	c   paho.Client
	log *slog.Logger

	mu     sync.Mutex
	subs   map[string]paho.MessageHandler // filter → handler, for resubscribing
	closed bool
}

// NewPahoBus connects to opts.URL, retrying until ctx is done.
func NewPahoBus(ctx context.Context, opts PahoOptions) (*PahoBus, error) {
	if opts.URL == "" || opts.ClientID == "" {
		return nil, errors.New("broker: paho bus needs URL and ClientID")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.KeepAlive, 30*time.Second)
	def(&opts.ConnectTimeout, 10*time.Second)
	def(&opts.WriteTimeout, 10*time.Second)
	def(&opts.MaxReconnectInterval, 30*time.Second)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &PahoBus{
		log:  log.With("component", "paho-bus", "broker", opts.URL, "client", opts.ClientID),
		subs: make(map[string]paho.MessageHandler),
	}

	co := paho.NewClientOptions().
		AddBroker(opts.URL).
		SetClientID(opts.ClientID).
		SetUsername(opts.Username).
		SetPassword(opts.Password).
		SetTLSConfig(opts.TLS).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetOrderMatters(true).
		SetResumeSubs(false). // we resubscribe ourselves in onConnect
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(opts.MaxReconnectInterval).
		SetKeepAlive(opts.KeepAlive).
		SetConnectTimeout(opts.ConnectTimeout).
		SetWriteTimeout(opts.WriteTimeout).
		SetOnConnectHandler(b.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			b.log.Warn("connection lost", "err", err)
		})
	b.c = paho.NewClient(co)

	tok := b.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			b.c.Disconnect(0)
			return nil, fmt.Errorf("broker: connect %s: %w", opts.URL, err)
		}
	case <-ctx.Done():
		b.c.Disconnect(0)
		return nil, fmt.Errorf("broker: connect %s: %w", opts.URL, ctx.Err())
	}
	return b, nil
}

// onConnect runs on its own goroutine (paho starts it) after every
// successful (re)connect.
func (b *PahoBus) onConnect(c paho.Client) {
	b.mu.Lock()
	subs := make(map[string]paho.MessageHandler, len(b.subs))
	for f, h := range b.subs {
		subs[f] = h
	}
	b.mu.Unlock()
	b.log.Info("connected", "resubscribe", len(subs))
	for f, h := range subs {
		tok := c.Subscribe(f, 1, h)
		if !tok.WaitTimeout(30 * time.Second) {
			b.log.Error("resubscribe timed out", "filter", f)
			continue
		}
		if err := subscribeError(tok, f); err != nil {
			b.log.Error("resubscribe failed", "filter", f, "err", err)
		}
	}
}

func subscribeError(tok paho.Token, filter string) error {
	if err := tok.Error(); err != nil {
		return err
	}
	// One filter per SUBSCRIBE, so every result is ours. (paho keys the
	// result of "$share/g/f" by "f", so looking up filter would miss it.)
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for _, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("broker refused subscription %q (code %#x)", filter, code)
			}
		}
	}
	return nil
}

func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish sends at QoS 1 and waits for the broker's PUBACK or ctx.
// A nil error means the broker took the message, not that anyone got it.
func (b *PahoBus) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := wait(ctx, b.c.Publish(topic, 1, retain, payload)); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe subscribes at QoS 1 and waits for the SUBACK or ctx. The
// subscription is remembered and renewed after every reconnect.
func (b *PahoBus) Subscribe(ctx context.Context, filter string, h Handler) error {
	if h == nil {
		return errors.New("broker: nil handler")
	}
	mh := func(_ paho.Client, m paho.Message) {
		// paho allocates a fresh payload per packet; no copy needed.
		h(Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()})
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.subs[filter] = mh
	b.mu.Unlock()
	tok := b.c.Subscribe(filter, 1, mh)
	if err := wait(ctx, tok); err != nil {
		return fmt.Errorf("broker: subscribe %s: %w", filter, err)
	}
	if err := subscribeError(tok, filter); err != nil {
		b.mu.Lock()
		delete(b.subs, filter)
		b.mu.Unlock()
		return fmt.Errorf("broker: subscribe: %w", err)
	}
	return nil
}

func (b *PahoBus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Close disconnects, leaving the broker-side session (and anything queued
// for it) for the next PahoBus with the same ClientID.
func (b *PahoBus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.c.Disconnect(250)
	return nil
}
