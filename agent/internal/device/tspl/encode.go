package tspl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
)

// Code pages a profile can name.
const (
	// CodePageGB18030 sends TEXT content as GB18030 bytes, which the
	// simplified-Chinese fonts (TSS24.BF2, TSS16.BF2) read as GB2312/GBK.
	CodePageGB18030 = "gb18030"
	// CodePageASCII sends only printable ASCII, for the built-in Latin
	// fonts ("1" … "8").
	CodePageASCII = "ascii"
)

// ErrUnencodable is returned for text the code page cannot carry when
// Opts.Replace is false.
var ErrUnencodable = errors.New("text not encodable in the printer's code page")

// Encoder builds one TSPL label job in memory. Commands end in CR LF.
type Encoder struct {
	o   Opts
	buf []byte
}

// NewEncoder returns an encoder for the label printer described by o.
func NewEncoder(o Opts) (*Encoder, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return &Encoder{o: o}, nil
}

// Bytes returns the job so far.
func (e *Encoder) Bytes() []byte { return e.buf }

func (e *Encoder) cmd(s string) { e.buf = append(append(e.buf, s...), '\r', '\n') }

// Setup sends the label geometry and clears the image buffer: SIZE, GAP,
// DIRECTION, CLS.
func (e *Encoder) Setup() {
	e.cmd(fmt.Sprintf("SIZE %s mm,%s mm", mm(e.o.WidthMM), mm(e.o.HeightMM)))
	e.cmd(fmt.Sprintf("GAP %s mm,0 mm", mm(e.o.GapMM)))
	e.cmd(fmt.Sprintf("DIRECTION %d", e.o.Direction))
	e.cmd("CLS")
}

func mm(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// encode turns s into the bytes of a quoted TSPL string: code page bytes,
// a double quote as \["] (the TSPL escape), control characters refused.
func (e *Encoder) encode(s string) ([]byte, error) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return nil, fmt.Errorf("tspl: text is not valid UTF-8 at offset %d", i)
			}
		}
		if r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) {
			return nil, fmt.Errorf("tspl: text carries control character %U at offset %d", r, i)
		}
	}
	var b []byte
	if e.o.CodePage == CodePageGB18030 {
		var err error
		b, err = simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("tspl: %w: %v", ErrUnencodable, err)
		}
	} else {
		for i, r := range s {
			if r >= 0x80 {
				if !e.o.Replace {
					return nil, fmt.Errorf("tspl: %w: %q (%U) at offset %d in ASCII", ErrUnencodable, r, r, i)
				}
				r = '?'
			}
			b = append(b, byte(r))
		}
	}
	return []byte(strings.ReplaceAll(string(b), `"`, `\["]`)), nil
}

// Text draws s at x, y (dots) in Opts.Font, magnified xm × ym:
// TEXT x,y,"font",0,xm,ym,"content".
func (e *Encoder) Text(x, y, xm, ym int, s string) error {
	b, err := e.encode(s)
	if err != nil {
		return err
	}
	e.buf = fmt.Appendf(e.buf, "TEXT %d,%d,\"%s\",0,%d,%d,\"", x, y, e.o.Font, xm, ym)
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, '"', '\r', '\n')
	return nil
}

// QR draws a QR code at x, y with cell dots per module, error correction
// M, automatic encoding: QRCODE x,y,M,cell,A,0,"data".
func (e *Encoder) QR(x, y, cell int, data string) error {
	b, err := e.encode(data)
	if err != nil {
		return err
	}
	e.buf = fmt.Appendf(e.buf, "QRCODE %d,%d,M,%d,A,0,\"", x, y, cell)
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, '"', '\r', '\n')
	return nil
}

// Bitmap draws r at x, y, overwriting: BITMAP x,y,widthbytes,height,0,data.
// TSPL's bitmap is the reverse of ESC/POS raster: a 0 bit prints.
func (e *Encoder) Bitmap(x, y int, r *escpos.Raster) {
	e.buf = fmt.Appendf(e.buf, "BITMAP %d,%d,%d,%d,0,", x, y, r.Stride, r.Height)
	for _, b := range r.Bits {
		e.buf = append(e.buf, ^b)
	}
	e.buf = append(e.buf, '\r', '\n')
}

// Print prints the image buffer once: PRINT 1,1.
func (e *Encoder) Print() { e.cmd("PRINT 1,1") }

// StatusQuery is <ESC>!?: the printer answers at once, even in error, with
// one status byte.
func StatusQuery() []byte { return []byte{0x1B, '!', '?'} }
