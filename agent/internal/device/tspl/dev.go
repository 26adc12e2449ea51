package tspl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"
	"go.bug.st/serial"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/device/printer"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/printtmpl"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Opts describes one label printer and its labels. Start from DefaultOpts.
type Opts struct {
	WidthMM, HeightMM float64 // label size
	GapMM             float64 // gap between labels (0: continuous)
	Direction         int     // 0 or 1: which way up the label comes out
	DotsPerMM         int     // 8 at 203 dpi, 12 at 300 dpi
	MarginDots        int     // blank border kept on every side

	// Font is a TSPL font name. "TSS24.BF2" is the simplified-Chinese
	// 24×24 font most TSPL printers sold in China carry (TSC, Xprinter,
	// Gprinter, HPRT…); it reads content as GB2312/GBK bytes and draws
	// ASCII half width. FontWidth and FontHeight are the dots of one
	// half-width character, used to wrap lines.
	Font                  string
	FontWidth, FontHeight int
	CodePage              string // CodePageGB18030 or CodePageASCII
	Replace               bool   // '?' for what the code page lacks instead of refusing the item
	LineGap               int    // dots between lines
	QRCell                int    // QR module size in dots; 0: no QR code
	Threshold             uint8  // image: luminance below this prints

	// What print templates are filled with; the hotline is also the QR
	// payload ("tel:"+Hotline).
	Site, Unit, Hotline string
	Location            *time.Location // nil: time.Local
	Clock               clock.Clock    // nil: the system clock

	// NoStatus is for links that cannot carry the printer's answer (see
	// escpos.Opts.NoStatus).
	NoStatus bool

	StatusTimeout time.Duration // longest wait for the <ESC>!? answer
	JobTimeout    time.Duration // longest wait for the label to finish printing
	PollInterval  time.Duration // <ESC>!? polling while the label prints
	// Settle is how long a job must be watched without the printer ever
	// reporting "printing" before it counts as printed (a label too short
	// for any poll to land while it prints).
	Settle       time.Duration
	WriteTimeout time.Duration
	DialTimeout  time.Duration
}

// DefaultOpts is a 60 × 40 mm courier-station label at 203 dpi with the
// simplified-Chinese font.
var DefaultOpts = Opts{
	WidthMM: 60, HeightMM: 40, GapMM: 2, Direction: 1, DotsPerMM: 8, MarginDots: 16,
	Font: "TSS24.BF2", FontWidth: 12, FontHeight: 24, CodePage: CodePageGB18030, LineGap: 4,
	QRCell: 4, Threshold: 128, Hotline: "96110",
	StatusTimeout: 2 * time.Second, JobTimeout: 30 * time.Second, PollInterval: 100 * time.Millisecond,
	Settle: 500 * time.Millisecond, WriteTimeout: 10 * time.Second, DialTimeout: 3 * time.Second,
}

func (o *Opts) check() error {
	switch {
	case o.CodePage != CodePageGB18030 && o.CodePage != CodePageASCII:
		return fmt.Errorf("tspl: unknown code page %q (want %s or %s)", o.CodePage, CodePageGB18030, CodePageASCII)
	case o.WidthMM <= 0 || o.WidthMM > 300 || o.HeightMM <= 0 || o.HeightMM > 1000:
		return fmt.Errorf("tspl: label %v × %v mm out of range", o.WidthMM, o.HeightMM)
	case o.GapMM < 0 || o.GapMM > 50:
		return fmt.Errorf("tspl: gap %v mm out of range 0..50", o.GapMM)
	case o.Direction != 0 && o.Direction != 1:
		return fmt.Errorf("tspl: direction %d (want 0 or 1)", o.Direction)
	case o.DotsPerMM < 1 || o.DotsPerMM > 24:
		return fmt.Errorf("tspl: %d dots per mm out of range 1..24", o.DotsPerMM)
	case o.Font == "" || strings.ContainsAny(o.Font, "\"\r\n"):
		return fmt.Errorf("tspl: bad font name %q", o.Font)
	case o.FontWidth < 1 || o.FontHeight < 1:
		return fmt.Errorf("tspl: font cell %d × %d dots", o.FontWidth, o.FontHeight)
	case o.QRCell < 0 || o.QRCell > 10:
		return fmt.Errorf("tspl: QR cell %d out of range 0..10", o.QRCell)
	case o.MarginDots < 0 || o.LineGap < 0:
		return errors.New("tspl: negative margin or line gap")
	}
	if o.labelW()-2*o.MarginDots < 2*o.FontWidth || o.labelH()-2*o.MarginDots < o.FontHeight {
		return fmt.Errorf("tspl: a %v × %v mm label with %d-dot margins has no room for text", o.WidthMM, o.HeightMM, o.MarginDots)
	}
	return nil
}

func (o *Opts) labelW() int { return int(o.WidthMM * float64(o.DotsPerMM)) }
func (o *Opts) labelH() int { return int(o.HeightMM * float64(o.DotsPerMM)) }

func (o *Opts) fill() error {
	d := DefaultOpts
	for _, f := range []struct{ v, d *time.Duration }{
		{&o.StatusTimeout, &d.StatusTimeout}, {&o.JobTimeout, &d.JobTimeout}, {&o.PollInterval, &d.PollInterval},
		{&o.Settle, &d.Settle}, {&o.WriteTimeout, &d.WriteTimeout}, {&o.DialTimeout, &d.DialTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if o.Threshold == 0 {
		o.Threshold = d.Threshold // 0 would print no image dots at all
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o.check()
}

// Dev is a TSPL label printer as an output of kind "printer".
type Dev struct {
	o Opts
	c *printer.Conn[Status]
}

var (
	_ output.Output   = (*Dev)(nil)
	_ health.Reporter = (*Dev)(nil)
)

// New returns a driver on an open link, used until it fails.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	return &Dev{o: o, c: printer.NewConn[Status](rw, o.WriteTimeout)}, nil
}

// NewOpener returns a driver that opens its link when needed and again
// after it fails.
func NewOpener(open printer.Opener, o Opts) (*Dev, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	return &Dev{o: o, c: printer.NewOpenerConn[Status](open, o.WriteTimeout)}, nil
}

// OpenFile is a label printer behind a device file (/dev/usb/lp0).
func OpenFile(path string, o Opts) (*Dev, error) {
	return NewOpener(printer.OpenFile(path), o)
}

// OpenSerial is a label printer on a serial port.
func OpenSerial(name string, mode serial.Mode, o Opts) (*Dev, error) {
	return NewOpener(printer.OpenSerial(name, mode), o)
}

// DialTCP is a network label printer, usually host:9100.
func DialTCP(addr string, o Opts) (*Dev, error) {
	timeout := o.DialTimeout
	if timeout <= 0 {
		timeout = DefaultOpts.DialTimeout
	}
	return NewOpener(printer.DialTCP(addr, timeout), o)
}

// Kind is protocol.OutputPrinter.
func (d *Dev) Kind() string { return protocol.OutputPrinter }

// Health is the state found at the last status check.
func (d *Dev) Health() health.Health { return d.c.Health() }

// LastStatus is the status decoded at the last check.
func (d *Dev) LastStatus() Status { return d.c.LastStatus() }

// Close closes the link.
func (d *Dev) Close() error { return d.c.Close() }

// Check asks the printer for its status (<ESC>!?) and updates Health.
func (d *Dev) Check(ctx context.Context) (Status, error) {
	d.c.Lock()
	defer d.c.Unlock()
	return d.checkLocked(ctx)
}

func (d *Dev) checkLocked(ctx context.Context) (Status, error) {
	return d.c.Check(ctx, d.query, printer.IsLinkErr)
}

func (d *Dev) query(ctx context.Context, p *printer.Port) (Status, error) {
	if err := p.Write(ctx, StatusQuery()); err != nil {
		d.c.SetHealth(false, "printer link: "+err.Error())
		return Status{}, err
	}
	b, err := p.Next(ctx, d.o.StatusTimeout)
	if err != nil {
		return Status{}, d.c.ReadFailed(ctx, err, fmt.Sprintf("printer not answering (no status in %v)", d.o.StatusTimeout))
	}
	st := DecodeStatus(b)
	d.c.Record(st, "")
	return st, nil
}

// Play prints the item on one label and reports whether the printer did:
// status before, the job, then <ESC>!? polled until the printer has been
// seen printing and is done (or has reported nothing for Opts.Settle).
// Head open, paper out, a jam, no ribbon or silence fail the play with
// that reason. A file that cannot be laid out is an error.
func (d *Dev) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	return d.c.Play(ctx, d.o.Clock, time.Duration(it.DurationMS)*time.Millisecond, d.o.NoStatus,
		func(start time.Time) ([]byte, error) { return d.job(it, path, start) }, d.run)
}

func (d *Dev) run(ctx context.Context, job []byte) string {
	p, reason := d.c.Send(ctx, job, d.o.NoStatus, d.checkLocked)
	if p == nil {
		return reason
	}
	return d.watch(ctx, p)
}

// watch polls the status after a job until the label is done.
func (d *Dev) watch(ctx context.Context, p *printer.Port) string {
	start := time.Now()
	seen := false
	for {
		st, reason := d.c.Poll(ctx, p, d.query, printer.IsLinkErr)
		if reason != "" {
			return reason
		}
		switch {
		case st.Printing:
			seen = true
		case seen || time.Since(start) >= d.o.Settle:
			return ""
		}
		if time.Since(start) >= d.o.JobTimeout {
			msg := fmt.Sprintf("label still printing after %v", d.o.JobTimeout)
			d.c.SetHealth(false, msg)
			return msg
		}
		t := time.NewTimer(d.o.PollInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "interrupted while printing"
		}
	}
}

const maxTextFile = 64 << 10

// job lays the item out on one label: text from the top-left corner,
// wrapped to the width left beside the hotline QR code (top-right); a
// print template's first line is the title, drawn double height. An image
// is scaled to fit the label and centred. Text that does not fit on the
// label is an error, not a silently cut-off label.
func (d *Dev) job(it protocol.Item, path string, now time.Time) ([]byte, error) {
	e, err := NewEncoder(d.o)
	if err != nil {
		return nil, err
	}
	e.Setup()
	switch it.Kind {
	case "print":
		t, err := printtmpl.Load(path)
		if err != nil {
			return nil, err
		}
		local := now.In(d.o.Location)
		s, err := t.Render(printtmpl.Data{
			Date: local.Format(printtmpl.DateLayout), Time: local.Format(printtmpl.TimeLayout),
			Site: d.o.Site, Unit: d.o.Unit, Hotline: d.o.Hotline,
		})
		if err != nil {
			return nil, err
		}
		if err := d.layout(e, s, true); err != nil {
			return nil, err
		}
	case "text":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(f, maxTextFile+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > maxTextFile {
			return nil, fmt.Errorf("tspl: text item larger than %d bytes", maxTextFile)
		}
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
		if !utf8.Valid(b) {
			return nil, errors.New("tspl: text item is not valid UTF-8")
		}
		if err := d.layout(e, string(b), false); err != nil {
			return nil, err
		}
	case "image":
		img, err := printer.DecodeImage("tspl", path)
		if err != nil {
			return nil, err
		}
		if err := d.image(e, img); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tspl: cannot print a %q item", it.Kind)
	}
	e.Print()
	return e.Bytes(), nil
}

func (d *Dev) layout(e *Encoder, s string, title bool) error {
	o := d.o
	m := o.MarginDots
	right := o.labelW() - m
	if o.QRCell > 0 && o.Hotline != "" {
		payload := "tel:" + o.Hotline
		q, err := qrcode.New(payload, qrcode.Medium)
		if err != nil {
			return fmt.Errorf("tspl: QR code: %w", err)
		}
		cell := o.QRCell
		size := func() int { return (17 + 4*q.VersionNumber) * cell }
		for cell > 1 && (size() > o.labelH()-2*m || size() > (o.labelW()-2*m)/2) {
			cell--
		}
		x := o.labelW() - m - size()
		if err := e.QR(x, m, cell, payload); err != nil {
			return err
		}
		right = x - o.FontWidth
	}
	width := right - m
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\r\n \t"), "\n")
	y := m
	for i, l := range lines {
		l = strings.ReplaceAll(strings.TrimRight(l, " \t\r"), "\t", "    ")
		ym := 1
		if title && i == 0 && strings.TrimSpace(l) != "" {
			ym = 2
		}
		for _, part := range wrap(l, width, o.FontWidth) {
			if y+o.FontHeight*ym > o.labelH()-m {
				return fmt.Errorf("tspl: text does not fit a %v × %v mm label (line %d of %d)", o.WidthMM, o.HeightMM, i+1, len(lines))
			}
			if part != "" {
				if err := e.Text(m, y, 1, ym, part); err != nil {
					return err
				}
			}
			y += o.FontHeight*ym + o.LineGap
		}
	}
	return nil
}

// wrap cuts s into pieces at most width dots wide, a full-width (CJK)
// character counting two half-width cells.
func wrap(s string, width, cell int) []string {
	var out []string
	start, w := 0, 0
	for i, r := range s {
		cw := cell
		if r >= 0x1100 {
			cw = 2 * cell
		}
		if w+cw > width && i > start {
			out = append(out, s[start:i])
			start, w = i, 0
		}
		w += cw
	}
	return append(out, s[start:])
}

func (d *Dev) image(e *Encoder, img image.Image) error {
	o := d.o
	m := o.MarginDots
	aw, ah := o.labelW()-2*m, o.labelH()-2*m
	b := img.Bounds()
	maxW := aw
	if b.Dy() > 0 && b.Dx() > 0 && int64(b.Dy())*int64(aw) > int64(ah)*int64(b.Dx()) {
		maxW = max(1, int(int64(ah)*int64(b.Dx())/int64(b.Dy())))
	}
	r, err := escpos.NewRaster(img, maxW, o.Threshold)
	if err != nil {
		return err
	}
	e.Bitmap(m+(aw-r.Width)/2, m+(ah-r.Height)/2, r)
	return nil
}
