package escpos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"go.bug.st/serial"

	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/device/printer"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/printtmpl"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Opts describes one printer. Start from DefaultOpts and change what the
// firmware profile says.
type Opts struct {
	PaperDots    int    // printable width in dots: 576 on 80 mm paper, 384 on 58 mm (203 dpi)
	CodePage     string // CodePageGB18030, CodePageCP437 or CodePageASCII
	Replace      bool   // print '?' for a character the code page lacks instead of refusing the item
	Threshold    uint8  // raster: luminance below this prints a dot
	MaxImageDots int    // raster: tallest image, in dots after scaling (paper is not free)
	QR           QRMode // how the hotline QR code is printed
	QRModule     int    // QR module size in dots, 1..16
	Cut          Cut
	FeedLines    int // lines fed before the cut so the last line clears the blade

	// What print templates are filled with; Date and Time come from Clock
	// in Location. The hotline is also the QR code's payload ("tel:"+Hotline);
	// with no hotline there is no QR code.
	Site, Unit, Hotline string
	Location            *time.Location // nil: time.Local
	Clock               clock.Clock    // nil: the system clock

	// NoStatus is for links that cannot carry the printer's answers: a
	// usblp device whose printer has no bidirectional interface (reads
	// fail with EINVAL: the play fails "printer cannot report status over
	// this link" until this is set), a one-way serial cable. Plays are
	// then reported as played once the bytes are written, and Health
	// says so in LastError.
	NoStatus bool
	// Confirm is how a job is confirmed printed (GS r 1, DLE EOT alone,
	// or not at all). Without status (NoStatus) nothing is confirmed.
	Confirm Confirm

	StatusTimeout time.Duration // longest wait for the four DLE EOT answers
	JobTimeout    time.Duration // longest wait for a job to be confirmed
	PollInterval  time.Duration // DLE EOT polling while a job is being confirmed
	WriteTimeout  time.Duration // longest single write
	DialTimeout   time.Duration // TCP connect
}

// Confirm is how a job is confirmed printed.
type Confirm int

// Confirmation methods.
const (
	// ConfirmGSR sends GS r 1 after the job: the printer answers it only
	// once it has processed the job (Epson). A job so confirmed is
	// played even if the status read after it shows a problem (the roll
	// ran out at its end): that problem goes to Health and fails the next
	// job.
	ConfirmGSR Confirm = iota
	// ConfirmDLEEOT judges the job by DLE EOT alone, which a printer
	// answers at once, before it has finished printing: for firmware
	// without GS r (Xprinter, Gprinter), where ConfirmGSR would wait out
	// JobTimeout on every job.
	ConfirmDLEEOT
	// ConfirmNone writes the job and reports it played, unconfirmed; the
	// status before the job is still asked unless NoStatus.
	ConfirmNone
)

// DefaultOpts is an 80 mm Chinese-firmware receipt printer.
var DefaultOpts = Opts{
	PaperDots:     576,
	CodePage:      CodePageGB18030,
	Threshold:     128,
	MaxImageDots:  2400, // 30 cm
	QR:            QRNative,
	QRModule:      6,
	Cut:           CutPartial,
	FeedLines:     4,
	Hotline:       "96110",
	StatusTimeout: 2 * time.Second,
	JobTimeout:    30 * time.Second,
	PollInterval:  200 * time.Millisecond,
	WriteTimeout:  10 * time.Second,
	DialTimeout:   3 * time.Second,
}

func (o *Opts) fill() error {
	d := DefaultOpts
	if o.CodePage == "" {
		o.CodePage = d.CodePage
	}
	if o.PaperDots == 0 {
		o.PaperDots = d.PaperDots
	}
	if o.QRModule == 0 {
		o.QRModule = d.QRModule
	}
	if o.Threshold == 0 {
		o.Threshold = d.Threshold // 0 would print no image dots at all
	}
	if o.MaxImageDots == 0 {
		o.MaxImageDots = d.MaxImageDots
	}
	for _, f := range []struct{ v, d *time.Duration }{
		{&o.StatusTimeout, &d.StatusTimeout}, {&o.JobTimeout, &d.JobTimeout}, {&o.PollInterval, &d.PollInterval},
		{&o.WriteTimeout, &d.WriteTimeout}, {&o.DialTimeout, &d.DialTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	_, err := NewEncoder(*o)
	return err
}

// Dev is an ESC/POS printer as an output of kind "printer".
type Dev struct {
	o    Opts
	name string
	c    *printer.Conn[Status]

	confirmed bool // GS r answered for the current job; guarded by the job lock
}

var (
	_ output.Output   = (*Dev)(nil)
	_ health.Reporter = (*Dev)(nil)
)

// New returns a driver on an open link. The link is used until it fails
// and is not reopened; the Open helpers reopen theirs.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	return &Dev{o: o, name: "printer", c: printer.NewConn[Status](rw, o.WriteTimeout)}, nil
}

// NewOpener returns a driver that opens its link with open when it first
// needs it and again after the link fails (a USB printer unplugged and
// plugged back, a TCP connection the printer dropped).
func NewOpener(name string, open printer.Opener, o Opts) (*Dev, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	return &Dev{o: o, name: name, c: printer.NewOpenerConn[Status](open, o.WriteTimeout)}, nil
}

// OpenFile is a printer behind a device file, usually /dev/usb/lp0 (the
// usblp driver; the user needs group lp). Reads return the printer's
// answers only if it has a bidirectional USB interface; otherwise set
// Opts.NoStatus.
func OpenFile(path string, o Opts) (*Dev, error) {
	return NewOpener(path, printer.OpenFile(path), o)
}

// OpenSerial is a printer on a serial port (group dialout).
func OpenSerial(name string, mode serial.Mode, o Opts) (*Dev, error) {
	return NewOpener(name, printer.OpenSerial(name, mode), o)
}

// DialTCP is a network printer's raw port, usually host:9100. The
// connection is kept between jobs and redialled when the printer drops it.
func DialTCP(addr string, o Opts) (*Dev, error) {
	timeout := o.DialTimeout
	if timeout <= 0 {
		timeout = DefaultOpts.DialTimeout
	}
	return NewOpener(addr, printer.DialTCP(addr, timeout), o)
}

// Kind is protocol.OutputPrinter.
func (d *Dev) Kind() string { return protocol.OutputPrinter }

// Health is the state found at the last status check.
func (d *Dev) Health() health.Health { return d.c.Health() }

// LastStatus is the status decoded at the last check.
func (d *Dev) LastStatus() Status { return d.c.LastStatus() }

// Close closes the link.
func (d *Dev) Close() error { return d.c.Close() }

// Check asks the printer for its status (DLE EOT 1..4) and updates Health.
func (d *Dev) Check(ctx context.Context) (Status, error) {
	d.c.Lock()
	defer d.c.Unlock()
	return d.checkLocked(ctx)
}

func (d *Dev) checkLocked(ctx context.Context) (Status, error) {
	return d.c.Check(ctx, d.query, isLinkErr)
}

// isLinkErr reports whether err means the link is gone (and is worth
// reopening), as opposed to a printer that did not answer in time or
// answered nonsense.
func isLinkErr(err error) bool {
	return printer.IsLinkErr(err) && !errors.Is(err, ErrBadStatus)
}

// query sends DLE EOT 1..4 at once (Epson allows up to four in a row) and
// reads the four answers in order. A GS r answer met on the way marks the
// job confirmed; other bytes are skipped.
func (d *Dev) query(ctx context.Context, p *printer.Port) (Status, error) {
	var q []byte
	for n := byte(1); n <= 4; n++ {
		q = append(q, StatusQuery(n)...)
	}
	if err := p.Write(ctx, q); err != nil {
		d.c.SetHealth(false, "printer link: "+err.Error())
		return Status{}, err
	}
	var raw [4]byte
	deadline := time.Now().Add(d.o.StatusTimeout)
	for i := 0; i < 4; {
		b, err := p.Next(ctx, time.Until(deadline))
		if err != nil {
			return Status{}, d.c.ReadFailed(ctx, err, fmt.Sprintf("printer not answering (%d of 4 status bytes in %v)", i, d.o.StatusTimeout))
		}
		switch {
		case IsStatusByte(b):
			raw[i] = b
			i++
		case isPaperByte(b):
			d.confirmed = true
		}
	}
	st, err := DecodeStatus(raw)
	if err != nil {
		d.c.SetHealth(false, err.Error())
		return st, err
	}
	d.c.Record(st, st.Warning())
	return st, nil
}

// Play prints the item and reports whether the printer took it: status
// before the job, the job, GS r 1 answered (the job processed), status
// after. Paper out, cover open, a cutter jam or silence are a failed play
// with that reason. A file that cannot be printed is an error.
func (d *Dev) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	res, err := d.c.Play(ctx, d.o.Clock, time.Duration(it.DurationMS)*time.Millisecond, d.o.NoStatus,
		func(start time.Time) ([]byte, error) { return d.job(it, path, start) }, d.run)
	if err == nil && res.Played && !d.o.NoStatus && d.o.Confirm == ConfirmNone {
		res.Reason = output.Note(output.NoteUnconfirmed, "job confirmation is off for this printer")
	}
	return res, err
}

// run sends one job and returns why it failed, "" if it printed.
func (d *Dev) run(ctx context.Context, job []byte) string {
	d.confirmed = false
	if !d.o.NoStatus && d.o.Confirm == ConfirmGSR {
		job = append(job, PaperQuery()...)
	}
	p, reason := d.c.Send(ctx, job, d.o.NoStatus, d.checkLocked)
	if p == nil {
		return reason
	}
	switch d.o.Confirm {
	case ConfirmNone:
		return ""
	case ConfirmGSR:
		if reason := d.confirm(ctx, p); reason != "" {
			return reason
		}
		// The printer processed the job: it is on paper. A problem the
		// status shows now (the roll ended with it) is recorded in Health
		// by the query and refuses the next job, not this one.
		_, _ = d.c.Poll(ctx, p, d.query, isLinkErr)
		return ""
	}
	_, reason = d.c.Poll(ctx, p, d.query, isLinkErr)
	return reason
}

// confirm waits for the answer to GS r 1, which the printer gives only
// once it has processed the job. Meanwhile it polls DLE EOT, which is
// answered at once, so that a printer that stopped (paper out mid-job)
// fails the play now rather than at JobTimeout.
func (d *Dev) confirm(ctx context.Context, p *printer.Port) string {
	deadline := time.Now().Add(d.o.JobTimeout)
	for !d.confirmed {
		b, err := p.Next(ctx, min(d.o.PollInterval, time.Until(deadline)))
		switch {
		case err == nil:
			if isPaperByte(b) {
				d.confirmed = true
			}
			continue
		case !errors.Is(err, printer.ErrNoAnswer):
			if isLinkErr(err) {
				d.c.SetHealth(false, "printer link: "+err.Error())
				_ = d.c.Drop()
			}
			return "printer link: " + err.Error()
		}
		if _, reason := d.c.Poll(ctx, p, d.query, isLinkErr); reason != "" {
			return reason
		}
		if d.confirmed {
			break
		}
		if !time.Now().Before(deadline) {
			msg := fmt.Sprintf("job not confirmed within %v (printer busy or GS r unsupported)", d.o.JobTimeout)
			d.c.SetHealth(false, msg)
			return msg
		}
	}
	return ""
}

// maxTextFile is the largest text item (the controller's limit is lower).
const maxTextFile = 64 << 10

// job renders the item into printer bytes. Layout: a print template's first
// line is the title (centred, bold, double height), the rest follows as
// written; a text item is printed as written; an image is centred. Text
// and templates end with the hotline's QR code, centred. Then feed and cut.
func (d *Dev) job(it protocol.Item, path string, now time.Time) ([]byte, error) {
	e, err := NewEncoder(d.o)
	if err != nil {
		return nil, err
	}
	e.Init()
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
		s = strings.ReplaceAll(s, "\r\n", "\n")
		title, body, _ := strings.Cut(s, "\n")
		if strings.TrimSpace(title) != "" {
			e.Align(AlignCenter)
			e.Bold(true)
			e.Tall(true)
			if err := e.Line(strings.TrimSpace(title)); err != nil {
				return nil, err
			}
			e.Tall(false)
			e.Bold(false)
			e.Align(AlignLeft)
		}
		if err := d.body(e, body); err != nil {
			return nil, err
		}
	case "text":
		b, err := readLimited(path, maxTextFile)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
		if !utf8.Valid(b) {
			return nil, errors.New("escpos: text item is not valid UTF-8")
		}
		if err := d.body(e, string(b)); err != nil {
			return nil, err
		}
	case "image":
		img, err := printer.DecodeImage("escpos", path)
		if err != nil {
			return nil, err
		}
		e.Align(AlignCenter)
		if err := e.Image(img); err != nil {
			return nil, err
		}
		e.Align(AlignLeft)
	default:
		return nil, fmt.Errorf("escpos: cannot print a %q item", it.Kind)
	}
	e.Cut(d.o.Cut)
	return e.Bytes(), nil
}

func (d *Dev) body(e *Encoder, s string) error {
	s = strings.TrimRight(s, "\r\n \t")
	if s != "" {
		if err := e.Line(s); err != nil {
			return err
		}
	}
	if d.o.QR != QROff && d.o.Hotline != "" {
		e.Align(AlignCenter)
		if err := e.QR("tel:" + d.o.Hotline); err != nil {
			return err
		}
		e.raw(LF)
		e.Align(AlignLeft)
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}
