package tspltest

import (
	"bytes"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// EventKind says what a parsed command was.
type EventKind int

const (
	EvCommand   EventKind = iota // a plain command line (Name, Args)
	EvText                       // TEXT (X, Y, Font, Content decoded)
	EvQR                         // QRCODE (X, Y, Content)
	EvBitmap                     // BITMAP (X, Y, WidthBytes, Height)
	EvPrint                      // PRINT (Copies)
	EvStatus                     // <ESC>!?
	EvImmediate                  // another <ESC>! command (Name is its letter)
)

// Event is one parsed command.
type Event struct {
	Kind       EventKind
	Name       string // command word, upper case
	Args       string // the rest of the line, raw
	X, Y       int
	Font       string
	Content    string
	WidthBytes int
	Height     int
	Copies     int
}

const (
	maxLine   = 64 << 10
	maxBitmap = 1 << 30
)

// Parser decodes a TSPL stream: CR LF (or LF) terminated commands, the
// binary data of BITMAP, and <ESC>! immediate commands anywhere outside
// bitmap data. Quoted content is decoded as GB18030 (ASCII is a subset).
// Fuzzed: any input is parsed in bounded memory without panicking, and
// the same way however it is split into writes.
type Parser struct {
	On func(Event)

	line []byte
	esc  int // bytes of an <ESC>! sequence seen so far (1 or 2)
	bin  int // bitmap data bytes still to skip
}

// Write feeds bytes to the parser; it never fails.
func (p *Parser) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if p.bin > 0 {
			k := min(p.bin, len(b))
			p.bin -= k
			b = b[k:]
			continue
		}
		c := b[0]
		b = b[1:]
		switch {
		case p.esc == 1:
			if c == '!' {
				p.esc = 2
				continue
			}
			p.esc = 0 // not an immediate command: the ESC is dropped
		case p.esc == 2:
			p.esc = 0
			if c == '?' {
				p.emit(Event{Kind: EvStatus})
			} else {
				p.emit(Event{Kind: EvImmediate, Name: string(rune(c))})
			}
			continue
		}
		switch c {
		case 0x1B:
			p.esc = 1
		case '\n':
			p.endLine()
		case '\r':
		default:
			p.line = append(p.line, c)
			if len(p.line) >= maxLine {
				p.endLine()
			} else if c == ',' && p.bitmapHead() {
				p.line = p.line[:0]
			}
		}
	}
	return n, nil
}

func (p *Parser) emit(e Event) {
	if p.On != nil {
		p.On(e)
	}
}

// bitmapHead recognises "BITMAP x,y,w,h,m," and switches to binary data.
func (p *Parser) bitmapHead() bool {
	if !bytes.HasPrefix(p.line, []byte("BITMAP ")) || bytes.Count(p.line, []byte(",")) != 5 {
		return false
	}
	f := ints(string(p.line[len("BITMAP "):len(p.line)-1]), 5)
	if f == nil {
		return false
	}
	w, h := f[2], f[3]
	size := int64(w) * int64(h)
	if w < 0 || h < 0 || size > maxBitmap {
		size = 0
	}
	p.emit(Event{Kind: EvBitmap, Name: "BITMAP", X: f[0], Y: f[1], WidthBytes: w, Height: h})
	p.bin = int(size)
	return true
}

func ints(s string, n int) []int {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil
	}
	out := make([]int, n)
	for i, x := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return nil
		}
		out[i] = v
	}
	return out
}

func (p *Parser) endLine() {
	l := strings.TrimSpace(string(p.line))
	p.line = p.line[:0]
	if l == "" {
		return
	}
	name, args, _ := strings.Cut(l, " ")
	name = strings.ToUpper(name)
	args = strings.TrimSpace(args)
	e := Event{Kind: EvCommand, Name: name, Args: args}
	switch name {
	case "TEXT":
		// TEXT x,y,"font",rotation,xm,ym,"content"
		if f := splitArgs(args); len(f) == 7 {
			e.Kind = EvText
			e.X, _ = strconv.Atoi(f[0])
			e.Y, _ = strconv.Atoi(f[1])
			e.Font = unquote(f[2])
			e.Content = decode(unquote(f[6]))
		}
	case "QRCODE":
		// QRCODE x,y,ecc,cell,mode,rotation,[model,mask,]"content"
		if f := splitArgs(args); len(f) >= 7 {
			e.Kind = EvQR
			e.X, _ = strconv.Atoi(f[0])
			e.Y, _ = strconv.Atoi(f[1])
			e.Content = decode(unquote(f[len(f)-1]))
		}
	case "PRINT":
		e.Kind = EvPrint
		e.Copies = 1
		if f := strings.Split(args, ","); len(f) > 0 {
			if v, err := strconv.Atoi(strings.TrimSpace(f[0])); err == nil {
				e.Copies = v
			}
		}
	}
	p.emit(e)
}

// splitArgs splits at commas outside double quotes (\["] is not a quote).
func splitArgs(s string) []string {
	var out []string
	in := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], `\["]`):
			i += 3
		case s[i] == '"':
			in = !in
		case s[i] == ',' && !in:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return strings.ReplaceAll(s, `\["]`, `"`)
}

func decode(s string) string {
	b, err := simplifiedchinese.GB18030.NewDecoder().Bytes([]byte(s))
	if err != nil {
		return s
	}
	return string(b)
}
