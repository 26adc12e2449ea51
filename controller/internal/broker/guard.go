package broker

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The guard checks MQTT framing and the body structure of every packet a
// client sends before mochi's decoder sees it. mochi v2.7.9 trusts lengths
// inside a body (upstream issue #501: a v5 SUBSCRIBE whose last filter has
// no options byte indexes past the end and panics, taking the whole
// controller down), so anything the guard passes must be structurally
// complete: every length-prefixed field and property inside its body, no
// bytes left over. It checks structure and the protocol rules that are
// cheap to check on bytes; authorisation and topic limits stay in AuthHook.
// It depends on nothing but the standard library so it can be fuzzed on its
// own.

// Protocol levels, as sent in CONNECT.
const (
	mqtt31  byte = 3 // "MQIsdp", treated like 3.1.1
	mqtt311 byte = 4
	mqtt5   byte = 5
)

// MQTT control packet types.
const (
	ptReserved    byte = 0
	ptConnect     byte = 1
	ptConnack     byte = 2
	ptPublish     byte = 3
	ptPuback      byte = 4
	ptPubrec      byte = 5
	ptPubrel      byte = 6
	ptPubcomp     byte = 7
	ptSubscribe   byte = 8
	ptSuback      byte = 9
	ptUnsubscribe byte = 10
	ptUnsuback    byte = 11
	ptPingreq     byte = 12
	ptPingresp    byte = 13
	ptDisconnect  byte = 14
	ptAuth        byte = 15
)

// errMalformed is wrapped by every error the guard returns.
var errMalformed = errors.New("malformed MQTT packet")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, a...))
}

// packetGuard follows one connection's stream of client packets. It is not
// safe for concurrent use (one connection has one reader).
type packetGuard struct {
	maxPacket uint32 // total packet size limit, fixed header included; 0 = none
	version   byte   // 0 until a CONNECT has been accepted
}

// next looks at buf, the bytes received and not yet checked, and returns
// the length of the first packet in it once that packet is complete and
// valid; 0 and no error means more bytes are needed. An error means the
// stream must be dropped; its text never holds packet contents.
func (g *packetGuard) next(buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	remaining, n, err := varint(buf[1:])
	if err != nil {
		return 0, fmt.Errorf("%w: remaining length: %w", errMalformed, err)
	}
	if n == 0 {
		return 0, nil // remaining length incomplete
	}
	total := 1 + n + remaining
	if g.maxPacket > 0 && uint64(total) > uint64(g.maxPacket) {
		return 0, malformed("packet of %d bytes over the %d byte limit", total, g.maxPacket)
	}
	if err := g.checkHeader(buf[0]); err != nil {
		return 0, err // refuse before waiting for the body
	}
	if len(buf) < total {
		return 0, nil
	}
	v, err := checkPacket(g.version, buf[0], buf[1+n:total])
	if err != nil {
		return 0, err
	}
	g.version = v
	return total, nil
}

// checkHeader refuses a packet on its first byte alone.
func (g *packetGuard) checkHeader(h byte) error {
	t := h >> 4
	if g.version == 0 && t != ptConnect {
		return malformed("packet type %d before CONNECT", t)
	}
	if g.version != 0 && t == ptConnect {
		return malformed("second CONNECT on the connection")
	}
	return nil
}

// checkPacket checks one whole packet (first header byte and body) sent by
// a client on a connection at protocol level version (0: no CONNECT yet)
// and returns the connection's protocol level after it.
func checkPacket(version, h byte, body []byte) (byte, error) {
	t, flags := h>>4, h&0x0f
	if version == 0 {
		if t != ptConnect {
			return 0, malformed("packet type %d before CONNECT", t)
		}
		if flags != 0 {
			return 0, malformed("CONNECT flags %#x", flags)
		}
		return checkConnect(body)
	}
	v5 := version == mqtt5
	var err error
	switch t {
	case ptConnect:
		err = malformed("second CONNECT on the connection")
	case ptPublish:
		err = checkPublish(v5, flags, body)
	case ptPuback, ptPubrec, ptPubcomp:
		err = checkAck(v5, t, flags, 0, body)
	case ptPubrel:
		err = checkAck(v5, t, flags, 0x2, body)
	case ptSubscribe:
		err = checkSubscribe(v5, flags, body)
	case ptUnsubscribe:
		err = checkUnsubscribe(v5, flags, body)
	case ptPingreq:
		switch {
		case flags != 0:
			err = malformed("PINGREQ flags %#x", flags)
		case len(body) != 0:
			err = malformed("PINGREQ with a %d byte body", len(body))
		}
	case ptDisconnect:
		err = checkDisconnect(v5, flags, body)
	case ptAuth:
		err = checkAuth(v5, flags, body)
	default: // reserved 0, and the server-to-client types
		err = malformed("packet type %d not accepted from a client", t)
	}
	return version, err
}

// reader walks a packet body; every method fails rather than read past the
// end of the body.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) byte(what string) (byte, error) {
	if r.left() < 1 {
		return 0, malformed("%s missing", what)
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *reader) uint16(what string) (uint16, error) {
	if r.left() < 2 {
		return 0, malformed("%s missing", what)
	}
	r.off += 2
	return uint16(r.b[r.off-2])<<8 | uint16(r.b[r.off-1]), nil
}

func (r *reader) uint32(what string) (uint32, error) {
	if r.left() < 4 {
		return 0, malformed("%s missing", what)
	}
	r.off += 4
	b := r.b[r.off-4:]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

// binary reads two-byte-length-prefixed data.
func (r *reader) binary(what string) ([]byte, error) {
	n, err := r.uint16(what + " length")
	if err != nil {
		return nil, err
	}
	if r.left() < int(n) {
		return nil, malformed("%s of %d bytes runs past the end of the packet", what, n)
	}
	r.off += int(n)
	return r.b[r.off-int(n) : r.off], nil
}

// string reads a UTF-8 string: valid UTF-8 with no U+0000 [MQTT-1.5.4-1],
// [MQTT-1.5.4-2].
func (r *reader) string(what string) ([]byte, error) {
	b, err := r.binary(what)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, malformed("%s is not UTF-8", what)
	}
	for _, c := range b {
		if c == 0 {
			return nil, malformed("%s holds U+0000", what)
		}
	}
	return b, nil
}

func (r *reader) varint(what string) (int, error) {
	v, n, err := varint(r.b[r.off:])
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", errMalformed, what, err)
	}
	if n == 0 {
		return 0, malformed("%s runs past the end of the packet", what)
	}
	r.off += n
	return v, nil
}

func (r *reader) end(what string) error {
	if r.left() != 0 {
		return malformed("%d bytes after the %s", r.left(), what)
	}
	return nil
}

var (
	errVarintLong    = errors.New("variable byte integer longer than 4 bytes")
	errVarintPadding = errors.New("variable byte integer not in its shortest form")
)

// varint decodes an MQTT variable byte integer from the start of b. n = 0
// with no error means b ends before the integer does.
func varint(b []byte) (v, n int, err error) {
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		v |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if i > 0 && b[i] == 0 {
				return 0, 0, errVarintPadding // [MQTT-1.5.5-1]
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errVarintLong
}

// Property value kinds.
const (
	pByte = iota + 1
	pUint16
	pUint32
	pVarint
	pString
	pBinary
	pPair
)

// propSet is a bit set of the places a property may appear in a client
// packet (MQTT 5 section 2.2.2.2; server-only properties are absent).
type propSet uint16

const (
	inConnect propSet = 1 << iota
	inWill
	inPublish
	inAck // PUBACK, PUBREC, PUBREL, PUBCOMP
	inSubscribe
	inUnsubscribe
	inDisconnect
	inAuth
)

var properties = [256]struct {
	kind  byte
	where propSet
}{
	0x01: {pByte, inWill | inPublish},              // payload format indicator
	0x02: {pUint32, inWill | inPublish},            // message expiry interval
	0x03: {pString, inWill | inPublish},            // content type
	0x08: {pString, inWill | inPublish},            // response topic
	0x09: {pBinary, inWill | inPublish},            // correlation data
	0x0b: {pVarint, inSubscribe},                   // subscription identifier
	0x11: {pUint32, inConnect | inDisconnect},      // session expiry interval
	0x15: {pString, inConnect | inAuth},            // authentication method
	0x16: {pBinary, inConnect | inAuth},            // authentication data
	0x17: {pByte, inConnect},                       // request problem information
	0x18: {pUint32, inWill},                        // will delay interval
	0x19: {pByte, inConnect},                       // request response information
	0x1c: {pString, inDisconnect},                  // server reference
	0x1f: {pString, inAck | inDisconnect | inAuth}, // reason string
	0x21: {pUint16, inConnect},                     // receive maximum
	0x22: {pUint16, inConnect},                     // topic alias maximum
	0x23: {pUint16, inPublish},                     // topic alias
	0x26: {pPair, ^propSet(0)},                     // user property
	0x27: {pUint32, inConnect},                     // maximum packet size
}

// nonZeroProps must not be 0: subscription identifier, receive maximum,
// topic alias, maximum packet size.
var nonZeroProps = [256]bool{0x0b: true, 0x21: true, 0x23: true, 0x27: true}

const (
	propTopicAlias = 0x23
	propUser       = 0x26
)

// props checks a v5 property list (its length, then the properties) that
// must fit in the rest of the body, and returns the ids present.
func (r *reader) props(where propSet, what string) (seen [256]bool, err error) {
	n, err := r.varint(what + " properties length")
	if err != nil {
		return seen, err
	}
	if r.left() < n {
		return seen, malformed("%s properties of %d bytes run past the end of the packet", what, n)
	}
	p := reader{b: r.b[r.off : r.off+n]}
	r.off += n
	for p.left() > 0 {
		id, _ := p.byte("property")
		def := properties[id]
		if def.kind == 0 || def.where&where == 0 {
			return seen, malformed("property %#x not allowed in %s", id, what)
		}
		if seen[id] && id != propUser {
			return seen, malformed("property %#x repeated in %s", id, what) // each at most once [MQTT 2.2.2.2]
		}
		seen[id] = true
		var v uint32 // numeric value, for the checks below
		switch def.kind {
		case pByte:
			var b byte
			b, err = p.byte("property value")
			v = uint32(b)
		case pUint16:
			var u uint16
			u, err = p.uint16("property value")
			v = uint32(u)
		case pUint32:
			v, err = p.uint32("property value")
		case pVarint:
			var i int
			i, err = p.varint("property value")
			v = uint32(i)
		case pString:
			_, err = p.string("property value")
		case pBinary:
			_, err = p.binary("property value")
		case pPair:
			if _, err = p.string("user property name"); err == nil {
				_, err = p.string("user property value")
			}
		}
		if err != nil {
			return seen, err
		}
		switch {
		case def.kind == pByte && v > 1: // every byte property a client sends is 0 or 1
			return seen, malformed("property %#x value %d", id, v)
		case v == 0 && nonZeroProps[id]:
			return seen, malformed("property %#x is zero", id)
		}
	}
	return seen, nil
}

func checkConnect(body []byte) (byte, error) {
	r := reader{b: body}
	name, err := r.binary("protocol name")
	if err != nil {
		return 0, err
	}
	level, err := r.byte("protocol level")
	if err != nil {
		return 0, err
	}
	switch {
	case string(name) == "MQTT" && (level == mqtt311 || level == mqtt5):
	case string(name) == "MQIsdp" && level == mqtt31:
	default:
		// The name is the client's bytes: not in the log.
		return 0, malformed("unsupported protocol name (%d bytes) or level %d", len(name), level)
	}
	flags, err := r.byte("connect flags")
	if err != nil {
		return 0, err
	}
	if flags&0x01 != 0 {
		return 0, malformed("CONNECT reserved flag set") // [MQTT-3.1.2-3]
	}
	will, willQoS, willRetain := flags&0x04 != 0, flags>>3&0x3, flags&0x20 != 0
	password, username := flags&0x40 != 0, flags&0x80 != 0
	if will && willQoS > 2 {
		return 0, malformed("will QoS 3") // [MQTT-3.1.2-14]
	}
	if !will && (willQoS != 0 || willRetain) {
		return 0, malformed("will QoS or retain without a will") // [MQTT-3.1.2-11] [MQTT-3.1.2-13]
	}
	if password && !username && level != mqtt5 {
		return 0, malformed("password without user name") // [MQTT-3.1.2-22]
	}
	if _, err := r.uint16("keep alive"); err != nil {
		return 0, err
	}
	if level == mqtt5 {
		if _, err := r.props(inConnect, "CONNECT"); err != nil {
			return 0, err
		}
	}
	if _, err := r.string("client identifier"); err != nil {
		return 0, err
	}
	if will {
		if level == mqtt5 {
			if _, err := r.props(inWill, "will"); err != nil {
				return 0, err
			}
		}
		topic, err := r.string("will topic")
		if err != nil {
			return 0, err
		}
		if err := checkTopicName(topic); err != nil {
			return 0, err
		}
		if _, err := r.binary("will payload"); err != nil {
			return 0, err
		}
	}
	if username {
		if _, err := r.string("user name"); err != nil {
			return 0, err
		}
	}
	if password {
		if _, err := r.binary("password"); err != nil {
			return 0, err
		}
	}
	if err := r.end("CONNECT payload"); err != nil {
		return 0, err
	}
	return level, nil
}

func checkTopicName(t []byte) error {
	if len(t) == 0 {
		return malformed("empty topic name")
	}
	for _, c := range t {
		if c == '+' || c == '#' {
			return malformed("wildcard in a topic name") // [MQTT-3.3.2-2]
		}
	}
	return nil
}

func packetID(r *reader, what string) error {
	id, err := r.uint16(what + " packet identifier")
	if err != nil {
		return err
	}
	if id == 0 {
		return malformed("%s packet identifier 0", what) // [MQTT-2.2.1-3]
	}
	return nil
}

func checkPublish(v5 bool, flags byte, body []byte) error {
	qos, dup := flags>>1&0x3, flags&0x08 != 0
	if qos == 3 {
		return malformed("PUBLISH QoS 3") // [MQTT-3.3.1-4]
	}
	if qos == 0 && dup {
		return malformed("PUBLISH DUP with QoS 0") // [MQTT-3.3.1-2]
	}
	r := reader{b: body}
	topic, err := r.string("topic name")
	if err != nil {
		return err
	}
	if qos > 0 {
		if err := packetID(&r, "PUBLISH"); err != nil {
			return err
		}
	}
	alias := false
	if v5 {
		seen, err := r.props(inPublish, "PUBLISH")
		if err != nil {
			return err
		}
		alias = seen[propTopicAlias]
	}
	if len(topic) == 0 && alias {
		return nil // an empty topic names the alias's topic
	}
	return checkTopicName(topic)
}

// checkAck checks PUBACK, PUBREC, PUBREL and PUBCOMP.
func checkAck(v5 bool, t, flags, wantFlags byte, body []byte) error {
	if flags != wantFlags {
		return malformed("packet type %d flags %#x", t, flags)
	}
	r := reader{b: body}
	if err := packetID(&r, "acknowledgement"); err != nil {
		return err
	}
	if v5 && r.left() > 0 {
		// A reason code, then optionally properties [MQTT 3.4.2.1].
		_, _ = r.byte("reason code")
		if r.left() > 0 {
			if _, err := r.props(inAck, "acknowledgement"); err != nil {
				return err
			}
		}
	}
	return r.end("acknowledgement")
}

func checkSubscribe(v5 bool, flags byte, body []byte) error {
	if flags != 0x2 {
		return malformed("SUBSCRIBE flags %#x", flags) // [MQTT-3.8.1-1]
	}
	r := reader{b: body}
	if err := packetID(&r, "SUBSCRIBE"); err != nil {
		return err
	}
	if v5 {
		if _, err := r.props(inSubscribe, "SUBSCRIBE"); err != nil {
			return err
		}
	}
	if r.left() == 0 {
		return malformed("SUBSCRIBE without a filter") // [MQTT-3.8.3-2]
	}
	for r.left() > 0 {
		f, err := r.string("topic filter")
		if err != nil {
			return err
		}
		if len(f) == 0 {
			return malformed("empty topic filter")
		}
		opts, err := r.byte("subscription options") // the byte mochi v2.7.9 indexes unchecked
		if err != nil {
			return err
		}
		reserved := byte(0xfc) // v3: only the QoS bits [MQTT-3.8.3-4]
		if v5 {
			reserved = 0xc0 // [MQTT-3.8.3-5]
			if opts>>4&0x3 == 3 {
				return malformed("retain handling 3")
			}
		}
		if opts&reserved != 0 || opts&0x3 == 3 {
			return malformed("subscription options %#x", opts)
		}
	}
	return nil
}

func checkUnsubscribe(v5 bool, flags byte, body []byte) error {
	if flags != 0x2 {
		return malformed("UNSUBSCRIBE flags %#x", flags) // [MQTT-3.10.1-1]
	}
	r := reader{b: body}
	if err := packetID(&r, "UNSUBSCRIBE"); err != nil {
		return err
	}
	if v5 {
		if _, err := r.props(inUnsubscribe, "UNSUBSCRIBE"); err != nil {
			return err
		}
	}
	if r.left() == 0 {
		return malformed("UNSUBSCRIBE without a filter") // [MQTT-3.10.3-2]
	}
	for r.left() > 0 {
		f, err := r.string("topic filter")
		if err != nil {
			return err
		}
		if len(f) == 0 {
			return malformed("empty topic filter")
		}
	}
	return nil
}

func checkDisconnect(v5 bool, flags byte, body []byte) error {
	if flags != 0 {
		return malformed("DISCONNECT flags %#x", flags)
	}
	if !v5 {
		if len(body) != 0 {
			return malformed("DISCONNECT with a %d byte body", len(body))
		}
		return nil
	}
	r := reader{b: body}
	if r.left() > 0 {
		_, _ = r.byte("reason code")
		if r.left() > 0 {
			if _, err := r.props(inDisconnect, "DISCONNECT"); err != nil {
				return err
			}
		}
	}
	return r.end("DISCONNECT")
}

func checkAuth(v5 bool, flags byte, body []byte) error {
	if !v5 {
		return malformed("packet type 15 (AUTH) before MQTT 5")
	}
	if flags != 0 {
		return malformed("AUTH flags %#x", flags)
	}
	r := reader{b: body}
	if r.left() > 0 {
		// mochi v2.7.9 decodes the properties unconditionally after the
		// reason code; a bare reason code is valid MQTT and harmless there.
		_, _ = r.byte("reason code")
		if r.left() > 0 {
			if _, err := r.props(inAuth, "AUTH"); err != nil {
				return err
			}
		}
	}
	return r.end("AUTH")
}
