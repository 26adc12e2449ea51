package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Options configures the embedded broker. Zero fields take the values of
// DefaultOptions.
type Options struct {
	// Addr is the TCP listen address. Port 0 picks a free port (see Addr()).
	Addr string `yaml:"addr" json:"addr"`

	// MaxPacketSize caps any one MQTT packet, in bytes; a larger packet
	// drops the connection before its body is read (mochi would otherwise
	// allocate whatever the remaining length claims, up to 256 MiB).
	MaxPacketSize uint32 `yaml:"max_packet_size" json:"max_packet_size"`

	// MaxTopicLen caps topic names and subscription filters, in bytes.
	// GuardCast topics are well under 100 bytes.
	MaxTopicLen int `yaml:"max_topic_len" json:"max_topic_len"`

	// MaxClientIDLen caps client IDs (device IDs are further capped by
	// protocol.MaxDeviceIDLen).
	MaxClientIDLen int `yaml:"max_client_id_len" json:"max_client_id_len"`

	// ReceiveMaximum is the number of unacknowledged QoS>0 publishes a
	// client may have in flight towards the broker (announced in v5 CONNACK).
	ReceiveMaximum uint16 `yaml:"receive_maximum" json:"receive_maximum"`

	// MaxInflight is how many QoS>0 messages the broker keeps in flight per
	// subscriber before it drops new ones for that subscriber.
	MaxInflight uint16 `yaml:"max_inflight" json:"max_inflight"`

	// MaxClientWritesPending is the per-client outbound queue; a message
	// for a subscriber whose queue is full is dropped. Each connected
	// client reserves 8 bytes per slot, so keep it moderate for a fleet;
	// a controller ingesting over TCP from this broker needs room for its
	// largest burst (the in-process Bus needs none: it applies
	// backpressure instead).
	MaxClientWritesPending int32 `yaml:"max_client_writes_pending" json:"max_client_writes_pending"`

	// MaxClients bounds concurrent connections.
	MaxClients int64 `yaml:"max_clients" json:"max_clients"`

	// SessionExpiry bounds how long a disconnected persistent session (and
	// its queued messages) is kept. Broker state is only an optimisation.
	SessionExpiry time.Duration `yaml:"session_expiry" json:"session_expiry"`

	// ConnectTimeout is how long a new TCP connection has to send CONNECT
	// (and, with TLSConfig, to finish the TLS handshake before it).
	ConnectTimeout time.Duration `yaml:"connect_timeout" json:"connect_timeout"`

	// TLSConfig, when set, makes the listener speak MQTT over TLS only. It
	// must carry a certificate (Certificates, GetCertificate or
	// GetConfigForClient). Not part of the config file: the caller builds it.
	TLSConfig *tls.Config `yaml:"-" json:"-"`
}

// DefaultOptions are the values used for zero Options fields.
var DefaultOptions = Options{
	Addr:                   "127.0.0.1:1883",
	MaxPacketSize:          1 << 20,
	MaxTopicLen:            256,
	MaxClientIDLen:         128,
	ReceiveMaximum:         4096,
	MaxInflight:            65535,
	MaxClientWritesPending: 8192,
	MaxClients:             50000,
	SessionExpiry:          24 * time.Hour,
	ConnectTimeout:         10 * time.Second,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Addr == "" {
		o.Addr = d.Addr
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = d.MaxPacketSize
	}
	if o.MaxTopicLen == 0 {
		o.MaxTopicLen = d.MaxTopicLen
	}
	if o.MaxClientIDLen == 0 {
		o.MaxClientIDLen = d.MaxClientIDLen
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = d.ReceiveMaximum
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = d.MaxInflight
	}
	if o.MaxClientWritesPending == 0 {
		o.MaxClientWritesPending = d.MaxClientWritesPending
	}
	if o.MaxClients == 0 {
		o.MaxClients = d.MaxClients
	}
	if o.SessionExpiry == 0 {
		o.SessionExpiry = d.SessionExpiry
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = d.ConnectTimeout
	}
	return o
}

func (o Options) capabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumPacketSize = o.MaxPacketSize
	c.ReceiveMaximum = o.ReceiveMaximum
	c.MaximumInflight = o.MaxInflight
	c.MaximumClientWritesPending = o.MaxClientWritesPending
	c.MaximumClients = o.MaxClients
	c.MaximumSessionExpiryInterval = uint32(o.SessionExpiry / time.Second)
	c.MaximumQos = 1         // GuardCast uses QoS 1 only; QoS 2 is state an attacker could pile up.
	c.TopicAliasMaximum = 0  // nobody needs aliases; refusing them keeps ACL checks on real names.
	c.SharedSubAvailable = 1 // controllers share proof ingestion
	return c
}

// Embedded is an in-process mochi-mqtt broker with the GuardCast AuthHook.
type Embedded struct {
	srv     *mqtt.Server
	hook    *AuthHook
	ln      *trackingListener
	log     *slog.Logger
	started atomic.Bool
}

// New builds the broker and binds its listener, so Addr is valid at once;
// call Run to serve. log may be nil.
func New(opts Options, creds Credentials, log *slog.Logger) (*Embedded, error) {
	if creds == nil {
		return nil, errors.New("broker: no credentials")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	if t := opts.TLSConfig; t != nil && len(t.Certificates) == 0 && t.GetCertificate == nil && t.GetConfigForClient == nil {
		return nil, errors.New("broker: TLSConfig has no certificate")
	}
	log = log.With("component", "broker")

	srv := mqtt.New(&mqtt.Options{
		Capabilities: opts.capabilities(),
		InlineClient: true,
		// mochi logs whole packets in some paths (a second CONNECT with
		// its password at Warn); the guard keeps those from reaching mochi
		// and redactPackets keeps any others out of our log.
		Logger: slog.New(redactPackets{log.Handler()}),
	})
	hook := NewAuthHook(creds, opts)
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker: add auth hook: %w", err)
	}
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", opts.Addr, err)
	}
	if opts.TLSConfig != nil {
		// TLS below the guard, so the guard reads plaintext MQTT.
		l = tls.NewListener(l, opts.TLSConfig)
	}
	ln := newTrackingListener(l, opts.ConnectTimeout, opts.MaxPacketSize, log)
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: add listener: %w", err)
	}
	return &Embedded{srv: srv, hook: hook, ln: ln, log: log}, nil
}

// Addr is the bound listen address.
func (e *Embedded) Addr() net.Addr { return e.ln.Addr() }

// Run serves until ctx is cancelled, then disconnects every client, closes
// the listener and returns once all client goroutines have ended.
func (e *Embedded) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("broker: Run called twice")
	}
	if err := e.srv.Serve(); err != nil {
		e.ln.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	e.log.Info("broker listening", "addr", e.Addr().String())
	<-ctx.Done()
	return e.srv.Close()
}

// Stats is a snapshot of broker counters.
type Stats struct {
	Refusals
	ClientsConnected int64
	MessagesDropped  int64 // outbound queue full
	InflightDropped  int64 // MaxInflight reached
}

func (e *Embedded) refusals() Refusals {
	r := e.hook.Refusals()
	r.Malformed = e.ln.refused.Load()
	return r
}

// Stats returns the current counters.
func (e *Embedded) Stats() Stats {
	info := e.srv.Info
	return Stats{
		Refusals:         e.refusals(),
		ClientsConnected: atomic.LoadInt64(&info.ClientsConnected),
		MessagesDropped:  atomic.LoadInt64(&info.MessagesDropped),
		InflightDropped:  atomic.LoadInt64(&info.InflightDropped),
	}
}
