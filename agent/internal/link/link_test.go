package link

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/link/linktest"
	"github.com/guardcast/guardcast/internal/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const dev = "atm-7"

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
	panic("unreachable")
}

func waitState(t *testing.T, l *Link, up bool, minGen uint64) uint64 {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if c, g := l.State(); c == up && g >= minGen {
			return g
		}
		select {
		case <-l.Events():
		case <-deadline:
			t.Fatalf("link never reached connected=%v gen>=%d", up, minGen)
		}
	}
}

func TestGreetSubscribeReconnect(t *testing.T) {
	b := linktest.New(t)
	hellos := b.Subscribe(t, protocol.UpTopic(dev, protocol.TopicHello), 16)
	statuses := b.Subscribe(t, protocol.UpTopic(dev, protocol.TopicStatus), 16)

	will, _ := json.Marshal(protocol.Status{V: protocol.Version, Device: dev, Online: false})
	l, err := New(Options{
		BrokerURL: b.URL, Device: dev, Password: "pw", Will: will,
		RetryInterval: 50 * time.Millisecond, MaxReconnectInterval: 100 * time.Millisecond,
		Greet: func() Greeting {
			return Greeting{Hello: []byte(`{"hello":1}`), Status: []byte(`{"online":true}`)}
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	g1 := waitState(t, l, true, 1)
	if m := recv(t, hellos); string(m.Payload) != `{"hello":1}` {
		t.Fatalf("hello %q", m.Payload)
	}
	if m := recv(t, statuses); !m.Retain || string(m.Payload) != `{"online":true}` {
		t.Fatalf("status %+v", m)
	}

	b.Publish(t, protocol.DownTopic(dev, protocol.TopicReceipt), []byte("r1"), false)
	if m := recv(t, l.Messages()); m.Topic != protocol.DownTopic(dev, protocol.TopicReceipt) || string(m.Payload) != "r1" {
		t.Fatalf("got %+v", m)
	}
	if err := l.Publish(ctx, protocol.UpTopic(dev, protocol.TopicProofs), []byte("p"), false); err != nil {
		t.Fatal(err)
	}

	// Kick the client: the will is published, and on reconnect the link
	// subscribes and greets again.
	cl, ok := b.Server.Clients.Get(dev)
	if !ok {
		t.Fatal("client not on broker")
	}
	cl.Stop(errors.New("kicked by test"))
	// The link reconnects at once; whether the broker publishes the will
	// first depends on how it handles the takeover (TestWill checks it).
	for {
		m := recv(t, statuses)
		if string(m.Payload) == `{"online":true}` {
			break
		}
	}
	waitState(t, l, true, g1+1)
	recv(t, hellos)
	b.Publish(t, protocol.DownTopic(dev, protocol.TopicDesired), []byte("d"), true)
	if m := recv(t, l.Messages()); string(m.Payload) != "d" {
		t.Fatalf("after reconnect got %+v", m)
	}

	cancel()
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(context.Background(), "x", nil, false); err != ErrNotConnected {
		t.Fatalf("publish after shutdown: %v", err)
	}
}

func TestRunStopsWhileBrokerUnreachable(t *testing.T) {
	l, err := New(Options{BrokerURL: "tcp://127.0.0.1:1", Device: dev, Password: "pw", RetryInterval: 20 * time.Millisecond, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.State(); c {
		t.Fatal("connected to nothing")
	}
}

// proxy forwards one TCP connection at a time to addr; cut drops it
// abruptly, like a network failure, so the broker sees EOF and sends the will.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, addr string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.cut(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(u, c); u.Close() })
			wg.Go(func() { io.Copy(c, u); c.Close() })
		}
	})
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestWill(t *testing.T) {
	b := linktest.New(t)
	px := newProxy(t, strings.TrimPrefix(b.URL, "tcp://"))
	statuses := b.Subscribe(t, protocol.UpTopic(dev, protocol.TopicStatus), 16)
	will := []byte(`{"online":false}`)
	l, _ := New(Options{BrokerURL: "tcp://" + px.ln.Addr().String(), Device: dev, Password: "pw", Will: will, RetryInterval: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitState(t, l, true, 1)
	px.cut()
	if m := recv(t, statuses); string(m.Payload) != string(will) || !m.Retain {
		t.Fatalf("want the retained will, got %+v", m)
	}
	waitState(t, l, false, 1)
	cancel()
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
}

// TestStalledConnection: the path to the broker wedges (the proxy keeps
// the socket open and forwards nothing). A publish returns at its
// deadline, keepalive notices the stall within KeepAlive+PingTimeout, a
// publish waiting on the dead connection fails the moment it is lost,
// and Run stops at once.
func TestStalledConnection(t *testing.T) {
	b := linktest.New(t)
	px := linktest.NewStallProxy(t, strings.TrimPrefix(b.URL, "tcp://"), false)
	l, err := New(Options{BrokerURL: "tcp://" + px.Addr, Device: dev, Password: "pw",
		KeepAlive: time.Second, PingTimeout: 500 * time.Millisecond, RetryInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitState(t, l, true, 1)
	px.Stall()

	// A publish with a deadline returns at it.
	pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	err = l.Publish(pctx, protocol.UpTopic(dev, protocol.TopicProofs), []byte("p"), false)
	pcancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("publish on a stalled link: %v after %s", err, time.Since(start))
	}

	// One waiting without a deadline of its own is released by the loss.
	waiting := make(chan error, 1)
	go func() {
		waiting <- l.Publish(context.Background(), protocol.UpTopic(dev, protocol.TopicProofs), []byte("q"), false)
	}()
	stalled := time.Now()
	waitState(t, l, false, 1)
	if d := time.Since(stalled); d > 3*time.Second {
		t.Fatalf("stall noticed after %s, want within KeepAlive+PingTimeout", d)
	}
	select {
	case err := <-waiting:
		if err == nil {
			t.Fatal("publish on the lost connection succeeded")
		}
	case <-time.After(time.Second):
		t.Fatal("publish on the lost connection still waiting")
	}
	if err := l.Publish(ctx, "x", nil, false); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("publish while down: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestRunStopsDuringStalledConnect: the broker's address accepts and
// never answers, so the CONNECT hangs; Run still returns at once when
// asked, leaving nothing behind.
func TestRunStopsDuringStalledConnect(t *testing.T) {
	px := linktest.NewStallProxy(t, "127.0.0.1:1", true)
	l, err := New(Options{BrokerURL: "tcp://" + px.Addr, Device: dev, Password: "pw", ConnectTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	recv(t, px.Accepted) // the CONNECT is on its way, and will never be answered
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop during a stalled connect")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Run took %s to stop", d)
	}
}
