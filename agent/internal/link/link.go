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
	"net"
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
	// PingTimeout is how long a keepalive PINGREQ may go unanswered before
	// the connection counts as lost (default KeepAlive/2, at most 10 s): a
	// stalled or half-open connection is noticed within KeepAlive plus
	// PingTimeout, never only when TCP gives up.
	PingTimeout time.Duration
	// WriteTimeout bounds how long a publish waits for paho to take it
	// (default 2 s); SocketWriteTimeout bounds each write on the socket
	// (default 30 s), so a peer that stops reading breaks the connection
	// instead of blocking it. PublishTimeout is the deadline of a Publish
	// whose context has none (default 10 s).
	WriteTimeout       time.Duration
	SocketWriteTimeout time.Duration
	PublishTimeout     time.Duration
	Logger             *slog.Logger
}

// Link is one device's MQTT connection.
type Link struct {
	o   Options
	log *slog.Logger

	msgs   chan Message
	events chan struct{} // coalesced: "connection state changed"

	mu        sync.Mutex
	sess      *session // the current connection, nil between connections
	connected bool     // subscribed and greeted
	gen       uint64   // incremented on every completed (re)connect
	dropped   uint64
	// pubs owns the goroutines that hand a message to paho (whose
	// Publish can block for WriteTimeout on a connection that just died).
	// Adds happen under mu while sess is set; Run waits after clearing it.
	pubs sync.WaitGroup
}

// session is one connection: its paho client, the raw socket under it,
// and gone, closed the moment the connection is lost or abandoned so that
// everything waiting on it returns at once.
type session struct {
	c    mqtt.Client
	gone chan struct{}
	lost chan error // cap 1: paho reported the loss

	mu   sync.Mutex
	conn net.Conn // the socket, once dialled
	dead bool
	once sync.Once
}

func newSession() *session {
	return &session{gone: make(chan struct{}), lost: make(chan error, 1)}
}

// end marks the session gone and closes its socket, which unblocks paho
// wherever it waits on the network (the CONNACK read included).
func (s *session) end() {
	s.once.Do(func() { close(s.gone) })
	s.mu.Lock()
	s.dead = true
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// setConn records the socket; one dialled after end is closed at once.
func (s *session) setConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return false
	}
	s.conn = c
	return true
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
	if o.KeepAlive < time.Second {
		o.KeepAlive = time.Second // MQTT counts keepalive in seconds
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = min(o.KeepAlive/2, 10*time.Second)
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 2 * time.Second
	}
	if o.SocketWriteTimeout <= 0 {
		o.SocketWriteTimeout = 30 * time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 10 * time.Second
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
//
// The link dials the socket itself (dial): so that shutdown can close it
// under a connect in progress, and so that every write has a deadline.
func (l *Link) newClient(ctx context.Context, s *session) mqtt.Client {
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
		SetPingTimeout(l.o.PingTimeout).
		SetWriteTimeout(l.o.WriteTimeout).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetDefaultPublishHandler(l.onMessage).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			return l.dial(ctx, s, u)
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			// Fail everything waiting on this connection now, before Run
			// gets round to replacing it.
			s.once.Do(func() { close(s.gone) })
			select {
			case s.lost <- err:
			default:
			}
		})
	if l.o.Will != nil {
		co.SetBinaryWill(protocol.UpTopic(l.o.Device, protocol.TopicStatus), l.o.Will, 1, true)
	}
	return mqtt.NewClient(co)
}

// dial opens the socket for s: TCP within ConnectTimeout and ctx, with a
// deadline on every write, then TLS for the TLS schemes.
func (l *Link) dial(ctx context.Context, s *session, u *url.URL) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var c net.Conn = &deadlineConn{Conn: raw, write: l.o.SocketWriteTimeout}
	if !s.setConn(c) {
		c.Close()
		return nil, ErrNotConnected
	}
	switch u.Scheme {
	case "tcp", "mqtt":
		return c, nil
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		tc := tls.Client(c, l.o.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
	c.Close()
	return nil, fmt.Errorf("broker URL scheme %q: want mqtts, ssl, tls or tcp", u.Scheme)
}

// deadlineConn gives every write its own deadline. paho sets and clears
// write deadlines only around publishes (pings and acks have none); here
// the link owns them, so paho's calls are ignored and read deadlines pass
// through.
type deadlineConn struct {
	net.Conn
	write time.Duration
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *deadlineConn) SetDeadline(t time.Time) error     { return c.Conn.SetReadDeadline(t) }
func (c *deadlineConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

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
// and disconnects when ctx ends. It returns nil on a clean shutdown, once
// every goroutine it or Publish started has finished.
func (l *Link) Run(ctx context.Context) error {
	defer l.pubs.Wait()
	defer l.drop(nil)
	backoff := l.o.RetryInterval
	for {
		if ctx.Err() != nil {
			return nil
		}
		s := newSession()
		s.c = l.newClient(ctx, s)
		l.log.Debug("connecting", "broker", l.o.BrokerURL)
		tok := s.c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			// Closing the socket fails the CONNACK read at once; wait for
			// paho to see it, so nothing of this attempt outlives Run.
			s.end()
			tok.WaitTimeout(l.o.ConnectTimeout)
			s.c.Disconnect(0)
			return nil
		}
		if err := tok.Error(); err != nil {
			l.logConnectError(err, backoff)
			s.end()
			s.c.Disconnect(0)
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
		l.sess = s
		l.mu.Unlock()
		l.onConnected(ctx, s)
		select {
		case <-ctx.Done():
			l.drop(s)
			// A short quiesce for the DISCONNECT (so the broker does not
			// publish the will); a dead socket cannot hold it up longer.
			s.c.Disconnect(250)
			s.end()
			return nil
		case err := <-s.lost:
			l.log.Warn("connection lost", "err", err)
		case <-s.gone:
			// onConnected gave up on the connection (subscribe failed).
			l.log.Warn("connection abandoned")
		}
		l.drop(s)
		s.end()
		s.c.Disconnect(0)
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

// drop forgets s (any session when s is nil) and reports the link down.
func (l *Link) drop(s *session) {
	l.mu.Lock()
	if s == nil || l.sess == s {
		if l.sess != nil {
			l.sess.once.Do(func() { close(l.sess.gone) })
		}
		l.sess = nil
	}
	l.mu.Unlock()
	l.setConnected(false)
}

func (l *Link) onConnected(ctx context.Context, s *session) {
	filter := protocol.DownFilter(l.o.Device)
	if err := wait(ctx, s, s.c.Subscribe(filter, 1, nil), l.o.ConnectTimeout); err != nil {
		l.log.Error("subscribe failed", "filter", filter, "err", err)
		s.once.Do(func() { close(s.gone) }) // Run reconnects
		return
	}
	if l.o.Greet != nil {
		g := l.o.Greet()
		if g.Hello != nil {
			if err := wait(ctx, s, s.c.Publish(protocol.UpTopic(l.o.Device, protocol.TopicHello), 1, false, g.Hello), l.o.ConnectTimeout); err != nil {
				l.log.Warn("hello not sent", "err", err)
			}
		}
		if g.Status != nil {
			if err := wait(ctx, s, s.c.Publish(protocol.UpTopic(l.o.Device, protocol.TopicStatus), 1, true, g.Status), l.o.ConnectTimeout); err != nil {
				l.log.Warn("status not sent", "err", err)
			}
		}
	}
	select {
	case <-s.gone:
		return // lost while greeting: Run reconnects
	default:
	}
	l.log.Info("connected", "broker", l.o.BrokerURL, "subscribed", filter)
	l.setConnected(true)
}

func wait(ctx context.Context, s *session, t mqtt.Token, timeout time.Duration) error {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-s.gone:
		return ErrNotConnected
	case <-tm.C:
		return errors.New("timed out waiting for the broker")
	}
}

// Publish sends payload on topic with QoS 1 and waits for the broker's
// acknowledgement, ctx (PublishTimeout when ctx has no deadline) or the
// loss of the connection it was sent on, whichever comes first: it returns
// ErrNotConnected at once when that connection is gone or replaced. An
// acknowledgement is not proof the controller stored anything.
func (l *Link) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.o.PublishTimeout)
		defer cancel()
	}
	l.mu.Lock()
	s := l.sess
	if s == nil {
		l.mu.Unlock()
		return ErrNotConnected
	}
	select {
	case <-s.gone:
		l.mu.Unlock()
		return ErrNotConnected
	default:
	}
	// paho's Publish blocks (up to WriteTimeout) until its writer takes
	// the message, and not at all on ctx: hand over from a goroutine.
	queued := make(chan mqtt.Token, 1)
	l.pubs.Go(func() { queued <- s.c.Publish(topic, 1, retain, payload) })
	l.mu.Unlock()
	var t mqtt.Token
	select {
	case t = <-queued:
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	case <-s.gone:
		return fmt.Errorf("publish %s: %w", topic, ErrNotConnected)
	}
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	case <-s.gone:
		return fmt.Errorf("publish %s: %w", topic, ErrNotConnected)
	}
}
