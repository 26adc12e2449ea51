package broker

import (
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

// A structuredCase is one well-formed packet the structure-aware fuzz
// target cuts and mutates; the fuzz target always rebuilds a well-formed
// fixed header around what is left of the body, which is what the
// length-level fuzzing in FuzzBrokerPackets never did (and so never found
// mochi issue #501).
type structuredCase struct {
	name  string
	v5    bool // sent on a v5 connection (or is a v5 CONNECT)
	first bool // a CONNECT: sent as the first packet
	h     byte // first fixed header byte
	body  []byte
	bad   bool // invalid even uncut: the guard must refuse it
}

func structuredCases() []structuredCase {
	user, pass := sp(fuzzDev), sp(devPass(fuzzDev))
	status := protocol.UpTopic(fuzzDev, protocol.TopicStatus)
	proofs := protocol.UpTopic(fuzzDev, protocol.TopicProofs)
	down := protocol.DownFilter(fuzzDev)
	userProp := cat(b(0x26), str("k"), str("v"))
	connect := func(name string, v5 bool, c connectBody) structuredCase {
		c.id = fuzzDev
		if v5 {
			c.level = 5
		}
		return structuredCase{name: name, v5: v5, first: true, h: 0x10, body: c.bytes()}
	}
	return []structuredCase{
		connect("v3 connect creds", false, connectBody{user: user, pass: pass}),
		connect("v3 connect no creds", false, connectBody{}),
		connect("v3 connect will creds", false, connectBody{will: true, flags: 0x08, willTopic: status, willPayload: "offline", user: user, pass: pass}),
		connect("v3 connect will retain no creds", false, connectBody{will: true, flags: 0x28, willTopic: status, willPayload: "offline"}),
		connect("v5 connect creds", true, connectBody{user: user, pass: pass}),
		connect("v5 connect props creds", true, connectBody{props: props(b(0x11, 0, 0, 0, 60), b(0x21, 0, 10), b(0x27, 0, 0, 1, 0), userProp), user: user, pass: pass}),
		connect("v5 connect no creds", true, connectBody{}),
		connect("v5 connect will creds", true, connectBody{will: true, flags: 0x08, willProps: props(b(0x18, 0, 0, 0, 1), b(0x01, 1), userProp), willTopic: status, willPayload: "offline", user: user, pass: pass}),
		connect("v5 connect will auth", true, connectBody{props: props(cat(b(0x15), str("SCRAM")), cat(b(0x16), str("x"))), will: true, willProps: props(), willTopic: status, willPayload: "offline", user: user, pass: pass}),

		{"v3 publish qos0", false, false, 0x30, cat(str(proofs), []byte("proof")), false},
		{"v3 publish qos1", false, false, 0x32, cat(str(proofs), u16(7), []byte("proof")), false},
		{"v3 publish retain status", false, false, 0x31, cat(str(status), []byte("online")), false},
		{"v5 publish no props", true, false, 0x32, cat(str(proofs), u16(7), props(), []byte("proof")), false},
		{"v5 publish props", true, false, 0x32, cat(str(proofs), u16(7), props(b(0x01, 1), b(0x02, 0, 0, 0, 60), cat(b(0x03), str("application/json")), cat(b(0x09), str("corr")), userProp), []byte(`{"v":1}`)), false},
		{"v5 publish alias", true, false, 0x30, cat(str(proofs), props(b(0x23, 0, 1)), []byte("x")), false},

		{"v3 subscribe 1", false, false, 0x82, cat(u16(9), str(down), b(1)), false},
		{"v3 subscribe 2", false, false, 0x82, cat(u16(9), str(down), b(1), str(protocol.DownTopic(fuzzDev, protocol.TopicDesired)), b(0)), false},
		{"v3 subscribe 3", false, false, 0x82, cat(u16(9), str(down), b(1), str("a"), b(0), str("b/#"), b(2)), false},
		{"v5 subscribe 1", true, false, 0x82, cat(u16(9), props(), str(down), b(0x01)), false},
		{"v5 subscribe 2 props", true, false, 0x82, cat(u16(9), props(b(0x0b, 5), userProp), str(down), b(0x2d), str(protocol.DownTopic(fuzzDev, protocol.TopicDesired)), b(0x04)), false},
		{"v5 subscribe 3", true, false, 0x82, cat(u16(9), props(userProp), str(down), b(1), str("a"), b(0x08), str("b/+"), b(0x10)), false},

		{"v3 unsubscribe 1", false, false, 0xa2, cat(u16(9), str(down)), false},
		{"v3 unsubscribe 3", false, false, 0xa2, cat(u16(9), str(down), str("a"), str("b/#")), false},
		{"v5 unsubscribe 1", true, false, 0xa2, cat(u16(9), props(), str(down)), false},
		{"v5 unsubscribe 3 props", true, false, 0xa2, cat(u16(9), props(userProp), str(down), str("a"), str("b/#")), false},

		{"v3 puback", false, false, 0x40, u16(1), false},
		{"v3 pubrel", false, false, 0x62, u16(1), false},
		{"v5 puback reason props", true, false, 0x40, cat(u16(1), b(0x10), props(cat(b(0x1f), str("why")), userProp)), false},
		{"v5 pubrec reason", true, false, 0x50, cat(u16(1), b(0x80)), false},
		{"v5 pubrel props", true, false, 0x62, cat(u16(1), b(0x92), props(userProp)), false},
		{"v5 pubcomp props", true, false, 0x70, cat(u16(1), b(0), props(cat(b(0x1f), str("ok")))), false},

		{"v5 auth", true, false, 0xf0, cat(b(0x18), props(cat(b(0x15), str("SCRAM")), cat(b(0x16), str("data")), cat(b(0x1f), str("r")))), false},
		{"v3 auth", false, false, 0xf0, nil, true},
		{"v3 pingreq body", false, false, 0xc0, b(0), true},
		{"v5 pingreq body", true, false, 0xc0, b(0, 0), true},
		{"v3 disconnect body", false, false, 0xe0, b(0), true},
		{"v5 disconnect props", true, false, 0xe0, cat(b(0x04), props(b(0x11, 0, 0, 0, 5), cat(b(0x1f), str("bye")), userProp)), false},
		{"v3 reserved 0", false, false, 0x00, b(0, 1), true},
		{"v5 reserved 0", true, false, 0x00, nil, true},
		{"v3 connack", false, false, 0x20, b(0, 0), true},
		{"v5 suback", true, false, 0x90, cat(u16(9), props(), b(0)), true},
		{"v5 unsuback", true, false, 0xb0, cat(u16(9), props(), b(0)), true},
		{"v3 pingresp", false, false, 0xd0, nil, true},
	}
}

// structuredInput builds the bytes one fuzz input stands for: case c's
// body cut to cut bytes, one byte xor-ed with val, header byte xor-ed
// with hdr, always in a well-formed fixed header.
func structuredInput(c structuredCase, cut, pos uint16, val, hdr byte) []byte {
	body := append([]byte(nil), c.body...)
	body = body[:int(cut)%(len(body)+1)]
	if val != 0 && len(body) > 0 {
		body[int(pos)%len(body)] ^= val
	}
	return pkt(c.h^hdr, body)
}

// structuredMode picks what is sent before the input: before=true sends it
// on a fresh connection (a CONNECT case as the first packet, anything else
// as a packet before CONNECT); otherwise it follows a valid CONNECT as
// device fuzzDev (or the controller) at the case's protocol version.
func structuredMode(c structuredCase, before bool, controller bool) byte {
	switch {
	case before:
		return modeRaw
	case !c.v5:
		return modeDeviceV3
	case controller:
		return modeController
	default:
		return modeDeviceV5
	}
}

// TestStructuredCutsGuard cuts every field of every case at every byte and
// checks, fast and without a network, that whatever the guard passes
// decodes in mochi.
func TestStructuredCutsGuard(t *testing.T) {
	for _, c := range structuredCases() {
		for cut := 0; cut <= len(c.body); cut++ {
			data := structuredInput(c, uint16(cut), 0, 0, 0)
			for _, version := range []byte{0, 4, 5} {
				g := packetGuard{maxPacket: 1 << 16, version: version}
				n, err := g.next(data)
				if err != nil || n == 0 {
					continue
				}
				v := version
				if v == 0 {
					v = g.version
				}
				if err := mochiDecode(v, data); err != nil {
					t.Errorf("%s cut at %d, version %d: guard passed what mochi refuses: %v", c.name, cut, version, err)
				}
			}
		}
		// The uncut case itself must pass on its own connection kind.
		g := packetGuard{maxPacket: 1 << 16, version: 4}
		switch {
		case c.first:
			g.version = 0
		case c.v5:
			g.version = 5
		}
		_, err := g.next(pkt(c.h, c.body))
		if !c.bad && err != nil {
			t.Errorf("%s: guard refuses the uncut case: %v", c.name, err)
		}
		if c.bad && err == nil {
			t.Errorf("%s: guard passes an invalid case", c.name)
		}
	}
}

// TestStructuredCutsBroker sends every cut of every case to a real broker,
// before and after a valid CONNECT, and checks after each that a fresh
// client can still connect, ping and publish.
func TestStructuredCutsBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of connections")
	}
	e := startBroker(t, Options{}, wireCreds())
	w := newWireTarget(t, e)
	for _, c := range structuredCases() {
		t.Run(c.name, func(t *testing.T) {
			for cut := 0; cut <= len(c.body); cut++ {
				data := structuredInput(c, uint16(cut), 0, 0, 0)
				w.run(t, structuredMode(c, true, false), data)
				w.run(t, structuredMode(c, false, cut%2 == 1), data)
			}
		})
	}
}

// FuzzBrokerStructured is the structure-aware fuzz target: it cuts and
// mutates the body of a well-formed packet of every type, keeps the fixed
// header well formed around it, and sends it to a real broker before or
// after a valid CONNECT with real device credentials.
func FuzzBrokerStructured(f *testing.F) {
	cases := structuredCases()
	for i, c := range cases {
		for _, cut := range []int{0, 1, 2, len(c.body) / 2, len(c.body) - 1, len(c.body)} {
			if cut < 0 {
				continue
			}
			f.Add(uint8(i), uint8(0), uint16(cut), uint16(0), byte(0), byte(0))
			f.Add(uint8(i), uint8(1), uint16(cut), uint16(0), byte(0), byte(0))
		}
		f.Add(uint8(i), uint8(1), uint16(len(c.body)), uint16(0), byte(0), byte(0x0f)) // every flag bit flipped
		f.Add(uint8(i), uint8(1), uint16(len(c.body)), uint16(len(c.body)/2), byte(0xff), byte(0))
	}
	f.Fuzz(func(t *testing.T, kind, mode uint8, cut, pos uint16, val, hdr byte) {
		c := cases[int(kind)%len(cases)]
		data := structuredInput(c, cut, pos, val, hdr)
		sharedTarget(t).run(t, structuredMode(c, mode&1 == 0, mode&2 != 0), data)
	})
}
