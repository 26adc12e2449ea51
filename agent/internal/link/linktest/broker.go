// Package linktest runs an in-process MQTT broker (mochi-mqtt, no auth)
// for agent tests. It accepts every client: the real broker's ACL belongs
// to the controller and is tested there.
package linktest

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is a test broker listening on loopback.
type Broker struct {
	Server *mqtt.Server
	URL    string // tcp://127.0.0.1:port, or mqtts://localhost:port (NewTLS)

	mu     sync.Mutex
	nextID int
}

// Message is a message seen by an inline subscription.
type Message struct {
	Topic   string
	Payload []byte
	Retain  bool
}

// New starts a broker and stops it when the test ends.
func New(t testing.TB) *Broker { return start(t, nil) }

// NewTLS starts a broker that speaks only TLS with tc; its URL names the
// host "localhost".
func NewTLS(t testing.TB, tc *tls.Config) *Broker { return start(t, tc) }

func start(t testing.TB, tc *tls.Config) *Broker {
	t.Helper()
	s := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0", TLSConfig: tc})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if tc != nil {
		_, port, _ := net.SplitHostPort(l.Address())
		return &Broker{Server: s, URL: "mqtts://localhost:" + port}
	}
	return &Broker{Server: s, URL: "tcp://" + l.Address()}
}

// Subscribe delivers every message matching filter to the returned
// channel (buffered; a full channel blocks the broker, so size it).
func (b *Broker) Subscribe(t testing.TB, filter string, size int) <-chan Message {
	t.Helper()
	ch := make(chan Message, size)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.mu.Unlock()
	err := b.Server.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		ch <- Message{Topic: pk.TopicName, Payload: append([]byte(nil), pk.Payload...), Retain: pk.FixedHeader.Retain}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// Publish publishes from the broker itself, QoS 1.
func (b *Broker) Publish(t testing.TB, topic string, payload []byte, retain bool) {
	t.Helper()
	if err := b.Server.Publish(topic, payload, retain, 1); err != nil {
		t.Fatal(err)
	}
}

// allowAll lets every client connect and use every topic. (mochi's own
// auth.AllowHook would do, but its package pulls in a YAML dependency
// this module does not carry.)
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "allow-all-test" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
