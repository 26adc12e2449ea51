package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/guardcast/guardcast/internal/protocol"
)

// busHarness adapts one Bus implementation and its broker to testBus.
type busHarness struct {
	// newBus returns a fresh Bus; the suite closes it.
	newBus func(t *testing.T) Bus
	// publisher connects a separate MQTT client allowed to publish to
	// protocol.UpTopic(id, protocol.TopicProofs) and returns it with id.
	publisher func(t *testing.T) (paho.Client, string)
}

// burstN is the size of the QoS 1 burst a blocking handler must absorb.
const burstN = 20000

// testBus is the conformance suite every Bus implementation passes.
func testBus(t *testing.T, h busHarness) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	recv := func() (Handler, chan Message) {
		ch := make(chan Message, 100)
		return func(m Message) { ch <- m }, ch
	}
	expect := func(t *testing.T, ch chan Message, want Message) {
		t.Helper()
		select {
		case got := <-ch:
			if got.Topic != want.Topic || string(got.Payload) != string(want.Payload) || got.Retained != want.Retained {
				t.Fatalf("got %s %q retained=%v, want %s %q retained=%v", got.Topic, got.Payload, got.Retained, want.Topic, want.Payload, want.Retained)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no message on %s", want.Topic)
		}
	}

	t.Run("PublishSubscribe", func(t *testing.T) {
		b := h.newBus(t)
		defer b.Close()
		topic := protocol.DownTopic("ps-1", protocol.TopicReceipt)
		hf, ch := recv()
		if err := b.Subscribe(ctx, topic, hf); err != nil {
			t.Fatal(err)
		}
		payload := []byte("receipt 1")
		if err := b.Publish(ctx, topic, payload, false); err != nil {
			t.Fatal(err)
		}
		payload[0] = 'X' // the bus must not keep the caller's buffer
		expect(t, ch, Message{Topic: topic, Payload: []byte("receipt 1")})
	})

	t.Run("RetainedToLateSubscriber", func(t *testing.T) {
		b := h.newBus(t)
		defer b.Close()
		topic := protocol.DownTopic("rt-1", protocol.TopicDesired)
		if err := b.Publish(ctx, topic, []byte("desired v7"), true); err != nil {
			t.Fatal(err)
		}
		hf, ch := recv()
		if err := b.Subscribe(ctx, topic, hf); err != nil {
			t.Fatal(err)
		}
		expect(t, ch, Message{Topic: topic, Payload: []byte("desired v7"), Retained: true})
	})

	t.Run("WildcardUpFilterAll", func(t *testing.T) {
		b := h.newBus(t)
		defer b.Close()
		hf, ch := recv()
		if err := b.Subscribe(ctx, protocol.UpFilterAll(protocol.TopicProofs), hf); err != nil {
			t.Fatal(err)
		}
		// Not matching, published first: if it leaked through, it would
		// arrive before the two that must.
		if err := b.Publish(ctx, protocol.UpTopic("wc-1", protocol.TopicStatus), []byte("status"), false); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"wc-1", "wc-2"} {
			if err := b.Publish(ctx, protocol.UpTopic(id, protocol.TopicProofs), []byte("proofs of "+id), false); err != nil {
				t.Fatal(err)
			}
		}
		expect(t, ch, Message{Topic: protocol.UpTopic("wc-1", protocol.TopicProofs), Payload: []byte("proofs of wc-1")})
		expect(t, ch, Message{Topic: protocol.UpTopic("wc-2", protocol.TopicProofs), Payload: []byte("proofs of wc-2")})
	})

	t.Run("BlockingHandlerBurst", func(t *testing.T) {
		b := h.newBus(t)
		defer b.Close()
		var (
			mu    sync.Mutex
			seen  = make(map[uint32]bool, burstN)
			dups  int
			total int
			done  = make(chan struct{})
		)
		handler := func(m Message) {
			if len(m.Payload) < 4 {
				return
			}
			seq := binary.BigEndian.Uint32(m.Payload)
			mu.Lock()
			total++
			if seen[seq] {
				dups++
			}
			seen[seq] = true
			n := len(seen)
			mu.Unlock()
			if n%500 == 0 {
				time.Sleep(20 * time.Millisecond) // a slow batch commit
			}
			if n == burstN {
				close(done)
			}
		}
		if err := b.Subscribe(ctx, protocol.UpFilterAll(protocol.TopicProofs), handler); err != nil {
			t.Fatal(err)
		}
		pub, id := h.publisher(t)
		topic := protocol.UpTopic(id, protocol.TopicProofs)
		payload := make([]byte, 300)
		start := time.Now()
		toks := make([]paho.Token, 0, burstN)
		for i := range burstN {
			p := append([]byte(nil), payload...)
			binary.BigEndian.PutUint32(p, uint32(i))
			toks = append(toks, pub.Publish(topic, 1, false, p))
		}
		for i, tok := range toks {
			if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
		acked := time.Since(start)
		select {
		case <-done:
		case <-time.After(90 * time.Second):
		}
		elapsed := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		t.Logf("burst: %d QoS 1 × 300 B: all PUBACKed in %v, %d/%d delivered (%d duplicates) in %v (%.0f msg/s)",
			burstN, acked.Round(time.Millisecond), len(seen), burstN, dups, elapsed.Round(time.Millisecond), float64(len(seen))/elapsed.Seconds())
		if len(seen) != burstN {
			t.Fatalf("lost %d of %d messages", burstN-len(seen), burstN)
		}
	})

	t.Run("Close", func(t *testing.T) {
		b := h.newBus(t)
		hf, _ := recv()
		if err := b.Subscribe(ctx, protocol.DownTopic("cl-1", protocol.TopicReceipt), hf); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := b.Publish(ctx, protocol.DownTopic("cl-1", protocol.TopicReceipt), []byte("x"), false); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close = %v, want ErrClosed", err)
		}
		if err := b.Subscribe(ctx, "gc/v1/#", hf); !errors.Is(err, ErrClosed) {
			t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
		}
	})
}

func TestBusEmbeddedInline(t *testing.T) {
	e := startBroker(t, Options{}, testCreds("burst-dev"))
	testBus(t, busHarness{
		newBus: func(t *testing.T) Bus { return e.Bus() },
		publisher: func(t *testing.T) (paho.Client, string) {
			return mustPaho(t, brokerURL(e), "burst-dev", "burst-dev", devPass("burst-dev"), nil), "burst-dev"
		},
	})
	if s := e.Stats(); s.MessagesDropped != 0 || s.InflightDropped != 0 {
		t.Errorf("broker dropped messages: %+v", s)
	}
}

func TestBusPahoEmbedded(t *testing.T) {
	// A controller reading a burst over TCP needs the broker to queue it:
	// mochi does not backpressure the publisher for a slow TCP subscriber.
	e := startBroker(t, Options{MaxClientWritesPending: 2 * burstN}, testCreds("burst-dev"))
	testBus(t, busHarness{
		newBus: func(t *testing.T) Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := NewPahoBus(ctx, PahoOptions{
				URL: brokerURL(e), ClientID: fmt.Sprintf("controller:%d", clientSeq.Add(1)),
				Username: ctlUser, Password: ctlPass, Logger: testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		publisher: func(t *testing.T) (paho.Client, string) {
			return mustPaho(t, brokerURL(e), "burst-dev", "burst-dev", devPass("burst-dev"), nil), "burst-dev"
		},
	})
	if s := e.Stats(); s.MessagesDropped != 0 || s.InflightDropped != 0 {
		t.Errorf("broker dropped messages: %+v", s)
	}
}

func TestBusPahoMosquitto(t *testing.T) {
	url := startMosquitto(t)
	testBus(t, busHarness{
		newBus: func(t *testing.T) Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := NewPahoBus(ctx, PahoOptions{
				URL: url, ClientID: fmt.Sprintf("controller-%d", clientSeq.Add(1)), Logger: testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		publisher: func(t *testing.T) (paho.Client, string) {
			return mustPaho(t, url, "burst-dev", "", "", nil), "burst-dev"
		},
	})
}

// startMosquitto runs a private mosquitto on a free loopback port and
// returns its URL. Without mosquitto on PATH the test is skipped, or fails
// when $CI is set.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		msg := "mosquitto not on PATH (apt-get install mosquitto); skipping the external-broker conformance run"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " — but $CI is set, so this is a failure")
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	cfg := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 0
log_dest stderr
log_type error
log_type warning
`, port)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logLines []string
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-logDone
		if t.Failed() {
			logMu.Lock()
			t.Logf("mosquitto log:\n%s", strings.Join(logLines, "\n"))
			logMu.Unlock()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "tcp://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
