package broker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Builders for raw packets: tests here need bytes mochi's encoder would
// never produce.

// vbi is an MQTT variable byte integer.
func vbi(n int) []byte {
	var out []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			return out
		}
	}
}

// pkt wraps body in a well-formed fixed header.
func pkt(h byte, body ...[]byte) []byte {
	bd := bytes.Join(body, nil)
	return cat([]byte{h}, vbi(len(bd)), bd)
}

// str is a two-byte-length-prefixed string or binary field.
func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// u16 is a two-byte integer.
func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// props is a v5 property list: its varint length, then the properties.
func props(ps ...[]byte) []byte {
	bd := bytes.Join(ps, nil)
	return append(vbi(len(bd)), bd...)
}

func b(bs ...byte) []byte { return bs }

// connectBody is a CONNECT body; flags are computed from what is given.
type connectBody struct {
	name        string
	level       byte
	flags       byte // extra flag bits (reserved, will QoS/retain)
	props       []byte
	id          string
	will        bool
	willProps   []byte
	willTopic   string
	willPayload string
	user, pass  *string
	trailing    []byte
}

func (c connectBody) bytes() []byte {
	if c.name == "" {
		c.name = "MQTT"
	}
	if c.level == 0 {
		c.level = 4
	}
	flags := c.flags | 0x02
	if c.will {
		flags |= 0x04
	}
	if c.user != nil {
		flags |= 0x80
	}
	if c.pass != nil {
		flags |= 0x40
	}
	out := cat(str(c.name), b(c.level, flags), u16(30))
	if c.level == 5 {
		if c.props == nil {
			c.props = props()
		}
		out = append(out, c.props...)
	}
	out = append(out, str(c.id)...)
	if c.will {
		if c.level == 5 {
			if c.willProps == nil {
				c.willProps = props()
			}
			out = append(out, c.willProps...)
		}
		out = cat(out, str(c.willTopic), str(c.willPayload))
	}
	if c.user != nil {
		out = append(out, str(*c.user)...)
	}
	if c.pass != nil {
		out = append(out, str(*c.pass)...)
	}
	return append(out, c.trailing...)
}

func sp(s string) *string { return &s }

func TestGuardPackets(t *testing.T) {
	user, pass := sp("dev-1"), sp("secret")
	userProp := cat(b(0x26), str("k"), str("v"))
	tests := []struct {
		name    string
		version byte // of the connection before the packet; 0: no CONNECT yet
		data    []byte
		want    string // "" = accepted; else a substring of the error
	}{
		// CONNECT
		{"v3 connect", 0, pkt(0x10, connectBody{id: "dev-1", user: user, pass: pass}.bytes()), ""},
		{"v3.1 connect", 0, pkt(0x10, connectBody{name: "MQIsdp", level: 3, id: "dev-1"}.bytes()), ""},
		{"v5 connect", 0, pkt(0x10, connectBody{level: 5, id: "dev-1", user: user, pass: pass}.bytes()), ""},
		{"v5 connect props", 0, pkt(0x10, connectBody{level: 5, id: "d", props: props(b(0x11, 0, 0, 0, 9), b(0x21, 0, 5), userProp)}.bytes()), ""},
		{"v3 connect will", 0, pkt(0x10, connectBody{id: "d", will: true, flags: 0x08 | 0x20, willTopic: "a/b", willPayload: "x"}.bytes()), ""},
		{"v5 connect will props", 0, pkt(0x10, connectBody{level: 5, id: "d", will: true, willProps: props(b(0x18, 0, 0, 0, 1), userProp), willTopic: "a", willPayload: "x", user: user, pass: pass}.bytes()), ""},
		{"v5 password without user", 0, pkt(0x10, connectBody{level: 5, id: "d", pass: pass}.bytes()), ""},
		{"v3 password without user", 0, pkt(0x10, connectBody{id: "d", pass: pass}.bytes()), "password without user name"},
		{"connect flags in header", 0, pkt(0x12, connectBody{id: "d"}.bytes()), "CONNECT flags"},
		{"connect reserved bit", 0, pkt(0x10, connectBody{id: "d", flags: 0x01}.bytes()), "reserved flag"},
		{"connect will qos without will", 0, pkt(0x10, connectBody{id: "d", flags: 0x08}.bytes()), "without a will"},
		{"connect will retain without will", 0, pkt(0x10, connectBody{id: "d", flags: 0x20}.bytes()), "without a will"},
		{"connect will qos 3", 0, pkt(0x10, connectBody{id: "d", will: true, flags: 0x18, willTopic: "a", willPayload: "x"}.bytes()), "will QoS 3"},
		{"connect will wildcard topic", 0, pkt(0x10, connectBody{id: "d", will: true, willTopic: "a/#", willPayload: "x"}.bytes()), "wildcard"},
		{"connect will flag, no will", 0, pkt(0x10, cat(str("MQTT"), b(4, 0x06), u16(30), str("d"))), "will topic"},
		{"connect user flag, no user", 0, pkt(0x10, cat(str("MQTT"), b(4, 0x82), u16(30), str("d"))), "user name"},
		{"connect password flag, no password", 0, pkt(0x10, cat(str("MQTT"), b(4, 0xc2), u16(30), str("d"), str("u"))), "password"},
		{"connect password cut", 0, pkt(0x10, cat(str("MQTT"), b(4, 0xc2), u16(30), str("d"), str("u"), b(0, 9, 's'))), "password"},
		{"connect trailing bytes", 0, pkt(0x10, connectBody{id: "d", trailing: b(0)}.bytes()), "after the CONNECT payload"},
		{"connect client id past end", 0, pkt(0x10, cat(str("MQTT"), b(4, 0x02), u16(30), b(0, 5, 'a'))), "client identifier"},
		{"connect client id not utf-8", 0, pkt(0x10, connectBody{id: "\xff"}.bytes()), "UTF-8"},
		{"connect client id nul", 0, pkt(0x10, connectBody{id: "a\x00"}.bytes()), "U+0000"},
		{"connect bad name", 0, pkt(0x10, connectBody{name: "MQTX", id: "d"}.bytes()), "unsupported protocol"},
		{"connect bad level", 0, pkt(0x10, connectBody{level: 6, id: "d"}.bytes()), "unsupported protocol"},
		{"connect MQIsdp level 4", 0, pkt(0x10, connectBody{name: "MQIsdp", level: 4, id: "d"}.bytes()), "unsupported protocol"},
		{"connect name only", 0, pkt(0x10, str("MQTT")), "protocol level missing"},
		{"connect empty", 0, pkt(0x10), "protocol name"},
		{"v5 connect props past end", 0, pkt(0x10, cat(str("MQTT"), b(5, 0x02), u16(30), b(9, 0x11, 0))), "run past the end"},
		{"v5 connect props value cut", 0, pkt(0x10, connectBody{level: 5, id: "d", props: b(2, 0x11, 0)}.bytes()), "property value missing"},
		{"v5 connect publish-only prop", 0, pkt(0x10, connectBody{level: 5, id: "d", props: props(b(0x23, 0, 1))}.bytes()), "not allowed"},
		{"v5 connect unknown prop", 0, pkt(0x10, connectBody{level: 5, id: "d", props: props(b(0xff, 0))}.bytes()), "not allowed"},
		{"v5 connect repeated prop", 0, pkt(0x10, connectBody{level: 5, id: "d", props: props(b(0x21, 0, 5), b(0x21, 0, 5))}.bytes()), "repeated"},
		{"v5 connect receive max 0", 0, pkt(0x10, connectBody{level: 5, id: "d", props: props(b(0x21, 0, 0))}.bytes()), "zero"},
		{"v5 connect problem info 2", 0, pkt(0x10, connectBody{level: 5, id: "d", props: props(b(0x17, 2))}.bytes()), "value 2"},
		{"v5 will props past end", 0, pkt(0x10, connectBody{level: 5, id: "d", will: true, willProps: b(40), willTopic: "a", willPayload: "x"}.bytes()), "run past the end"},
		{"v5 will connect-only prop", 0, pkt(0x10, connectBody{level: 5, id: "d", will: true, willProps: props(b(0x21, 0, 1)), willTopic: "a", willPayload: "x"}.bytes()), "not allowed"},
		{"second connect", 4, pkt(0x10, connectBody{id: "d", user: user, pass: pass}.bytes()), "second CONNECT"},
		{"second connect v5", 5, pkt(0x10, connectBody{level: 5, id: "d"}.bytes()), "second CONNECT"},

		// before CONNECT
		{"publish first", 0, pkt(0x30, str("a"), []byte("x")), "before CONNECT"},
		{"pingreq first", 0, pkt(0xc0), "before CONNECT"},
		{"reserved first", 0, pkt(0x00), "before CONNECT"},

		// PUBLISH
		{"v3 publish qos0", 4, pkt(0x30, str("a/b"), []byte("payload")), ""},
		{"v3 publish qos1 retain dup", 4, pkt(0x3b, str("a/b"), u16(7), []byte("payload")), ""},
		{"v3 publish empty payload", 4, pkt(0x30, str("a")), ""},
		{"v5 publish", 5, pkt(0x32, str("a/b"), u16(7), props(), []byte("p")), ""},
		{"v5 publish props", 5, pkt(0x30, str("a"), props(b(0x01, 1), b(0x02, 0, 0, 0, 60), cat(b(0x03), str("text/plain")), cat(b(0x08), str("r")), cat(b(0x09), str("c")), userProp, userProp), []byte("p")), ""},
		{"v5 publish alias only", 5, pkt(0x30, str(""), props(b(0x23, 0, 1)), []byte("p")), ""},
		{"v5 publish no props length", 5, pkt(0x30, str("a")), "properties length"},
		{"v5 publish props past end", 5, pkt(0x30, str("a"), b(0x40)), "run past the end"},
		{"v5 publish prop value past props", 5, pkt(0x30, str("a"), b(2, 0x02, 0, 0, 0, 0)), "property value missing"},
		{"v5 publish huge props length", 5, pkt(0x30, str("a"), b(0xff, 0xff, 0xff, 0x7f)), "run past the end"},
		{"v5 publish props length 5 bytes", 5, pkt(0x30, str("a"), b(0xff, 0xff, 0xff, 0xff, 0x7f)), "longer than 4 bytes"},
		{"v5 publish props length padded", 5, pkt(0x30, str("a"), b(0x80, 0x00)), "shortest form"},
		{"v5 publish sub id", 5, pkt(0x30, str("a"), props(b(0x0b, 1)), []byte("p")), "not allowed"},
		{"v5 publish alias 0", 5, pkt(0x30, str("a"), props(b(0x23, 0, 0))), "zero"},
		{"v5 publish payload format 2", 5, pkt(0x30, str("a"), props(b(0x01, 2))), "value 2"},
		{"v5 publish empty topic no alias", 5, pkt(0x30, str(""), props(), []byte("p")), "empty topic"},
		{"v3 publish empty topic", 4, pkt(0x30, str(""), []byte("p")), "empty topic"},
		{"publish wildcard", 4, pkt(0x30, str("a/+"), []byte("p")), "wildcard"},
		{"publish qos 3", 4, pkt(0x36, str("a"), u16(1)), "QoS 3"},
		{"publish dup qos 0", 4, pkt(0x38, str("a")), "DUP with QoS 0"},
		{"publish qos1 no id", 4, pkt(0x32, str("a")), "packet identifier missing"},
		{"publish qos1 id 0", 4, pkt(0x32, str("a"), u16(0)), "identifier 0"},
		{"publish topic past end", 4, pkt(0x30, b(0, 9, 'a')), "runs past the end"},
		{"publish topic length cut", 4, pkt(0x30, b(0)), "topic name length missing"},
		{"publish empty body", 4, pkt(0x30), "topic name length missing"},

		// PUBACK, PUBREC, PUBREL, PUBCOMP
		{"v3 puback", 4, pkt(0x40, u16(1)), ""},
		{"v3 pubrec", 4, pkt(0x50, u16(1)), ""},
		{"v3 pubrel", 4, pkt(0x62, u16(1)), ""},
		{"v3 pubcomp", 4, pkt(0x70, u16(1)), ""},
		{"v3 puback reason", 4, pkt(0x40, u16(1), b(0)), "1 bytes after"},
		{"v3 puback short", 4, pkt(0x40, b(1)), "identifier missing"},
		{"puback id 0", 4, pkt(0x40, u16(0)), "identifier 0"},
		{"puback flags", 4, pkt(0x42, u16(1)), "flags"},
		{"pubrel flags 0", 4, pkt(0x60, u16(1)), "flags"},
		{"v5 puback bare", 5, pkt(0x40, u16(1)), ""},
		{"v5 puback reason", 5, pkt(0x40, u16(1), b(0x10)), ""},
		{"v5 puback reason props", 5, pkt(0x40, u16(1), b(0x80), props(cat(b(0x1f), str("why")), userProp)), ""},
		{"v5 pubrec reason empty props", 5, pkt(0x50, u16(1), b(0), props()), ""},
		{"v5 pubrel props", 5, pkt(0x62, u16(1), b(0x92), props(userProp)), ""},
		{"v5 pubcomp props past end", 5, pkt(0x70, u16(1), b(0, 5, 0x1f)), "run past the end"},
		{"v5 puback bad prop", 5, pkt(0x40, u16(1), b(0), props(b(0x01, 1))), "not allowed"},

		// SUBSCRIBE
		{"v3 subscribe", 4, pkt(0x82, u16(9), str("a/#"), b(1)), ""},
		{"v3 subscribe three", 4, pkt(0x82, u16(9), str("a"), b(0), str("b/+"), b(1), str("c"), b(2)), ""},
		{"v5 subscribe", 5, pkt(0x82, u16(9), props(), str("a"), b(0x2d)), ""},
		{"v5 subscribe sub id", 5, pkt(0x82, u16(9), props(b(0x0b, 0x80, 0x01), userProp), str("a"), b(1), str("b"), b(0)), ""},
		{"v5 subscribe last options byte missing (mochi #501)", 5, b(0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'), "subscription options missing"},
		{"v5 subscribe second options byte missing", 5, pkt(0x82, u16(9), props(), str("a"), b(0), str("b")), "subscription options missing"},
		{"v3 subscribe options byte missing", 4, pkt(0x82, u16(9), str("a")), "subscription options missing"},
		{"subscribe flags 0", 4, pkt(0x80, u16(9), str("a"), b(1)), "SUBSCRIBE flags"},
		{"subscribe flags 3", 4, pkt(0x83, u16(9), str("a"), b(1)), "SUBSCRIBE flags"},
		{"subscribe no filters", 4, pkt(0x82, u16(9)), "without a filter"},
		{"v5 subscribe no filters", 5, pkt(0x82, u16(9), props()), "without a filter"},
		{"subscribe no packet id", 4, pkt(0x82, b(9)), "identifier missing"},
		{"subscribe packet id 0", 4, pkt(0x82, u16(0), str("a"), b(1)), "identifier 0"},
		{"subscribe empty filter", 4, pkt(0x82, u16(9), str(""), b(1)), "empty topic filter"},
		{"subscribe filter past end", 4, pkt(0x82, u16(9), b(0, 4, 'a', 1)), "runs past the end"},
		{"subscribe filter length cut", 4, pkt(0x82, u16(9), str("a"), b(1, 0)), "length missing"},
		{"v3 subscribe qos 3", 4, pkt(0x82, u16(9), str("a"), b(3)), "subscription options"},
		{"v3 subscribe v5 option bits", 4, pkt(0x82, u16(9), str("a"), b(0x05)), "subscription options"},
		{"v5 subscribe reserved bits", 5, pkt(0x82, u16(9), props(), str("a"), b(0x41)), "subscription options"},
		{"v5 subscribe retain handling 3", 5, pkt(0x82, u16(9), props(), str("a"), b(0x30)), "retain handling"},
		{"v5 subscribe props past end", 5, pkt(0x82, u16(9), b(0x10), str("a"), b(0)), "run past the end"},
		{"v5 subscribe sub id 0", 5, pkt(0x82, u16(9), props(b(0x0b, 0)), str("a"), b(0)), "zero"},
		{"v5 subscribe sub id cut", 5, pkt(0x82, u16(9), b(2, 0x0b, 0x80), str("a"), b(0)), "runs past the end"},
		{"v5 subscribe no props length", 5, pkt(0x82, u16(9)), "properties length"},

		// UNSUBSCRIBE
		{"v3 unsubscribe", 4, pkt(0xa2, u16(9), str("a")), ""},
		{"v5 unsubscribe three", 5, pkt(0xa2, u16(9), props(userProp), str("a"), str("b"), str("c/#")), ""},
		{"unsubscribe flags", 4, pkt(0xa0, u16(9), str("a")), "UNSUBSCRIBE flags"},
		{"unsubscribe no filter", 4, pkt(0xa2, u16(9)), "without a filter"},
		{"unsubscribe filter cut", 4, pkt(0xa2, u16(9), str("ab")[:3]), "runs past the end"},
		{"unsubscribe empty filter", 4, pkt(0xa2, u16(9), str("")), "empty topic filter"},
		{"v5 unsubscribe sub id", 5, pkt(0xa2, u16(9), props(b(0x0b, 1)), str("a")), "not allowed"},

		// PINGREQ, DISCONNECT, AUTH, reserved and server-only types
		{"pingreq", 4, pkt(0xc0), ""},
		{"pingreq body", 4, pkt(0xc0, b(0)), "PINGREQ with a 1 byte body"},
		{"pingreq flags", 5, pkt(0xc1), "PINGREQ flags"},
		{"v3 disconnect", 4, pkt(0xe0), ""},
		{"v3 disconnect body", 4, pkt(0xe0, b(0)), "DISCONNECT with a 1 byte body"},
		{"disconnect flags", 4, pkt(0xe8), "DISCONNECT flags"},
		{"v5 disconnect", 5, pkt(0xe0), ""},
		{"v5 disconnect reason", 5, pkt(0xe0, b(0x04)), ""},
		{"v5 disconnect props", 5, pkt(0xe0, b(0), props(b(0x11, 0, 0, 0, 9), cat(b(0x1f), str("bye")))), ""},
		{"v5 disconnect props past end", 5, pkt(0xe0, b(0, 7, 0x11)), "run past the end"},
		{"v5 disconnect trailing", 5, pkt(0xe0, b(0), props(), b(1)), "bytes after"},
		{"v5 auth", 5, pkt(0xf0, b(0x18), props(cat(b(0x15), str("SCRAM")), cat(b(0x16), str("data")))), ""},
		{"v5 auth empty", 5, pkt(0xf0), ""},
		{"v5 auth garbage", 5, pkt(0xf0, b(0x18, 0xff, 0xff)), "properties length runs past the end"},
		{"v5 auth flags", 5, pkt(0xf1), "AUTH flags"},
		{"v5 auth bad prop", 5, pkt(0xf0, b(0x18), props(b(0x11, 0, 0, 0, 1))), "not allowed"},
		{"v3 auth", 4, pkt(0xf0), "AUTH) before MQTT 5"},
		{"reserved 0", 4, pkt(0x00), "type 0 not accepted"},
		{"reserved 0 v5", 5, pkt(0x00), "type 0 not accepted"},
		{"connack from client", 4, pkt(0x20, b(0, 0)), "type 2 not accepted"},
		{"suback from client", 5, pkt(0x90, u16(1), b(0)), "type 9 not accepted"},
		{"unsuback from client", 5, pkt(0xb0, u16(1)), "type 11 not accepted"},
		{"pingresp from client", 4, pkt(0xd0), "type 13 not accepted"},

		// framing
		{"remaining length 5 bytes", 4, b(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f), "longer than 4 bytes"},
		{"remaining length padded", 4, b(0xc0, 0x80, 0x00), "shortest form"},
		{"over max packet", 4, b(0x30, 0x80, 0x80, 0x04), "over the"},
		{"max remaining length", 4, b(0x30, 0xff, 0xff, 0xff, 0x7f), "over the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := packetGuard{maxPacket: 1 << 16, version: tt.version}
			n, err := g.next(tt.data)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && n != len(tt.data):
				t.Fatalf("passed %d of %d bytes", n, len(tt.data))
			case tt.want != "" && err == nil:
				t.Fatalf("passed (n=%d), want error containing %q", n, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			case err != nil && !errors.Is(err, errMalformed):
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			if err == nil {
				if derr := mochiDecode(g.version, tt.data); derr != nil {
					t.Errorf("guard passed a packet mochi refuses: %v", derr)
				}
			}
			if err == nil && tt.version == 0 && g.version == 0 {
				t.Error("CONNECT did not set the protocol version")
			}
		})
	}
}

// TestGuardStream checks framing across reads: a packet is passed only
// when all of it is there, and partial headers wait for more bytes.
func TestGuardStream(t *testing.T) {
	conn := pkt(0x10, connectBody{level: 5, id: "d"}.bytes())
	big := pkt(0x30, str("a"), props(), bytes.Repeat([]byte("x"), 300)) // two-byte remaining length
	stream := cat(conn, big, pkt(0xc0), pkt(0xe0))
	g := packetGuard{maxPacket: 1 << 16}
	var sizes []int
	for start, end := 0, 0; end <= len(stream); end++ {
		n, err := g.next(stream[start:end])
		if err != nil {
			t.Fatalf("at %d: %v", end, err)
		}
		if n > 0 {
			if n != end-start {
				t.Fatalf("passed %d bytes of %d", n, end-start)
			}
			sizes = append(sizes, n)
			start = end
		}
	}
	want := []int{len(conn), len(big), 2, 2}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("packet sizes %v, want %v", sizes, want)
	}
	if g.version != 5 {
		t.Fatalf("version %d, want 5", g.version)
	}
	// A refusal on the header comes before the body arrives.
	g = packetGuard{maxPacket: 100, version: 4}
	if _, err := g.next(b(0x30, 0xe8, 0x07)); err == nil {
		t.Fatal("over-size packet not refused on its header")
	}
	g = packetGuard{maxPacket: 100, version: 4}
	if _, err := g.next(b(0x10, 0x05)); err == nil || !strings.Contains(err.Error(), "second CONNECT") {
		t.Fatalf("second CONNECT not refused on its header: %v", err)
	}
}

// mochiDecode decodes one whole packet the way mochi v2.7.9's
// Client.ReadPacket does, for a connection at version (the CONNECT sets
// its own). A panic inside mochi is returned as an error.
func mochiDecode(version byte, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mochi panicked: %v", r)
		}
	}()
	var pk packets.Packet
	if err := pk.FixedHeader.Decode(data[0]); err != nil {
		return fmt.Errorf("fixed header: %w", err)
	}
	rl, n, err := packets.DecodeLength(bytes.NewReader(data[1:]))
	if err != nil {
		return fmt.Errorf("remaining length: %w", err)
	}
	pk.FixedHeader.Remaining = rl
	pk.ProtocolVersion = version
	body := append([]byte(nil), data[1+n:]...)
	if len(body) != rl {
		return fmt.Errorf("body is %d bytes, header says %d", len(body), rl)
	}
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(body)
		if err == nil {
			if code := pk.ConnectValidate(); code != packets.CodeSuccess {
				err = code
			}
		}
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case packets.Pingreq:
	case packets.Auth:
		if len(body) > 1 { // mochi cannot decode a bare reason code; see checkAuth
			err = pk.AuthDecode(body)
		}
	default:
		err = fmt.Errorf("type %d", pk.FixedHeader.Type)
	}
	return err
}

// FuzzGuard feeds arbitrary streams to the guard alone. Every packet it
// passes must decode in mochi without a panic (or an error: the guard is
// meant to be at least as strict as mochi's decoder).
func FuzzGuard(f *testing.F) {
	for _, tc := range wireCases(f) {
		version := byte(0)
		switch tc.mode {
		case modeDeviceV3:
			version = 4
		case modeDeviceV5, modeController:
			version = 5
		}
		f.Add(version, tc.data)
	}
	for _, c := range structuredCases() {
		v := byte(4)
		if c.v5 {
			v = 5
		}
		if c.first {
			v = 0
		}
		f.Add(v, pkt(c.h, c.body))
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		g := packetGuard{maxPacket: 1 << 16, version: []byte{0, 3, 4, 5}[version%4]}
		for len(data) > 0 {
			before := g.version
			n, err := g.next(data)
			if err != nil {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("error %v does not wrap errMalformed", err)
				}
				return
			}
			if n == 0 {
				return
			}
			v := before
			if v == 0 {
				v = g.version
			}
			if err := mochiDecode(v, data[:n]); err != nil {
				t.Fatalf("guard passed % x (version %d) that mochi refuses: %v", data[:n], v, err)
			}
			data = data[n:]
		}
	})
}
