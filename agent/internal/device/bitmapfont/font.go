package bitmapfont

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode"
)

// SystemPaths are where Debian's unifont package puts the font, tried in
// order by System.
var SystemPaths = []string{
	"/usr/share/unifont/unifont.hex.gz",
	"/usr/share/unifont/unifont.hex",
}

// ErrNotFound means no Unifont file is installed (apt-get install unifont).
var ErrNotFound = errors.New("bitmapfont: unifont not found (install the Debian package unifont)")

// Font is a set of fixed-height glyphs.
type Font struct {
	name   string
	height int
	glyphs map[rune]glyph
	data   []byte // glyph rows, packed MSB-first, ceil(w/8) bytes per row
}

type glyph struct {
	off uint32
	w   uint8
}

// Name says where the font came from ("unifont:/usr/share/…", "builtin-5x7").
func (f *Font) Name() string { return f.name }

// Height is the glyph height in dots: 16 for Unifont, 8 for the built-in font.
func (f *Font) Height() int { return f.height }

// Len is the number of glyphs.
func (f *Font) Len() int { return len(f.glyphs) }

// Has reports whether the font has a glyph for r.
func (f *Font) Has(r rune) bool {
	_, ok := f.glyphs[r]
	return ok
}

// Glyph returns the bitmap for r and true, or the fallback box and false
// when the font has no such glyph.
func (f *Font) Glyph(r rune) (Bitmap, bool) {
	g, ok := f.glyphs[r]
	if !ok {
		return *f.box(), false
	}
	w, bpr := int(g.w), (int(g.w)+7)/8
	b := NewBitmap(w, f.height)
	rows := f.data[g.off : int(g.off)+bpr*f.height]
	for y := 0; y < f.height; y++ {
		for x := 0; x < w; x++ {
			if rows[y*bpr+x/8]&(0x80>>(x%8)) != 0 {
				b.Pix[y*w+x] = true
			}
		}
	}
	return *b, true
}

// box is the glyph for a rune the font lacks: a hollow rectangle half as
// wide as the font is high, so the gap is visible instead of silent.
func (f *Font) box() *Bitmap {
	w := max(f.height/2, 4)
	b := NewBitmap(w, f.height)
	top, bottom := f.height/8, f.height-1-f.height/8
	for x := 1; x < w-1; x++ {
		b.Set(x, top, true)
		b.Set(x, bottom, true)
	}
	for y := top; y <= bottom; y++ {
		b.Set(1, y, true)
		b.Set(w-2, y, true)
	}
	return b
}

// Missing returns the printable runes of text the font has no glyph for,
// each once, in order: what a caller reports when it shows boxes.
func (f *Font) Missing(text string) []rune {
	var out []rune
	seen := map[rune]bool{}
	for _, r := range normalize(text) {
		if !f.Has(r) && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Render draws text as one line. Line breaks and tabs become spaces, other
// control characters are dropped, and runes the font lacks become boxes
// (see Missing).
func (f *Font) Render(text string) *Bitmap {
	var gs []Bitmap
	w := 0
	for _, r := range normalize(text) {
		g, _ := f.Glyph(r)
		gs = append(gs, g)
		w += g.W
	}
	out := NewBitmap(w, f.height)
	x := 0
	for i := range gs {
		out.Draw(&gs[i], x, 0)
		x += gs[i].W
	}
	return out
}

func normalize(text string) []rune {
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), " \t\r\n")
	out := make([]rune, 0, len(text))
	for _, r := range text {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case unicode.IsControl(r):
			continue
		}
		out = append(out, r)
	}
	return out
}

// maxHexLine bounds one .hex line: "10FFFF:" and 64 hex digits, with room
// for a CR.
const maxHexLine = 80

// ParseHex reads a font in Unifont's .hex format: one glyph per line,
// "CODEPOINT:BITMAP", the code point in 4 to 6 hex digits and the bitmap in
// 32 hex digits (8×16) or 64 (16×16), rows top to bottom, MSB leftmost.
// Blank lines are skipped; anything else malformed is an error naming the
// line.
func ParseHex(r io.Reader) (*Font, error) {
	f := &Font{name: "hex", height: 16, glyphs: map[rune]glyph{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if len(line) == 0 {
			continue
		}
		if len(line) > maxHexLine {
			return nil, fmt.Errorf("bitmapfont: line %d: %d bytes, too long", n, len(line))
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 4 || colon > 6 {
			return nil, fmt.Errorf("bitmapfont: line %d: want CODEPOINT:BITMAP with a 4-6 digit code point", n)
		}
		cp, ok := parseHexUint(line[:colon])
		if !ok || cp > unicode.MaxRune {
			return nil, fmt.Errorf("bitmapfont: line %d: bad code point %q", n, line[:colon])
		}
		bm := line[colon+1:]
		var w int
		switch len(bm) {
		case 32:
			w = 8
		case 64:
			w = 16
		default:
			return nil, fmt.Errorf("bitmapfont: line %d: bitmap has %d hex digits, want 32 (8×16) or 64 (16×16)", n, len(bm))
		}
		off := len(f.data)
		for i := 0; i < len(bm); i += 2 {
			v, ok := parseHexUint(bm[i : i+2])
			if !ok {
				return nil, fmt.Errorf("bitmapfont: line %d: bad hex digit in bitmap", n)
			}
			f.data = append(f.data, byte(v))
		}
		f.glyphs[rune(cp)] = glyph{off: uint32(off), w: uint8(w)}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("bitmapfont: line %d: too long", n+1)
		}
		return nil, fmt.Errorf("bitmapfont: read: %w", err)
	}
	if len(f.glyphs) == 0 {
		return nil, errors.New("bitmapfont: no glyphs")
	}
	return f, nil
}

func parseHexUint(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}

// LoadHex reads a .hex font file, gunzipping it if the name ends in ".gz".
func LoadHex(path string) (*Font, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bitmapfont: %w", err)
	}
	defer fh.Close()
	var r io.Reader = bufio.NewReaderSize(fh, 64<<10)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("bitmapfont: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	f, err := ParseHex(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.name = "unifont:" + path
	return f, nil
}

var system = sync.OnceValues(func() (*Font, error) {
	for _, p := range SystemPaths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		return LoadHex(p)
	}
	return nil, ErrNotFound
})

// System loads the system's Unifont once per process and shares it (it is
// read-only): about 57,000 glyphs. It returns ErrNotFound when the unifont
// package is not installed.
func System() (*Font, error) { return system() }

// ForHeight picks the font for a display rows dots high: Unifont when it
// fits (16 dots or more) and is installed, else the built-in 5×7 font.
// The caller checks Missing to report what the chosen font cannot draw.
func ForHeight(rows int) *Font {
	if rows >= 16 {
		if f, err := System(); err == nil {
			return f
		}
	}
	return Builtin()
}
