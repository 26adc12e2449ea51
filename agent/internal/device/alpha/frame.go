package alpha

import (
	"bytes"
	"errors"
	"fmt"
)

// Transmission control bytes (protocol section 5.1).
const (
	NUL = 0x00 // sync: the sign locks onto the baud rate on a run of these
	SOH = 0x01 // start of header
	STX = 0x02 // start of a command
	ETX = 0x03 // end of a command's data; a checksum follows
	EOT = 0x04 // end of transmission
	ESC = 0x1B // in a TEXT file: display position and mode follow

	// CallSmallDots in a TEXT file shows the SMALL DOTS PICTURE whose
	// label follows.
	CallSmallDots = 0x14
)

// Type codes address kinds of sign; a sign answers a read with TypeResponse.
const (
	TypeAll      = 'Z' // every sign type
	TypeResponse = '0' // the sign's answer to a read
)

// Command codes (protocol section 6). The sign answers a read with the
// matching write code: ReadText is answered by WriteText, and so on.
const (
	WriteText      = 'A'
	ReadText       = 'B'
	WriteSpecial   = 'E'
	ReadSpecial    = 'F'
	WriteString    = 'G'
	ReadString     = 'H'
	WriteSmallDots = 'I'
	ReadSmallDots  = 'J'
)

// Frame errors; Decode wraps them with detail.
var (
	ErrTruncated = errors.New("alpha: truncated transmission")
	ErrChecksum  = errors.New("alpha: checksum mismatch")
	ErrSyntax    = errors.New("alpha: malformed transmission")
)

// Packet is one transmission: header plus one or more commands (more than
// one is the protocol's "nesting").
type Packet struct {
	Sync     int    // NULs before SOH (Decode reports how many it saw)
	Type     byte   // type code: TypeAll, TypeResponse, …
	Address  string // two ASCII hex digits, "00" broadcast; '?' is a wildcard digit
	Commands []Command
}

// Command is one STX-led command and its data.
type Command struct {
	Code byte
	Data []byte
	// Pause, if positive, is where the sender must stop and wait before
	// sending the rest of Data: a SMALL DOTS PICTURE needs about 100 ms
	// after its size. It does not change the bytes.
	Pause int
	// NoChecksum is set by Decode for a command sent without ETX and
	// checksum, which the protocol allows but this driver never sends.
	NoChecksum bool
}

// Checksum is the protocol's checksum of one command: the 16-bit sum of
// every byte from STX through ETX inclusive.
func Checksum(code byte, data []byte) uint16 {
	sum := uint16(STX) + uint16(code) + uint16(ETX)
	for _, b := range data {
		sum += uint16(b)
	}
	return sum
}

const hexDigits = "0123456789ABCDEF"

// Encode returns the bytes of p: p.Sync NULs, SOH, type, address, and each
// command as STX code data ETX checksum (four uppercase hex digits), then
// EOT.
func Encode(p Packet) []byte {
	var b []byte
	for _, c := range p.chunks() {
		b = append(b, c...)
	}
	return b
}

// chunks splits the encoding at the commands' pauses.
func (p Packet) chunks() [][]byte {
	var out [][]byte
	b := make([]byte, 0, 16)
	for range p.Sync {
		b = append(b, NUL)
	}
	b = append(b, SOH, p.Type)
	b = append(b, p.Address...)
	for _, c := range p.Commands {
		b = append(b, STX, c.Code)
		if c.Pause > 0 && c.Pause < len(c.Data) {
			b = append(b, c.Data[:c.Pause]...)
			out = append(out, b)
			b = append([]byte(nil), c.Data[c.Pause:]...)
		} else {
			b = append(b, c.Data...)
		}
		sum := Checksum(c.Code, c.Data)
		b = append(b, ETX, hexDigits[sum>>12], hexDigits[sum>>8&0xF], hexDigits[sum>>4&0xF], hexDigits[sum&0xF])
	}
	b = append(b, EOT)
	return append(out, b)
}

// Decode parses exactly one transmission: any number of NULs, SOH, type
// code, two-character address, one or more commands (each STX, code, data,
// and optionally ETX with a four-hex-digit checksum that must match), and
// EOT. Bytes after EOT are an error: a caller scanning a stream cuts at EOT
// first. Errors wrap ErrTruncated, ErrChecksum or ErrSyntax.
func Decode(b []byte) (Packet, error) {
	var p Packet
	i := 0
	for i < len(b) && b[i] == NUL {
		i++
	}
	p.Sync = i
	if i == len(b) {
		return p, fmt.Errorf("%w: no SOH", ErrTruncated)
	}
	if b[i] != SOH {
		return p, fmt.Errorf("%w: byte %d is %#02x, want SOH", ErrSyntax, i, b[i])
	}
	i++
	if len(b)-i < 3 {
		return p, fmt.Errorf("%w: header", ErrTruncated)
	}
	p.Type = b[i]
	if p.Type < 0x20 || p.Type > 0x7E {
		return p, fmt.Errorf("%w: type code %#02x", ErrSyntax, p.Type)
	}
	for _, c := range b[i+1 : i+3] {
		if !isHex(c) && c != '?' {
			return p, fmt.Errorf("%w: address %q", ErrSyntax, b[i+1:i+3])
		}
	}
	p.Address = string(b[i+1 : i+3])
	i += 3
	for {
		if i >= len(b) {
			return p, fmt.Errorf("%w: no EOT", ErrTruncated)
		}
		switch b[i] {
		case EOT:
			if len(p.Commands) == 0 {
				return p, fmt.Errorf("%w: no command", ErrSyntax)
			}
			if i != len(b)-1 {
				return p, fmt.Errorf("%w: %d bytes after EOT", ErrSyntax, len(b)-1-i)
			}
			return p, nil
		case STX:
		default:
			return p, fmt.Errorf("%w: byte %d is %#02x, want STX or EOT", ErrSyntax, i, b[i])
		}
		i++
		if i >= len(b) {
			return p, fmt.Errorf("%w: command code", ErrTruncated)
		}
		c := Command{Code: b[i]}
		if c.Code < 0x20 || c.Code > 0x7E {
			return p, fmt.Errorf("%w: command code %#02x", ErrSyntax, c.Code)
		}
		i++
		end := bytes.IndexAny(b[i:], "\x02\x03\x04")
		if end < 0 {
			return p, fmt.Errorf("%w: command %q data", ErrTruncated, c.Code)
		}
		c.Data = append([]byte(nil), b[i:i+end]...)
		i += end
		if b[i] == ETX {
			if len(b)-i < 5 {
				return p, fmt.Errorf("%w: checksum", ErrTruncated)
			}
			got, ok := parseHex4(b[i+1 : i+5])
			if !ok {
				return p, fmt.Errorf("%w: checksum %q", ErrSyntax, b[i+1:i+5])
			}
			if want := Checksum(c.Code, c.Data); got != want {
				return p, fmt.Errorf("%w: command %q says %04X, bytes sum to %04X", ErrChecksum, c.Code, got, want)
			}
			i += 5
		} else {
			c.NoChecksum = true
		}
		p.Commands = append(p.Commands, c)
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func parseHex4(b []byte) (uint16, bool) {
	var v uint16
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}
