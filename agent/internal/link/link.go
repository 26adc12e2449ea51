// Package link is the agent's only MQTT user. It keeps one paho
// connection up, re-subscribes and greets the controller on every
// (re)connect, and hands incoming messages to the daemon through a
// bounded channel: nothing ever publishes or blocks inside a paho handler.
//
// The session is clean: the controller republishes what a device should
// do on every connect, so nothing depends on broker session state. A
// completed publish token is not proof of delivery either; proofs are kept
// until receipted (see package proof).
package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/guardcast/guardcast/internal/protocol"
)

// ErrNotConnected is returned by Publish while the link is down.
var ErrNotConnected = errors.New("not connected to the broker")

// Message is one incoming message, with its payload copied out of paho.
type Message struct {
	Topic   string
	Payload []byte
}

// Greeting is what the link publishes after each (re)connect, once
// subscribed: a protocol.Hello and a retained online protocol.Status.
type Greeting struct {
	Hello  []byte
	Status []byte
}

// Options configure a Link.
type Options struct {
	BrokerURL string
	Device    string // client ID and username
	Password  string
	// TLS is used for mqtts:// (ssl://, tls://) brokers; nil means TLS 1.2+
	// with the system trust store. Its ServerName defaults to the URL's
	// host, so a certificate issued for a name verifies by that name.
	TLS *tls.Config
	// Insecure allows a plaintext (tcp://, mqtt://) broker that is not on
	// loopback; without it New refuses one.
	Insecure bool
	// Will is the retained status published by the broker if the
	// connection drops without a clean disconnect (Online false).
	Will []byte
	// Greet builds the greeting for a fresh connection. It is called from
	// the link's own goroutine, never from a paho handler.
	Greet func() Greeting
	// Inbox bounds the incoming message channel (default 64).
	Inbox int
	// ConnectTimeout and KeepAlive default to 10 s and 30 s. Reconnects
	// back off from RetryInterval (5 s) to MaxReconnectInterval (1 min).
	ConnectTimeout       time.Duration
	KeepAlive            time.Duration
	RetryInterval        time.Duration
	MaxReconnectInterval time.Duration
	Logger               *slog.Logger
}

// Link is one device's MQTT connection.
type Link struct {
	o   Options
	log *slog.Logger

	msgs   chan Message
	events chan struct{} // coalesced: "connection state changed"

	mu        sync.Mutex
	client    mqtt.Client // the current connection's client, nil between connections
	connected bool        // subscribed and greeted
	gen       uint64      // incremented on every completed (re)connect
	dropped   uint64
}

// New prepares a link; Run connects it.
func New(o Options) (*Link, error) {
	if err := protocol.ValidateDeviceID(o.Device); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	u, err := url.Parse(o.BrokerURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("link: broker URL %q: want mqtts://host:port", o.BrokerURL)
	}
	if protocol.PlaintextOverNetwork(u) && !o.Insecure {
		return nil, fmt.Errorf("link: broker %s is plaintext over a network: use mqtts:// with ca_cert, or set \"insecure\": true", o.BrokerURL)
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		o.TLS = o.TLS.Clone()
	}
	if o.TLS.ServerName == "" {
		o.TLS.ServerName = u.Hostname()
	}
	if o.Inbox <= 0 {
		o.Inbox = 64
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.MaxReconnectInterval <= 0 {
		o.MaxReconnectInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Link{
		o:      o,
		log:    o.Logger,
		msgs:   make(chan Message, o.Inbox),
		events: make(chan struct{}, 1),
	}, nil
}

// newClient builds a fresh paho client for one connection. The link
// reconnects by itself with a new client each time rather than through
// paho's auto-reconnect: with a clean session nothing carries over anyway,
// and paho's resume of in-flight publishes after an automatic reconnect
// can panic (double completion of a token) when a PUBACK races the loss.
func (l *Link) newClient(lost chan<- error) mqtt.Client {
	co := mqtt.NewClientOptions().
		AddBroker(l.o.BrokerURL).
		SetClientID(l.o.Device).
		SetUsername(l.o.Device).
		SetPassword(l.o.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(l.o.ConnectTimeout).
		SetKeepAlive(l.o.KeepAlive).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetDefaultPublishHandler(l.onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	co.SetTLSConfig(l.o.TLS) // used only by TLS schemes
	if l.o.Will != nil {
		co.SetBinaryWill(protocol.UpTopic(l.o.Device, protocol.TopicStatus), l.o.Will, 1, true)
	}
	return mqtt.NewClient(co)
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// onMessage runs inside paho: copy and hand over, never block.
func (l *Link) onMessage(_ mqtt.Client, m mqtt.Message) {
	if len(m.Payload()) > protocol.MaxPayload {
		l.log.Warn("dropping oversized message", "topic", m.Topic(), "bytes", len(m.Payload()))
		return
	}
	msg := Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)}
	select {
	case l.msgs <- msg:
	default:
		l.mu.Lock()
		l.dropped++
		n := l.dropped
		l.mu.Unlock()
		// Desired state is retained and republished on connect, receipts
		// are cumulative: a drop delays, it does not lose anything.
		l.log.Warn("inbox full, dropping message", "topic", msg.Topic, "dropped_total", n)
	}
}

// Messages delivers incoming messages. It is never closed.
func (l *Link) Messages() <-chan Message { return l.msgs }

// Events receives a value whenever the connection state changed; call
// State for the current state. Events coalesce.
func (l *Link) Events() <-chan struct{} { return l.events }

// State reports whether the link is up (subscribed and greeted) and how
// many times it has come up, so a missed down-up pair is still noticed.
func (l *Link) State() (connected bool, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected, l.gen
}

func (l *Link) setConnected(up bool) {
	l.mu.Lock()
	changed := l.connected != up
	l.connected = up
	if up {
		l.gen++
		changed = true
	}
	l.mu.Unlock()
	if changed {
		notify(l.events)
	}
}

// Run connects, reconnects with backoff whenever the connection is lost,
// and disconnects when ctx ends. It returns nil on a clean shutdown.
func (l *Link) Run(ctx context.Context) error {
	backoff := l.o.RetryInterval
	for {
		lost := make(chan error, 1)
		c := l.newClient(lost)
		l.log.Debug("connecting", "broker", l.o.BrokerURL)
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			c.Disconnect(0)
			return nil
		}
		if err := tok.Error(); err != nil {
			l.logConnectError(err, backoff)
			c.Disconnect(0)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, l.o.MaxReconnectInterval)
			continue
		}
		backoff = l.o.RetryInterval
		l.mu.Lock()
		l.client = c
		l.mu.Unlock()
		l.onConnected(ctx, c)
		select {
		case <-ctx.Done():
			l.drop()
			c.Disconnect(250)
			return nil
		case err := <-lost:
			l.log.Warn("connection lost", "err", err)
			l.drop()
			c.Disconnect(0)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.o.RetryInterval / 10):
		}
	}
}

// logConnectError says plainly when TLS verification, not the network,
// stopped the connection: that needs a person, not a retry.
func (l *Link) logConnectError(err error, retry time.Duration) {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		l.log.Error("refusing the broker: its certificate was not signed by the configured CA (ca_cert)",
			"broker", l.o.BrokerURL, "err", err, "retry_in", retry)
	case errors.As(err, &hostname):
		l.log.Error("refusing the broker: its certificate is not for "+l.o.TLS.ServerName,
			"broker", l.o.BrokerURL, "err", err, "retry_in", retry)
	case errors.As(err, &invalid):
		l.log.Error("refusing the broker: its certificate is not valid (check the clock)",
			"broker", l.o.BrokerURL, "err", err, "retry_in", retry)
	default:
		l.log.Warn("connect failed", "broker", l.o.BrokerURL, "err", err, "retry_in", retry)
	}
}

func (l *Link) drop() {
	l.mu.Lock()
	l.client = nil
	l.mu.Unlock()
	l.setConnected(false)
}

func (l *Link) onConnected(ctx context.Context, c mqtt.Client) {
	filter := protocol.DownFilter(l.o.Device)
	if err := wait(ctx, c.Subscribe(filter, 1, nil), l.o.ConnectTimeout); err != nil {
		l.log.Error("subscribe failed", "filter", filter, "err", err)
		return
	}
	if l.o.Greet != nil {
		g := l.o.Greet()
		if g.Hello != nil {
			if err := wait(ctx, c.Publish(protocol.UpTopic(l.o.Device, protocol.TopicHello), 1, false, g.Hello), l.o.ConnectTimeout); err != nil {
				l.log.Warn("hello not sent", "err", err)
			}
		}
		if g.Status != nil {
			if err := wait(ctx, c.Publish(protocol.UpTopic(l.o.Device, protocol.TopicStatus), 1, true, g.Status), l.o.ConnectTimeout); err != nil {
				l.log.Warn("status not sent", "err", err)
			}
		}
	}
	l.log.Info("connected", "broker", l.o.BrokerURL, "subscribed", filter)
	l.setConnected(true)
}

func wait(ctx context.Context, t mqtt.Token, timeout time.Duration) error {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return errors.New("timed out waiting for the broker")
	}
}

// Publish sends payload on topic with QoS 1 and waits for the broker's
// acknowledgement or ctx. An acknowledgement is not proof the controller
// stored anything.
func (l *Link) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	l.mu.Lock()
	c := l.client
	l.mu.Unlock()
	if c == nil || !c.IsConnectionOpen() {
		return ErrNotConnected
	}
	t := c.Publish(topic, 1, retain, payload)
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}
