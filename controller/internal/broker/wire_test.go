package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Connection modes for a wire case: what is sent before the case's bytes.
const (
	modeRaw        byte = iota // nothing: the bytes are the whole stream
	modeDeviceV3               // a valid v3.1.1 CONNECT as device fuzzDev
	modeDeviceV5               // a valid v5 CONNECT as device fuzzDev
	modeController             // a valid v5 CONNECT as the controller
	numModes
)

const fuzzDev = "fuzz-dev"

func encode(t testing.TB, pk packets.Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	default:
		err = fmt.Errorf("no encoder for type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func connectPacket(t testing.TB, version byte, id, user, pass string) []byte {
	name := []byte("MQTT")
	return encode(t, packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName: name, ClientIdentifier: id, Clean: true, Keepalive: 30,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass),
		},
	})
}

func publishPacket(t testing.TB, version byte, topic string, qos byte, retain bool, payload string, props packets.Properties) []byte {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		ProtocolVersion: version, TopicName: topic, Payload: []byte(payload), Properties: props,
	}
	if qos > 0 {
		pk.PacketID = 7
	}
	return encode(t, pk)
}

func subscribePacket(t testing.TB, version byte, filter string) []byte {
	return encode(t, packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		ProtocolVersion: version, PacketID: 9,
		Filters: packets.Subscriptions{{Filter: filter, Qos: 1}},
	})
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

type wireCase struct {
	name string
	mode byte
	data []byte
}

// wireCases is the shared table of wire-level packets: the deterministic
// TestMalformedPackets replays it and FuzzBrokerPackets seeds from it.
func wireCases(t testing.TB) []wireCase {
	own := protocol.UpTopic(fuzzDev, protocol.TopicProofs)
	c3 := connectPacket(t, 4, fuzzDev, fuzzDev, devPass(fuzzDev))
	c5 := connectPacket(t, 5, fuzzDev, fuzzDev, devPass(fuzzDev))
	p3 := publishPacket(t, 4, own, 1, false, "proof", packets.Properties{})
	p5 := publishPacket(t, 5, own, 1, false, "proof", packets.Properties{})
	s3 := subscribePacket(t, 4, protocol.DownFilter(fuzzDev))
	s5 := subscribePacket(t, 5, protocol.DownFilter(fuzzDev))
	will5 := encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), ClientIdentifier: fuzzDev, Clean: true, Keepalive: 30,
			UsernameFlag: true, Username: []byte(fuzzDev), PasswordFlag: true, Password: []byte(devPass(fuzzDev)),
			WillFlag: true, WillQos: 1, WillRetain: true,
			WillTopic: protocol.UpTopic(fuzzDev, protocol.TopicStatus), WillPayload: []byte("offline"),
			WillProperties: packets.Properties{WillDelayInterval: 1, User: []packets.UserProperty{{Key: "k", Val: "v"}}},
		},
	})
	// In will5 the CONNECT properties length is the byte after the
	// keepalive (fixed header 2 + "MQTT" 6 + version 1 + flags 1 + keepalive 2).
	bogusWillProps := append([]byte(nil), will5...)
	bogusWillProps[12] = 0x05
	bogusWillProps = append(bogusWillProps[:13], append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, bogusWillProps[13:]...)...)

	return []wireCase{
		{"v3 connect", modeRaw, c3},
		{"v5 connect", modeRaw, c5},
		{"v3 connect publish subscribe", modeRaw, cat(c3, p3, s3)},
		{"v5 connect publish subscribe", modeRaw, cat(c5, p5, s5)},
		{"v3 connect truncated", modeRaw, c3[:len(c3)/2]},
		{"v5 connect truncated", modeRaw, c5[:len(c5)-3]},
		{"v3 connect MQIsdp", modeRaw, append([]byte{0x10, 0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 30, 0, 2, 'i', 'd'}, 0)},
		{"connect bad protocol name", modeRaw, []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 30, 0, 0}},
		{"connect remaining length 5 bytes", modeRaw, []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"connect remaining length huge", modeRaw, []byte{0x10, 0xff, 0xff, 0xff, 0x7f}},
		{"connect remaining length over max packet", modeRaw, []byte{0x10, 0x80, 0x80, 0x80, 0x01}},
		{"first packet not connect", modeRaw, p3},
		{"second connect", modeDeviceV3, c3},
		{"v5 connect will", modeRaw, will5},
		{"v5 connect will bogus properties", modeRaw, bogusWillProps},
		{"v5 connect unknown property", modeRaw, func() []byte {
			b := append([]byte(nil), c5...)
			b[12] = 0x02 // properties length: unknown id 0xff, one byte
			b = append(b[:13], append([]byte{0xff, 0x00}, b[13:]...)...)
			b[1] += 2
			return b
		}()},
		{"v3 publish", modeDeviceV3, p3},
		{"v5 publish", modeDeviceV5, p5},
		{"v3 publish truncated", modeDeviceV3, p3[:len(p3)-4]},
		{"v5 publish truncated", modeDeviceV5, p5[:6]},
		{"v3 publish zero-length topic", modeDeviceV3, []byte{0x32, 0x06, 0, 0, 0, 7, 'h', 'i'}},
		{"v5 publish zero-length topic no alias", modeDeviceV5, []byte{0x32, 0x07, 0, 0, 0, 7, 0, 'h', 'i'}},
		{"v5 publish topic alias max", modeDeviceV5, publishPacket(t, 5, "", 0, false, "x", packets.Properties{TopicAlias: 65535, TopicAliasFlag: true})},
		{"v5 publish topic alias set then use", modeDeviceV5, cat(
			publishPacket(t, 5, own, 0, false, "x", packets.Properties{TopicAlias: 1, TopicAliasFlag: true}),
			publishPacket(t, 5, "", 0, false, "y", packets.Properties{TopicAlias: 1, TopicAliasFlag: true}))},
		{"v5 publish topic alias zero", modeDeviceV5, publishPacket(t, 5, own, 0, false, "x", packets.Properties{TopicAlias: 0, TopicAliasFlag: true})},
		{"v5 publish huge property length", modeDeviceV5, func() []byte {
			topic := []byte(own)
			b := []byte{0x30, 0}
			b = append(b, byte(len(topic)>>8), byte(len(topic)))
			b = append(b, topic...)
			b = append(b, 0xff, 0xff, 0xff, 0x7f, 'x')
			b[1] = byte(len(b) - 2)
			return b
		}()},
		{"v5 publish property length past end", modeDeviceV5, func() []byte {
			b := publishPacket(t, 5, own, 0, false, "", packets.Properties{})
			b[len(b)-1] = 0x40
			return b
		}()},
		{"v5 publish subscription identifier", modeDeviceV5, publishPacket(t, 5, own, 0, false, "x", packets.Properties{SubscriptionIdentifier: []int{1}})},
		{"publish qos 3", modeDeviceV3, []byte{0x36, 0x05, 0, 1, 'a', 0, 1}},
		{"publish qos1 packet id 0", modeDeviceV3, []byte{0x32, 0x05, 0, 1, 'a', 0, 0}},
		{"publish wildcard topic", modeDeviceV3, publishPacket(t, 4, "gc/v1/dev/+/up/proofs", 0, false, "x", packets.Properties{})},
		{"publish overlong topic", modeDeviceV3, publishPacket(t, 4, string(bytes.Repeat([]byte("a"), 5000)), 0, false, "x", packets.Properties{})},
		{"publish over max packet size", modeDeviceV3, []byte{0x30, 0x80, 0x80, 0x80, 0x01, 0, 1, 'a'}},
		{"publish retained as controller", modeController, publishPacket(t, 5, protocol.DownTopic(fuzzDev, protocol.TopicDesired), 1, true, "d", packets.Properties{})},
		{"v3 subscribe", modeDeviceV3, s3},
		{"v5 subscribe", modeDeviceV5, s5},
		{"v3 subscribe truncated", modeDeviceV3, s3[:len(s3)-2]},
		{"v5 subscribe truncated", modeDeviceV5, s5[:5]},
		{"v5 subscribe missing options byte (mochi #501)", modeDeviceV5, subscribe501},
		{"subscribe no filters", modeDeviceV3, []byte{0x82, 0x02, 0, 9}},
		{"subscribe zero-length filter", modeDeviceV3, []byte{0x82, 0x05, 0, 9, 0, 0, 1}},
		{"subscribe bad qos", modeDeviceV3, []byte{0x82, 0x06, 0, 9, 0, 1, '#', 3}},
		{"v5 subscribe shared no-local", modeController, func() []byte {
			b := subscribePacket(t, 5, "$share/g/gc/v1/#")
			b[len(b)-1] |= 0x04
			return b
		}()},
		{"controller subscribe everything", modeController, subscribePacket(t, 5, "#")},
		{"unsubscribe empty", modeDeviceV3, []byte{0xa2, 0x02, 0, 1}},
		{"pubrel unknown id", modeDeviceV3, []byte{0x62, 0x02, 0, 5}},
		{"puback unknown id", modeDeviceV5, []byte{0x40, 0x04, 0, 5, 0x80, 0}},
		{"auth v3", modeDeviceV3, []byte{0xf0, 0x00}},
		{"auth v5 garbage", modeDeviceV5, []byte{0xf0, 0x03, 0x18, 0xff, 0xff}},
		{"reserved type 0", modeDeviceV3, []byte{0x00, 0x00}},
		{"connack from client", modeDeviceV3, []byte{0x20, 0x02, 0, 0}},
		{"disconnect v5 with will", modeDeviceV5, []byte{0xe0, 0x01, 0x04}},
		{"disconnect v5 session expiry", modeDeviceV5, []byte{0xe0, 0x07, 0x00, 0x05, 0x11, 0, 0, 0, 9}},
		{"pingreq flood", modeDeviceV3, bytes.Repeat([]byte{0xc0, 0x00}, 500)},
	}
}

// wireTarget is an embedded broker plus an inline subscriber used to prove
// the broker still routes after each case.
type wireTarget struct {
	e      *Embedded
	health chan string
	c3, c5 []byte
	ctl5   []byte
	seq    atomic.Int64
}

func newWireTarget(t testing.TB, e *Embedded) *wireTarget {
	w := &wireTarget{
		e:      e,
		health: make(chan string, 16),
		c3:     connectPacket(t, 4, fuzzDev, fuzzDev, devPass(fuzzDev)),
		c5:     connectPacket(t, 5, fuzzDev, fuzzDev, devPass(fuzzDev)),
		ctl5:   connectPacket(t, 5, "controller:fuzz", ctlUser, ctlPass),
	}
	err := e.Bus().Subscribe(context.Background(), protocol.UpTopic("health", protocol.TopicHello), func(m Message) {
		select {
		case w.health <- string(m.Payload):
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wireCreds() StaticCredentials { return testCreds(fuzzDev, "health") }

// run sends one case and then checks the broker still accepts a fresh
// connection and routes a message.
func (w *wireTarget) run(t testing.TB, mode byte, data []byte) {
	conn, err := net.DialTimeout("tcp", w.e.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var hello []byte
	switch mode % numModes {
	case modeDeviceV3:
		hello = w.c3
	case modeDeviceV5:
		hello = w.c5
	case modeController:
		hello = w.ctl5
	}
	if hello != nil {
		if _, err := conn.Write(hello); err != nil {
			t.Fatalf("write connect: %v", err)
		}
		if err := readConnack(conn); err != nil {
			t.Fatalf("connack: %v", err)
		}
	}
	_, _ = conn.Write(data) // the broker may hang up half-way
	_ = conn.(*net.TCPConn).CloseWrite()
	// The broker must finish with the connection: read until it closes.
	if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("connection not closed by the broker after EOF: %v", err)
	}
	w.checkHealthy(t)
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func readConnack(conn net.Conn) error {
	b := make([]byte, 2)
	if _, err := io.ReadFull(conn, b); err != nil {
		return err
	}
	if b[0] != 0x20 {
		return fmt.Errorf("got packet type %#x, want CONNACK", b[0])
	}
	rest := make([]byte, b[1])
	if _, err := io.ReadFull(conn, rest); err != nil {
		return err
	}
	if len(rest) < 2 || rest[1] != 0 {
		return fmt.Errorf("connection refused: % x", rest)
	}
	return nil
}

func (w *wireTarget) checkHealthy(t testing.TB) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", w.e.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("broker no longer accepts connections: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(connectPacket(t, 4, "health", "health", devPass("health"))); err != nil {
		t.Fatal(err)
	}
	if err := readConnack(conn); err != nil {
		t.Fatalf("broker no longer accepts a valid device: %v", err)
	}
	if _, err := conn.Write([]byte{0xc0, 0}); err != nil {
		t.Fatal(err)
	}
	pong := make([]byte, 2)
	if _, err := io.ReadFull(conn, pong); err != nil || pong[0] != 0xd0 || pong[1] != 0 {
		t.Fatalf("broker no longer answers PINGREQ: % x, %v", pong, err)
	}
	nonce := fmt.Sprintf("alive-%d", w.seq.Add(1))
	if _, err := conn.Write(cat(publishPacket(t, 4, protocol.UpTopic("health", protocol.TopicHello), 0, false, nonce, packets.Properties{}), []byte{0xe0, 0})); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-w.health:
			if got == nonce {
				return
			}
		case <-timeout:
			t.Fatal("broker no longer routes messages")
		}
	}
}

func TestMalformedPackets(t *testing.T) {
	e := startBroker(t, Options{}, wireCreds())
	w := newWireTarget(t, e)
	for _, tc := range wireCases(t) {
		t.Run(tc.name, func(t *testing.T) { w.run(t, tc.mode, tc.data) })
	}
}

var shared struct {
	once   sync.Once
	w      *wireTarget
	cancel context.CancelFunc
	done   chan error
}

// sharedTarget starts one broker per process for the fuzz target (and
// stops it in TestMain, before the leak check).
func sharedTarget(t testing.TB) *wireTarget {
	shared.once.Do(func() {
		e, err := New(Options{Addr: "127.0.0.1:0"}, wireCreds(), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		shared.cancel, shared.done = cancel, make(chan error, 1)
		go func() { shared.done <- e.Run(ctx) }()
		shared.w = newWireTarget(t, e)
	})
	if shared.w == nil {
		t.Fatal("shared broker did not start")
	}
	return shared.w
}

func stopSharedBroker() {
	if shared.cancel != nil {
		shared.cancel()
		<-shared.done
	}
}

func FuzzBrokerPackets(f *testing.F) {
	for _, tc := range wireCases(f) {
		f.Add(tc.mode, tc.data)
	}
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		sharedTarget(t).run(t, mode, data)
	})
}
