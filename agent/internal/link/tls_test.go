package link

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/link/linktest"
	"github.com/guardcast/guardcast/internal/protocol"
)

// logWatch is a slog handler that signals when a record's message
// contains want.
type logWatch struct {
	want string
	once *sync.Once
	seen chan string
}

func (h logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (h logWatch) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logWatch) WithGroup(string) slog.Handler            { return h }
func (h logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.want) {
		h.once.Do(func() {
			var b strings.Builder
			b.WriteString(r.Message)
			r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
			h.seen <- b.String()
		})
	}
	return nil
}

// TestTLSPinnedCA: the link reaches a TLS broker whose certificate names
// only "localhost" when it trusts exactly that CA, and refuses one signed
// by another CA with a log line that says so.
func TestTLSPinnedCA(t *testing.T) {
	ca := linktest.NewCA(t)
	b := linktest.NewTLS(t, ca.ServerTLS(t, "localhost"))
	hellos := b.Subscribe(t, protocol.UpTopic(dev, protocol.TopicHello), 4)

	run := func(t *testing.T, caPEM string, log *slog.Logger) (*Link, func()) {
		t.Helper()
		tc, err := (&protocol.AgentConfig{CACert: caPEM}).ClientTLS()
		if err != nil {
			t.Fatal(err)
		}
		l, err := New(Options{BrokerURL: b.URL, Device: dev, Password: "pw", TLS: tc, Logger: log,
			RetryInterval: time.Minute, ConnectTimeout: 5 * time.Second,
			Greet: func() Greeting { return Greeting{Hello: []byte("hi")} }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		return l, func() {
			cancel()
			if err := recv(t, done); err != nil {
				t.Error(err)
			}
		}
	}

	t.Run("pinned CA", func(t *testing.T) {
		l, stop := run(t, ca.PEM, nil)
		defer stop()
		waitState(t, l, true, 1)
		if m := recv(t, hellos); string(m.Payload) != "hi" {
			t.Fatalf("hello %q", m.Payload)
		}
	})
	t.Run("another CA", func(t *testing.T) {
		w := logWatch{want: "not signed by the configured CA", once: new(sync.Once), seen: make(chan string, 1)}
		l, stop := run(t, linktest.NewCA(t).PEM, slog.New(w))
		defer stop()
		line := recv(t, w.seen)
		if !strings.Contains(line, "x509") {
			t.Errorf("log line does not carry the x509 error: %s", line)
		}
		if up, gen := l.State(); up || gen != 0 {
			t.Fatalf("link came up (gen %d) with a broker signed by another CA", gen)
		}
		select {
		case m := <-hellos:
			t.Fatalf("a hello reached the broker: %q", m.Payload)
		default:
		}
	})
}

func TestPlaintextOffLoopbackRefused(t *testing.T) {
	_, err := New(Options{BrokerURL: "tcp://10.0.0.5:1883", Device: dev, Password: "pw"})
	if err == nil || !strings.Contains(err.Error(), "plaintext over a network") {
		t.Fatalf("New = %v, want a plaintext refusal", err)
	}
	if _, err := New(Options{BrokerURL: "tcp://10.0.0.5:1883", Device: dev, Password: "pw", Insecure: true}); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if _, err := New(Options{BrokerURL: "tcp://127.0.0.1:1883", Device: dev, Password: "pw"}); err != nil {
		t.Fatalf("loopback: %v", err)
	}
}
