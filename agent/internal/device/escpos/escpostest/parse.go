package escpostest

import (
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// EventKind says what a parsed command was.
type EventKind int

const (
	EvText    EventKind = iota // a printed line (Text)
	EvInit                     // ESC @
	EvQuery                    // DLE EOT N: real-time status request
	EvPaper                    // GS r N: in-order status request
	EvRaster                   // GS v 0 (Raster)
	EvQR                       // GS ( k fn 81: the stored QR payload printed (Text)
	EvCut                      // GS V (Partial)
	EvFeed                     // ESC d N, ESC J N
	EvChinese                  // FS & (N=1) or FS . (N=0)
	EvUnknown                  // a command this parser does not know (N = its first two bytes)
)

// Event is one parsed command.
type Event struct {
	Kind    EventKind
	N       int
	Text    string
	Raster  Raster
	Partial bool
}

// Raster is the size of one GS v 0 image.
type Raster struct {
	WidthDots int
	Height    int
	Mode      int
}

// Limits that keep a hostile stream from growing the parser without bound.
const (
	maxLine  = 64 << 10
	maxQR    = 7089
	maxTabs  = 32
	maxBlock = 1 << 16
)

// Parser decodes an ESC/POS byte stream as a printer would, one command at
// a time, across arbitrary write boundaries. Lines of text are decoded as
// GB18030 in Chinese mode (FS &) and as code page 437 otherwise. It is
// used by the fake printer and is fuzzed: any input is parsed in bounded
// memory without panicking.
type Parser struct {
	// On is called for every event.
	On func(Event)

	pend    []byte // an incomplete command
	line    []byte
	chinese bool
	skip    int    // bytes of raster or ignored block data still to skip
	qr      []byte // payload of the last GS ( k fn 80
}

// Write feeds bytes to the parser; it never fails.
func (p *Parser) Write(b []byte) (int, error) {
	n := len(b)
	if p.skip > 0 {
		k := min(p.skip, len(b))
		p.skip -= k
		b = b[k:]
	}
	owned := false // b is the parser's own pend buffer
	if len(p.pend) > 0 {
		b = append(p.pend, b...)
		p.pend, owned = nil, true
	}
	for len(b) > 0 {
		used := p.one(b)
		if used == 0 {
			// Incomplete command: keep it for the next write. A command
			// head is short (block data is skipped, not buffered, except
			// a QR payload, bounded by its length field).
			if owned {
				p.pend = b
			} else {
				p.pend = append([]byte(nil), b...)
			}
			break
		}
		b = b[used:]
		if p.skip > 0 {
			k := min(p.skip, len(b))
			p.skip -= k
			b = b[k:]
		}
	}
	return n, nil
}

func (p *Parser) emit(e Event) {
	if p.On != nil {
		p.On(e)
	}
}

// flush prints the line buffer (LF, a feed, a cut).
func (p *Parser) flush(always bool) {
	if len(p.line) == 0 && !always {
		return
	}
	p.emit(Event{Kind: EvText, Text: p.decode(p.line)})
	p.line = p.line[:0]
}

func (p *Parser) decode(b []byte) string {
	var s []byte
	var err error
	if p.chinese {
		s, err = simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	} else {
		s, err = charmap.CodePage437.NewDecoder().Bytes(b)
	}
	if err != nil {
		return string(b)
	}
	return string(s)
}

// one parses the command at the start of b and returns the bytes it used,
// 0 if b holds only part of it.
func (p *Parser) one(b []byte) int {
	c := b[0]
	switch {
	case c >= 0x20:
		// A line longer than maxLine is cut at maxLine, wherever the
		// writes happened to end.
		i, room := 0, maxLine-len(p.line)
		for i < len(b) && i < room && b[i] >= 0x20 {
			i++
		}
		p.line = append(p.line, b[:i]...)
		if len(p.line) >= maxLine {
			p.flush(false)
		}
		return i
	case c == 0x0A:
		p.flush(true)
		return 1
	case c == 0x09:
		p.line = append(p.line, '\t')
		return 1
	case c == 0x10:
		return p.dle(b)
	case c == 0x1B:
		return p.esc(b)
	case c == 0x1C:
		return p.fs(b)
	case c == 0x1D:
		return p.gs(b)
	}
	return 1 // CR and other controls: nothing to do
}

func need(b []byte, n int) bool { return len(b) >= n }

func (p *Parser) unknown(b []byte, n int) int {
	if !need(b, n) {
		return 0
	}
	k := int(b[0])<<8 | int(b[1])
	p.emit(Event{Kind: EvUnknown, N: k})
	return n
}

func (p *Parser) dle(b []byte) int {
	if !need(b, 2) {
		return 0
	}
	switch b[1] {
	case 0x04: // DLE EOT n [a]
		if !need(b, 3) {
			return 0
		}
		if b[2] == 7 || b[2] == 8 || b[2] == 18 {
			if !need(b, 4) {
				return 0
			}
			p.emit(Event{Kind: EvQuery, N: int(b[2])})
			return 4
		}
		p.emit(Event{Kind: EvQuery, N: int(b[2])})
		return 3
	case 0x05: // DLE ENQ n
		if !need(b, 3) {
			return 0
		}
		return 3
	case 0x14: // DLE DC4 fn m t
		if !need(b, 5) {
			return 0
		}
		return 5
	}
	return 1 // a lone DLE is ignored
}

// escArgs is how many argument bytes each ESC command takes.
var escArgs = map[byte]int{
	'!': 1, '-': 1, '2': 0, '3': 1, 'E': 1, 'G': 1, 'M': 1, 'R': 1, 't': 1, 'V': 1, '{': 1,
	'a': 1, 'J': 1, 'd': 1, 'e': 1, 'K': 1, 'U': 1, ' ': 1, '$': 2, '\\': 2, 'p': 3, 'c': 2,
	'=': 1, 'r': 1, 'S': 0, 'L': 0, 'T': 1, 'W': 8, 'i': 0, 'm': 0, '<': 0, '%': 1, '?': 1, 'F': 1,
}

func (p *Parser) esc(b []byte) int {
	if !need(b, 2) {
		return 0
	}
	switch b[1] {
	case '@':
		p.line = p.line[:0]
		p.chinese = false
		p.emit(Event{Kind: EvInit})
		return 2
	case 'D': // tab stops, NUL-terminated
		for i := 2; i < len(b) && i < 2+maxTabs+1; i++ {
			if b[i] == 0 {
				return i + 1
			}
		}
		if len(b) >= 2+maxTabs+1 {
			return 2 + maxTabs + 1
		}
		return 0
	case '*': // bit image: m nL nH data
		if !need(b, 5) {
			return 0
		}
		n := int(b[3]) | int(b[4])<<8
		if b[2] == 32 || b[2] == 33 {
			n *= 3
		}
		p.skip = n
		return 5
	case 'd', 'J':
		if !need(b, 3) {
			return 0
		}
		p.flush(false)
		p.emit(Event{Kind: EvFeed, N: int(b[2])})
		return 3
	}
	n, ok := escArgs[b[1]]
	if !ok {
		return p.unknown(b, 2)
	}
	if !need(b, 2+n) {
		return 0
	}
	return 2 + n
}

func (p *Parser) fs(b []byte) int {
	if !need(b, 2) {
		return 0
	}
	switch b[1] {
	case '&':
		p.chinese = true
		p.emit(Event{Kind: EvChinese, N: 1})
		return 2
	case '.':
		p.chinese = false
		p.emit(Event{Kind: EvChinese, N: 0})
		return 2
	case '!', '-', 'W', 'C', 'p':
		if b[1] == 'p' {
			if !need(b, 4) {
				return 0
			}
			return 4
		}
		if !need(b, 3) {
			return 0
		}
		return 3
	case 'S':
		if !need(b, 4) {
			return 0
		}
		return 4
	}
	return p.unknown(b, 2)
}

func (p *Parser) gs(b []byte) int {
	if !need(b, 2) {
		return 0
	}
	switch b[1] {
	case 'v': // GS v 0 m xL xH yL yH data
		if !need(b, 8) {
			return 0
		}
		if b[2] != '0' {
			return p.unknown(b, 2)
		}
		w := int(b[4]) | int(b[5])<<8
		h := int(b[6]) | int(b[7])<<8
		p.flush(false)
		p.emit(Event{Kind: EvRaster, Raster: Raster{WidthDots: w * 8, Height: h, Mode: int(b[3])}})
		p.skip = w * h
		return 8
	case '(': // GS ( fn pL pH data
		if !need(b, 5) {
			return 0
		}
		n := int(b[3]) | int(b[4])<<8
		if b[2] == 'k' && n >= 3 {
			if !need(b, 7) {
				return 0
			}
			switch {
			case b[5] == 49 && b[6] == 81: // print the stored symbol
				p.flush(false)
				p.emit(Event{Kind: EvQR, Text: string(p.qr)})
			case b[5] == 49 && b[6] == 80 && n <= maxQR+3: // store; the payload follows cn fn m
				if !need(b, 5+n) {
					return 0
				}
				p.qr = append(p.qr[:0], b[8:5+n]...)
				return 5 + n
			}
		}
		p.skip = n
		return 5
	case 'V': // GS V m [n]
		if !need(b, 3) {
			return 0
		}
		m := b[2]
		size := 3
		if m == 65 || m == 66 || m == 97 || m == 98 || m == 103 || m == 104 {
			size = 4
		}
		if !need(b, size) {
			return 0
		}
		p.flush(false)
		p.emit(Event{Kind: EvCut, Partial: m == 1 || m == 49 || m == 66 || m == 98 || m == 104})
		return size
	case 'r':
		if !need(b, 3) {
			return 0
		}
		p.emit(Event{Kind: EvPaper, N: int(b[2])})
		return 3
	case 'k': // barcode
		if !need(b, 3) {
			return 0
		}
		if b[2] <= 6 { // NUL-terminated data
			for i := 3; i < len(b) && i < 3+256; i++ {
				if b[i] == 0 {
					return i + 1
				}
			}
			if len(b) >= 3+256 {
				return 3 + 256
			}
			return 0
		}
		if !need(b, 4) {
			return 0
		}
		p.skip = int(b[3])
		return 4
	case '!', 'B', 'H', 'I', 'a', 'b', 'f', 'h', 'w', 'E', 'T', 'j':
		if !need(b, 3) {
			return 0
		}
		return 3
	case 'L', 'W', '$', '\\', 'P':
		if !need(b, 4) {
			return 0
		}
		return 4
	}
	return p.unknown(b, 2)
}
