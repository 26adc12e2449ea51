package escpos

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Control bytes of the command set.
const (
	HT  = 0x09
	LF  = 0x0A
	DLE = 0x10
	EOT = 0x04
	ESC = 0x1B
	FS  = 0x1C
	GS  = 0x1D
)

// Code pages a profile can name.
const (
	// CodePageGB18030 is Chinese firmware: FS & selects Chinese mode and
	// text goes as GB18030 (GB2312/GBK are its one- and two-byte subset,
	// which is what the printer's font covers; four-byte sequences print
	// as the firmware's substitute glyph).
	CodePageGB18030 = "gb18030"
	// CodePageCP437 is the Epson default table (ESC t 0).
	CodePageCP437 = "cp437"
	// CodePageASCII sends only printable ASCII.
	CodePageASCII = "ascii"
)

// QRMode says how the hotline QR code is printed.
type QRMode int

const (
	// QRNative sends the printer's own QR commands (GS ( k, model 2):
	// a few bytes on the wire and a crisp code, on every Epson TM since
	// about 2010 and most Chinese firmware. Printers that do not know
	// GS ( k skip it silently, so a profile for one must choose QRRaster.
	QRNative QRMode = iota
	// QRRaster renders the code on the host (github.com/skip2/go-qrcode)
	// and sends it as a raster image: works on anything that prints GS v 0.
	QRRaster
	// QROff prints no QR code.
	QROff
)

// Cut is how the paper is cut at the end of a job.
type Cut int

const (
	CutPartial Cut = iota // GS V 1: one point left uncut, the usual receipt cut
	CutFull               // GS V 0
	CutNone               // feed only, for printers without a cutter
)

// Align is ESC a.
type Align byte

const (
	AlignLeft   Align = 0
	AlignCenter Align = 1
	AlignRight  Align = 2
)

// ErrUnencodable is returned for text the code page cannot carry when
// Opts.Replace is false.
var ErrUnencodable = errors.New("text not encodable in the printer's code page")

// rasterBand is the most rows sent in one GS v 0 command: small enough
// for the receive buffer of cheap printers, large enough to keep the
// command count down.
const rasterBand = 256

// maxQRData is the largest QR model 2 payload (version 40, level L, bytes).
const maxQRData = 2953

// Encoder builds one ESC/POS job in memory. It never writes to a printer;
// Bytes is what a Dev sends.
type Encoder struct {
	o   Opts
	buf []byte
}

// NewEncoder returns an encoder for a printer described by o. It checks
// the fields it uses.
func NewEncoder(o Opts) (*Encoder, error) {
	switch o.CodePage {
	case CodePageGB18030, CodePageCP437, CodePageASCII:
	default:
		return nil, fmt.Errorf("escpos: unknown code page %q (want %s, %s or %s)", o.CodePage, CodePageGB18030, CodePageCP437, CodePageASCII)
	}
	if o.PaperDots < 8 || o.PaperDots > 4096 {
		return nil, fmt.Errorf("escpos: paper width %d dots out of range 8..4096", o.PaperDots)
	}
	if o.QRModule < 1 || o.QRModule > 16 {
		return nil, fmt.Errorf("escpos: QR module size %d out of range 1..16", o.QRModule)
	}
	if o.FeedLines < 0 || o.FeedLines > 255 {
		return nil, fmt.Errorf("escpos: feed %d lines out of range 0..255", o.FeedLines)
	}
	return &Encoder{o: o}, nil
}

// Bytes returns the job so far.
func (e *Encoder) Bytes() []byte { return e.buf }

func (e *Encoder) raw(b ...byte) { e.buf = append(e.buf, b...) }

// Init resets the printer (ESC @) and selects the code page: Chinese mode
// (FS &) for GB18030, otherwise Chinese mode off (FS ., ignored by
// firmware without it) and table 0, PC437 (ESC t 0).
func (e *Encoder) Init() {
	e.raw(ESC, '@')
	if e.o.CodePage == CodePageGB18030 {
		e.raw(FS, '&')
		return
	}
	e.raw(FS, '.', ESC, 't', 0)
}

// Align sets the justification of the following lines (ESC a).
func (e *Encoder) Align(a Align) { e.raw(ESC, 'a', byte(a)) }

// Bold turns emphasis on or off (ESC E).
func (e *Encoder) Bold(on bool) { e.raw(ESC, 'E', b2b(on)) }

// Tall turns double height on or off, for Latin (GS !) and, in Chinese
// mode, for Chinese characters too (FS !). Double height does not change
// how many characters fit on a line.
func (e *Encoder) Tall(on bool) {
	e.raw(GS, '!', b2b(on)) // bit 0: double height
	if e.o.CodePage == CodePageGB18030 {
		e.raw(FS, '!', b2b(on)<<3) // bit 3: double height
	}
}

// Feed prints the buffer and feeds n lines (ESC d).
func (e *Encoder) Feed(n int) {
	for n > 0 {
		k := min(n, 255)
		e.raw(ESC, 'd', byte(k))
		n -= k
	}
}

// Cut feeds Opts.FeedLines (so the last line clears the cutter) and cuts.
func (e *Encoder) Cut(c Cut) {
	e.Feed(e.o.FeedLines)
	switch c {
	case CutFull:
		e.raw(GS, 'V', 0)
	case CutPartial:
		e.raw(GS, 'V', 1)
	}
}

// Text encodes s in the code page. Newlines become LF, CR is dropped, tab
// stays HT; any other control character is refused, so content can never
// carry a printer command.
func (e *Encoder) Text(s string) error {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return fmt.Errorf("escpos: text is not valid UTF-8 at offset %d", i)
			}
		}
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7F || (r >= 0x80 && r < 0xA0) {
			return fmt.Errorf("escpos: text carries control character %U at offset %d", r, i)
		}
	}
	s = strings.ReplaceAll(s, "\r", "")
	switch e.o.CodePage {
	case CodePageGB18030:
		b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
		if err != nil {
			return fmt.Errorf("escpos: %w: %v", ErrUnencodable, err)
		}
		e.buf = append(e.buf, b...)
	case CodePageCP437:
		for i, r := range s {
			b, ok := charmap.CodePage437.EncodeRune(r)
			if !ok {
				if !e.o.Replace {
					return fmt.Errorf("escpos: %w: %q (%U) at offset %d in code page 437", ErrUnencodable, r, r, i)
				}
				b = '?'
			}
			e.buf = append(e.buf, b)
		}
	default:
		for i, r := range s {
			if r >= 0x80 {
				if !e.o.Replace {
					return fmt.Errorf("escpos: %w: %q (%U) at offset %d in ASCII", ErrUnencodable, r, r, i)
				}
				r = '?'
			}
			e.buf = append(e.buf, byte(r))
		}
	}
	return nil
}

// Line is Text(s) followed by a line feed.
func (e *Encoder) Line(s string) error {
	if err := e.Text(s); err != nil {
		return err
	}
	e.raw(LF)
	return nil
}

// Image prints img as raster graphics (GS v 0): scaled down to the paper's
// printable width if wider, 1 bit per dot at Opts.Threshold, taller
// images refused past Opts.MaxImageDots.
func (e *Encoder) Image(img image.Image) error {
	r, err := NewRaster(img, e.o.PaperDots, e.o.Threshold)
	if err != nil {
		return err
	}
	if r.Height > e.o.MaxImageDots {
		return fmt.Errorf("escpos: image is %d dots tall after scaling, limit is %d", r.Height, e.o.MaxImageDots)
	}
	e.RasterImage(r)
	return nil
}

// RasterImage sends r in bands of at most 256 rows.
func (e *Encoder) RasterImage(r *Raster) {
	for y := 0; y < r.Height; y += rasterBand {
		h := min(rasterBand, r.Height-y)
		e.raw(GS, 'v', '0', 0, byte(r.Stride), byte(r.Stride>>8), byte(h), byte(h>>8))
		e.buf = append(e.buf, r.Bits[y*r.Stride:(y+h)*r.Stride]...)
	}
}

// QR prints data as a QR code, natively or as a raster (Opts.QR), at
// Opts.QRModule dots per module, error correction level M.
func (e *Encoder) QR(data string) error {
	if data == "" || len(data) > maxQRData {
		return fmt.Errorf("escpos: QR payload of %d bytes (want 1..%d)", len(data), maxQRData)
	}
	switch e.o.QR {
	case QROff:
		return nil
	case QRRaster:
		q, err := qrcode.New(data, qrcode.Medium)
		if err != nil {
			return fmt.Errorf("escpos: QR code: %w", err)
		}
		bm := q.Bitmap() // with the 4-module quiet zone
		mod := e.o.QRModule
		for mod > 1 && len(bm)*mod > e.o.PaperDots {
			mod--
		}
		if len(bm)*mod > e.o.PaperDots {
			return fmt.Errorf("escpos: QR code of %d modules does not fit %d dots", len(bm), e.o.PaperDots)
		}
		e.RasterImage(rasterFromModules(bm, mod))
		return nil
	}
	n := len(data) + 3
	e.raw(GS, '(', 'k', 4, 0, 49, 65, 50, 0)              // fn 65: model 2
	e.raw(GS, '(', 'k', 3, 0, 49, 67, byte(e.o.QRModule)) // fn 67: module size
	e.raw(GS, '(', 'k', 3, 0, 49, 69, 49)                 // fn 69: error correction M
	e.raw(GS, '(', 'k', byte(n), byte(n>>8), 49, 80, 48)  // fn 80: store
	e.buf = append(e.buf, data...)
	e.raw(GS, '(', 'k', 3, 0, 49, 81, 48) // fn 81: print
	return nil
}

// StatusQuery is DLE EOT n, the real-time status request: n = 1 printer,
// 2 offline cause, 3 error cause, 4 roll paper sensor. The printer answers
// at once with one byte, even while offline or printing.
func StatusQuery(n byte) []byte { return []byte{DLE, EOT, n} }

// PaperQuery is GS r 1. Unlike DLE EOT it waits its turn in the receive
// buffer, so its answer means everything sent before it has been
// processed: it is how a job is confirmed.
func PaperQuery() []byte { return []byte{GS, 'r', 1} }

func b2b(on bool) byte {
	if on {
		return 1
	}
	return 0
}
