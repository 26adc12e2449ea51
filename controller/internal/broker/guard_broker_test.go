package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// subscribe501 is the tester's packet (mochi issue #501): an 8-byte v5
// SUBSCRIBE, packet id 1, no properties, one filter "a" and no
// subscription-options byte after it. mochi v2.7.9's SubscribeDecode reads
// that byte without a bounds check.
var subscribe501 = []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}

// TestSubscribeMissingOptionsV5 is the regression test for issue 7: the
// packet above, after a normal CONNECT with a device's credentials, used
// to panic the controller. Now the client is dropped and the broker
// serves on.
func TestSubscribeMissingOptionsV5(t *testing.T) {
	// The packet really is the one that crashes mochi on its own.
	if err := mochiDecode(5, subscribe501); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Logf("mochi no longer panics on this packet (%v); the guard still refuses it", err)
	}

	e := startBroker(t, Options{}, wireCreds())
	w := newWireTarget(t, e)
	conn := dialDevice(t, e.Addr().String(), 5)
	if _, err := conn.Write(subscribe501); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil && !isReset(err) {
		t.Fatalf("connection not closed by the broker: %v", err)
	}
	if len(got) > 0 {
		t.Fatalf("broker answered the malformed SUBSCRIBE with % x", got)
	}
	w.checkHealthy(t)
	if n := e.Stats().Malformed; n != 1 {
		t.Errorf("Stats().Malformed = %d, want 1", n)
	}
}

// dialDevice connects to addr and completes a CONNECT as device fuzzDev at
// protocol level version.
func dialDevice(t *testing.T, addr string, version byte) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(connectPacket(t, version, fuzzDev, fuzzDev, devPass(fuzzDev))); err != nil {
		t.Fatal(err)
	}
	if err := readConnack(conn); err != nil {
		t.Fatalf("connack: %v", err)
	}
	return conn
}

// syncBuffer is a log sink safe for the broker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runBroker starts a broker logging to log and returns a stop function
// that returns once Run has (so every client goroutine has logged).
func runBroker(t *testing.T, opts Options, creds Credentials, log *slog.Logger) (*Embedded, func()) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	e, err := New(opts, creds, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return e, stop
}

// passwordForms are the ways a password could appear in a log line: as
// text, as the byte list %v prints for a []byte, and as hex.
func passwordForms(pass string) []string {
	return []string{pass, strings.Trim(fmt.Sprint([]byte(pass)), "[]"), fmt.Sprintf("%x", pass)}
}

// TestNoPasswordInLog sends a second CONNECT (which mochi v2.7.9 logs in
// full, password included, at Warn) and malformed CONNECTs holding a
// password, with the broker logging at Debug, and greps the log.
func TestNoPasswordInLog(t *testing.T) {
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, stop := runBroker(t, Options{}, wireCreds(), log)
	addr := e.Addr().String()
	pass := devPass(fuzzDev)

	drain := func(conn net.Conn) {
		if _, err := io.Copy(io.Discard, conn); err != nil && !isReset(err) {
			t.Errorf("connection not closed: %v", err)
		}
	}
	// A second CONNECT on a connected v5 and v3 session.
	for _, v := range []byte{4, 5} {
		conn := dialDevice(t, addr, v)
		if _, err := conn.Write(connectPacket(t, v, fuzzDev, fuzzDev, pass)); err != nil {
			t.Fatal(err)
		}
		drain(conn)
	}
	// Malformed first CONNECTs carrying the password: reserved bit,
	// trailing garbage, a v5 property running past the end.
	good := connectBody{level: 5, id: fuzzDev, user: sp(fuzzDev), pass: sp(pass)}
	reserved := good
	reserved.flags = 0x01
	trailing := good
	trailing.trailing = []byte{0}
	badProps := good
	badProps.props = b(0x05, 0x11, 0, 0)
	for _, data := range [][]byte{pkt(0x10, reserved.bytes()), pkt(0x10, trailing.bytes()), pkt(0x10, badProps.bytes())} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(data); err != nil {
			t.Fatal(err)
		}
		drain(conn)
		conn.Close()
	}
	stop()

	out := logBuf.String()
	for _, form := range passwordForms(pass) {
		if strings.Contains(out, form) {
			t.Errorf("log holds the password as %q:\n%s", form, out)
		}
	}
	if n := strings.Count(out, "mqtt client dropped"); n != 5 {
		t.Errorf("%d guard log lines, want 5:\n%s", n, out)
	}
	if n := strings.Count(out, "malformed MQTT packet"); n != 5 {
		t.Errorf("%d log lines about malformed packets, want one per refused connection (5):\n%s", n, out)
	}
	if !strings.Contains(out, "second CONNECT") || !strings.Contains(out, "remote=127.0.0.1:") {
		t.Errorf("guard lines lack the reason or the remote address:\n%s", out)
	}
}

// TestRedactPackets checks the handler mochi logs through, on the path the
// guard now keeps mochi from reaching: its "error processing packet"
// line carries the whole packet.
func TestRedactPackets(t *testing.T) {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect:     packets.ConnectParams{Username: []byte("dev"), Password: []byte("hunter2-secret"), PasswordFlag: true},
	}
	plain := func(buf *syncBuffer) slog.Handler {
		return slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	var raw, red syncBuffer
	slog.New(plain(&raw)).Warn("error processing packet", "pk", pk)
	if !strings.Contains(raw.String(), passwordForms("hunter2-secret")[1]) {
		t.Fatalf("the test's premise is wrong: an unfiltered log does not show the password:\n%s", raw.String())
	}
	l := slog.New(redactPackets{plain(&red)})
	l.Warn("error processing packet", "error", "x", "pk", pk)
	l.With("packet", &pk).WithGroup("g").Debug("packet rejected", slog.Group("inner", "pkx", pk), "n", 1)
	out := red.String()
	for _, form := range passwordForms("hunter2-secret") {
		if strings.Contains(out, form) {
			t.Errorf("redacted log holds the password as %q:\n%s", form, out)
		}
	}
	if strings.Count(out, "packet type 1, redacted") != 3 || !strings.Contains(out, "g.n=1") {
		t.Errorf("redacted log lost its shape:\n%s", out)
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "guardcast test broker"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLSListener(t *testing.T) {
	cert, pool := selfSigned(t)
	e := startBroker(t, Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}, wireCreds())
	addr := e.Addr().String()
	dialTLS := func(t *testing.T) *tls.Conn {
		t.Helper()
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		return conn
	}

	t.Run("connect and ping", func(t *testing.T) {
		conn := dialTLS(t)
		if _, err := conn.Write(connectPacket(t, 4, fuzzDev, fuzzDev, devPass(fuzzDev))); err != nil {
			t.Fatal(err)
		}
		if err := readConnack(conn); err != nil {
			t.Fatalf("connack over TLS: %v", err)
		}
		if _, err := conn.Write([]byte{0xc0, 0}); err != nil {
			t.Fatal(err)
		}
		pong := make([]byte, 2)
		if _, err := io.ReadFull(conn, pong); err != nil || !bytes.Equal(pong, []byte{0xd0, 0}) {
			t.Fatalf("PINGRESP over TLS: % x, %v", pong, err)
		}
	})
	t.Run("paho", func(t *testing.T) {
		c, err := pahoConnect(t, "tls://"+addr, fuzzDev, fuzzDev, devPass(fuzzDev), func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		})
		if err != nil {
			t.Fatalf("paho over TLS: %v", err)
		}
		if !c.IsConnected() {
			t.Fatal("paho not connected")
		}
	})
	t.Run("guard sees plaintext", func(t *testing.T) {
		conn := dialTLS(t)
		if _, err := conn.Write(connectPacket(t, 5, fuzzDev, fuzzDev, devPass(fuzzDev))); err != nil {
			t.Fatal(err)
		}
		if err := readConnack(conn); err != nil {
			t.Fatalf("connack over TLS: %v", err)
		}
		before := e.Stats().Malformed
		if _, err := conn.Write(subscribe501); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(conn); len(got) > 0 || (err != nil && !isReset(err) && !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Fatalf("after the malformed SUBSCRIBE: read % x, %v", got, err)
		}
		if e.Stats().Malformed != before+1 {
			t.Errorf("the guard did not refuse the SUBSCRIBE sent over TLS")
		}
	})
	t.Run("plain TCP refused", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(connectPacket(t, 4, fuzzDev, fuzzDev, devPass(fuzzDev))); err != nil {
			t.Fatal(err)
		}
		if err := readConnack(conn); err == nil {
			t.Fatal("a plaintext CONNECT got a CONNACK from the TLS listener")
		}
	})
}

func TestTLSConfigWithoutCertificate(t *testing.T) {
	_, err := New(Options{Addr: "127.0.0.1:0", TLSConfig: &tls.Config{}}, wireCreds(), nil)
	if err == nil {
		t.Fatal("New accepted a TLSConfig with no certificate")
	}
}
