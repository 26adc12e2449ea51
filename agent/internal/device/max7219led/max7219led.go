// Package max7219led drives dot-matrix LED displays built from cascaded
// MAX7219 8×8 modules on a Raspberry Pi's SPI bus (periph.io): one row of
// modules for ASCII in a 5×7 font, two rows for Chinese in 16×16 GNU
// Unifont glyphs. Text wider than the display scrolls one column per
// ScrollMS.
//
// It speaks the MAX7219 registers itself rather than through
// periph.io/x/devices/v3/max7219, whose Dev (v3.7.4) does not fit this
// use: NewSPI fixes the clock at 10 MHz and swallows initialisation
// errors (it logs them with the standard logger and returns a nil error),
// scrolling sleeps with no context or clock, glyphs are byte-indexed 8×8
// (no 16×16 CJK), the chain is a single row, and there is no way to shut
// the display down. The wire is the same: every register write is sent to
// all modules in one transfer, farthest module first.
//
// The MAX7219 cannot be read, so a play is proven by every frame having
// been clocked out without a bus error — or, with Opts.Loopback and the
// last module's DOUT wired to MISO, by the chain echoing back each
// transfer, which also catches a broken or unpowered module.
package max7219led

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image items
	_ "image/jpeg"
	_ "image/png"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// MAX7219 registers (datasheet table 2). Digits 0-7 are registers 1-8.
const (
	RegNoop        = 0x00
	RegDigit0      = 0x01
	RegDecodeMode  = 0x09
	RegIntensity   = 0x0A
	RegScanLimit   = 0x0B
	RegShutdown    = 0x0C
	RegDisplayTest = 0x0F
)

// Opts describes the display. Start from DefaultOpts.
type Opts struct {
	Modules   int              // 8×8 modules per row
	Rows      int              // rows of modules: 1, or 2 for 16-dot Chinese
	Speed     physic.Frequency // SPI clock; the MAX7219 takes up to 10 MHz, long chains like less
	Intensity int              // brightness, 0 (dim) to 15
	ScrollMS  int              // milliseconds per column when text is wider than the display

	// Wiring. The chain starts at the module wired to the Pi (DIN); by
	// default that is the top-left module and the chain runs left to
	// right along each row, then on to the next row. Reverse starts at
	// the top-right and runs right to left. Within a module, digit
	// registers are rows (top first) and bit 7 is the left column, as on
	// the common "FC-16" boards; ColumnDigits, MirrorX and MirrorY cover
	// the other seven ways modules are mounted.
	Reverse      bool
	ColumnDigits bool
	MirrorX      bool
	MirrorY      bool
	// Rotate180 turns the whole picture over, for a display mounted
	// upside down (a profile's rotate: 180).
	Rotate180 bool

	// Loopback says the last module's DOUT is wired to MISO: each
	// transfer must then come back unchanged on the next one.
	Loopback bool

	Clock clock.Clock      // paces scrolling and holds; nil is the system clock
	Font  *bitmapfont.Font // nil: Unifont for 16+ rows if installed, else the built-in 5×7 font
}

// DefaultOpts suit the common 4-in-1 32×8 board.
var DefaultOpts = Opts{
	Modules:   4,
	Rows:      1,
	Speed:     1 * physic.MegaHertz,
	Intensity: 4,
	ScrollMS:  40,
}

// Validate reports the first impossible setting.
func (o *Opts) Validate() error {
	switch {
	case o.Modules < 1 || o.Modules > 64:
		return fmt.Errorf("max7219led: %d modules per row (1-64)", o.Modules)
	case o.Rows < 1 || o.Rows > 8:
		return fmt.Errorf("max7219led: %d rows of modules (1-8)", o.Rows)
	case o.Speed <= 0 || o.Speed > 10*physic.MegaHertz:
		return fmt.Errorf("max7219led: SPI speed %s (up to 10MHz)", o.Speed)
	case o.Intensity < 0 || o.Intensity > 15:
		return fmt.Errorf("max7219led: intensity %d (0-15)", o.Intensity)
	case o.ScrollMS < 1:
		return fmt.Errorf("max7219led: scroll %d ms per column", o.ScrollMS)
	}
	return nil
}

// Dev is a chain of MAX7219 modules. It is safe for concurrent use; plays
// are serialised.
type Dev struct {
	opts  Opts
	clk   clock.Clock
	port  spi.PortCloser // closed by Close when Dev opened it
	n     int            // modules in the chain
	w, h  int            // display size in dots
	frame []byte         // what the display shows: module i, digit d at i*8+d

	mu   sync.Mutex // one play at a time; guards conn and last
	conn spi.Conn
	last []byte // previous transfer, for Loopback

	hmu    sync.Mutex
	health health.Health
}

var (
	_ output.Output   = (*Dev)(nil)
	_ health.Reporter = (*Dev)(nil)
)

// OpenSPI opens the named SPI port ("SPI0.0") through periph's host
// drivers and drives the display on it; Close closes the port.
func OpenSPI(name string, opts *Opts) (*Dev, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("max7219led: periph host: %w", err)
	}
	p, err := spireg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("no SPI port %s: is spi enabled in /boot/config.txt (dtparam=spi=on)? %w", name, err)
	}
	d, err := New(p, opts)
	if err != nil {
		p.Close()
		return nil, err
	}
	d.port = p
	return d, nil
}

// New drives a display on p (the caller keeps p) and initialises the
// chain: display test off, decode mode off (raw dots), scan limit 7,
// intensity, blank, then out of shutdown. opts nil means DefaultOpts.
func New(p spi.Port, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c, err := p.Connect(o.Speed, spi.Mode0, 8)
	if err != nil {
		return nil, fmt.Errorf("max7219led: connect: %w", err)
	}
	d := &Dev{opts: o, clk: o.Clock, conn: c, n: o.Modules * o.Rows, w: o.Modules * 8, h: o.Rows * 8}
	if d.clk == nil {
		d.clk = clock.Real{}
	}
	d.frame = make([]byte, d.n*8)
	err = d.init()
	d.setHealth(err)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dev) init() error {
	for _, rv := range [][2]byte{
		{RegDisplayTest, 0},
		{RegShutdown, 0},
		{RegDecodeMode, 0},
		{RegScanLimit, 7},
		{RegIntensity, byte(d.opts.Intensity)},
	} {
		if err := d.all(rv[0], rv[1]); err != nil {
			return err
		}
	}
	if err := d.show(bitmapfont.NewBitmap(d.w, d.h), 0, 0); err != nil {
		return err
	}
	return d.all(RegShutdown, 1)
}

// Size is the display's width and height in dots.
func (d *Dev) Size() (w, h int) { return d.w, d.h }

// Kind is protocol.OutputLED.
func (d *Dev) Kind() string { return protocol.OutputLED }

// Health reports whether the last transfers went out (and, with Loopback,
// came back).
func (d *Dev) Health() health.Health {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	return d.health
}

func (d *Dev) setHealth(err error) {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	d.health.Checked = d.clk.Now()
	d.health.OK = err == nil
	if err != nil {
		d.health.LastError = err.Error()
	}
}

// SetIntensity changes the brightness (0-15), e.g. for a night schedule.
func (d *Dev) SetIntensity(i int) error {
	if i < 0 || i > 15 {
		return fmt.Errorf("max7219led: intensity %d (0-15)", i)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.all(RegIntensity, byte(i))
	d.setHealth(err)
	if err == nil {
		d.opts.Intensity = i
	}
	return err
}

// Close blanks the display, shuts the chain down and closes the port if
// OpenSPI opened it.
func (d *Dev) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.show(bitmapfont.NewBitmap(d.w, d.h), 0, 0)
	err = errors.Join(err, d.all(RegShutdown, 0))
	if d.port != nil {
		err = errors.Join(err, d.port.Close())
		d.port = nil
	}
	return err
}

// tx sends one transfer, checking the loopback echo when wired.
func (d *Dev) tx(w []byte) error {
	var r []byte
	if d.opts.Loopback {
		r = make([]byte, len(w))
	}
	if err := d.conn.Tx(w, r); err != nil {
		return fmt.Errorf("spi: %w", err)
	}
	if d.opts.Loopback {
		prev := d.last
		d.last = append([]byte(nil), w...)
		if prev != nil && !bytes.Equal(r, prev) {
			return fmt.Errorf("module chain did not echo the last transfer (sent % X, got back % X): a module is unpowered or the chain is broken", prev, r)
		}
	}
	return nil
}

// all writes one register on every module.
func (d *Dev) all(reg, val byte) error {
	w := make([]byte, 2*d.n)
	for i := 0; i < d.n; i++ {
		w[2*i], w[2*i+1] = reg, val
	}
	return d.tx(w)
}

// show puts the d.w×d.h window of bm at (x0, y0) on the display: eight
// transfers, one per digit register, each carrying that digit for every
// module.
func (d *Dev) show(bm *bitmapfont.Bitmap, x0, y0 int) error {
	for i := range d.frame {
		d.frame[i] = 0
	}
	for i := 0; i < d.n; i++ {
		mx, my := d.modulePos(i)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				dx, dy := mx*8+x, my*8+y
				if d.opts.Rotate180 {
					dx, dy = d.w-1-dx, d.h-1-dy
				}
				if bm.At(x0+dx, y0+dy) {
					digit, bit := d.dotReg(x, y)
					d.frame[i*8+digit] |= 1 << bit
				}
			}
		}
	}
	for digit := 0; digit < 8; digit++ {
		w := make([]byte, 2*d.n)
		for i := 0; i < d.n; i++ {
			pos := d.n - 1 - i // the first pair sent ends up in the farthest module
			w[2*pos], w[2*pos+1] = byte(RegDigit0+digit), d.frame[i*8+digit]
		}
		if err := d.tx(w); err != nil {
			return err
		}
	}
	return nil
}

// modulePos is where chain module i sits, in modules from the top left.
func (d *Dev) modulePos(i int) (col, row int) {
	col, row = i%d.opts.Modules, i/d.opts.Modules
	if d.opts.Reverse {
		col = d.opts.Modules - 1 - col
	}
	return col, row
}

// dotReg maps a dot in a module (x right, y down) to its digit register
// (0-7) and bit.
func (d *Dev) dotReg(x, y int) (digit, bit int) {
	if d.opts.MirrorX {
		x = 7 - x
	}
	if d.opts.MirrorY {
		y = 7 - y
	}
	if d.opts.ColumnDigits {
		return x, y
	}
	return y, 7 - x
}

// refusal is media the display cannot show: a failed play, not an error.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }

// Render returns what a text or image item looks like on this display,
// vertically centred, before scrolling.
func (d *Dev) Render(it protocol.Item, path string) (*bitmapfont.Bitmap, error) {
	switch it.Kind {
	case "text", "image":
	default:
		return nil, refusal{fmt.Sprintf("an LED matrix cannot play %q items", it.Kind)}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read media: %w", err)
	}
	var bm *bitmapfont.Bitmap
	if it.Kind == "image" {
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, refusal{"image: " + err.Error()}
		}
		bm = bitmapfont.FromImage(img, d.h)
	} else {
		if !utf8.Valid(b) {
			return nil, refusal{"text is not UTF-8"}
		}
		font := d.opts.Font
		if font == nil {
			font = bitmapfont.ForHeight(d.h)
		}
		if font.Height() > d.h {
			return nil, refusal{fmt.Sprintf("font %s is %d dots high, the display %d", font.Name(), font.Height(), d.h)}
		}
		if m := font.Missing(string(b)); len(m) > 0 {
			why := "install the unifont package"
			if d.h < 16 {
				why = fmt.Sprintf("Chinese needs 16 rows of dots, this display has %d", d.h)
			}
			return nil, refusal{fmt.Sprintf("font %s has no glyphs for %q (%s)", font.Name(), string(m), why)}
		}
		bm = font.Render(string(b))
	}
	if bm.W == 0 {
		return nil, refusal{"nothing to show"}
	}
	out := bitmapfont.NewBitmap(bm.W, d.h)
	out.Draw(bm, 0, (d.h-bm.H)/2)
	return out, nil
}

// FrameX is the bitmap column shown at the display's left edge in frame k
// of a scroll: the text enters from the right edge at frame 0, moves one
// column per frame, and after leaving at the left enters again.
func (d *Dev) FrameX(textW, k int) int {
	period := textW + d.w - 1
	return k%period - (d.w - 1)
}

// Play shows the item for it.DurationMS: centred if it fits, else
// scrolling. Cancelling stops and blanks the display. A bus error (or a
// broken loopback) is a failed play with that reason.
func (d *Dev) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	start := d.clk.Now()
	res := output.Result{Start: start}
	finish := func(reason string) (output.Result, error) {
		res.Played, res.Reason = reason == "", reason
		res.End = d.clk.Now()
		res.Mono = d.clk.Since(start)
		return res, nil
	}
	bm, err := d.Render(it, path)
	var r refusal
	if errors.As(err, &r) {
		return finish(r.reason)
	}
	if err != nil {
		return res, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	reason := d.run(ctx, bm, time.Duration(it.DurationMS)*time.Millisecond)
	if reason != "interrupted" {
		var err error
		if reason != "" {
			err = errors.New(reason)
		}
		d.setHealth(err)
	}
	return finish(reason)
}

// run shows bm until dur has passed on the clock, and blanks the display.
func (d *Dev) run(ctx context.Context, bm *bitmapfont.Bitmap, dur time.Duration) string {
	blank := func(reason string) string {
		if err := d.show(bitmapfont.NewBitmap(d.w, d.h), 0, 0); err != nil && reason == "" {
			return err.Error()
		}
		return reason
	}
	start := d.clk.Now()
	step := time.Duration(d.opts.ScrollMS) * time.Millisecond
	scroll := bm.W > d.w
	if !scroll {
		if err := d.show(bm, -(d.w-bm.W)/2, 0); err != nil {
			return blank(err.Error())
		}
	}
	for k := 0; ; k++ {
		if scroll {
			if err := d.show(bm, d.FrameX(bm.W, k), 0); err != nil {
				return blank(err.Error())
			}
		}
		// Next frame time, or the end, measured from the start so that
		// bus time does not stretch the play.
		next := dur
		if scroll && time.Duration(k+1)*step < dur {
			next = time.Duration(k+1) * step
		}
		wait := next - d.clk.Since(start)
		if wait <= 0 && next == dur {
			return blank("")
		}
		select {
		case <-d.clk.After(wait):
			if next == dur {
				return blank("")
			}
		case <-ctx.Done():
			return blank("interrupted")
		}
	}
}
