// Package cups prints through a CUPS queue with the lp and lpstat commands:
// hotel keycard printers (Evolis, Zebra, …) whose vendors ship CUPS
// drivers and nothing else, as a GuardCast output of kind "printer".
//
// A print template or text item is rendered to a PNG — the text in the
// bitmap font of package bitmapfont (Debian's Unifont, CJK included), the
// hotline's QR code at the top right — sized like the card, and sent with
// -o fit-to-page; an image item is sent as it is. Plain text can be sent
// instead (Opts.Render = RenderText), leaving the fonts to CUPS's
// texttopdf filter.
//
// lp's "request id is QUEUE-N" names the job; the driver then polls
// `lpstat -l -W not-completed -o QUEUE` until the job leaves the queue,
// and `lpstat -l -W completed -o QUEUE` to learn how it ended: only
// job-completed-successfully is a played item. A stopped or held job, a
// disabled queue (`lpstat -p QUEUE`, with CUPS's reason), a cancelled or
// aborted job or one still queued at Opts.JobTimeout fails the play with
// that reason. The queue must keep job history (cupsd's default
// PreserveJobHistory Yes), or a finished job cannot be told from a lost one.
//
// Commands run in the C locale, so their output is the English this
// package parses; their paths come from Opts so tests can put fakes first.
package cups

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/printtmpl"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Render says what a text or template item is sent as.
type Render int

const (
	RenderPNG  Render = iota // drawn in the bitmap font, sent as a PNG with fit-to-page
	RenderText               // sent as UTF-8 text; CUPS's fonts decide how Chinese looks
)

// Opts describes the queue. Queue is required; start from DefaultOpts.
type Opts struct {
	Queue   string   // CUPS queue name (lp -d)
	LP      string   // lp command, looked up in PATH
	LPStat  string   // lpstat command
	Options []string // lp -o options, e.g. "fit-to-page", "media=CR80"

	Render                            Render
	WidthDots, HeightDots, MarginDots int // PNG canvas: a CR80 card at 300 dpi is 1012 × 638
	QRModule                          int // PNG pixels per QR module; 0: no QR code

	// What print templates are filled with; the hotline is also the QR
	// payload ("tel:"+Hotline). Room is left empty: a keycard's room
	// number needs per-play data the Output interface does not carry.
	Site, Unit, Hotline string
	Location            *time.Location // nil: time.Local
	Clock               clock.Clock    // nil: the system clock
	TempDir             string         // where rendered files wait for lp; "": os.TempDir()

	PollInterval   time.Duration // lpstat polling
	JobTimeout     time.Duration // longest a job may take to complete
	CommandTimeout time.Duration // longest one lp or lpstat run
}

// DefaultOpts: a CR80 card at 300 dpi, fitted to the page.
var DefaultOpts = Opts{
	LP: "lp", LPStat: "lpstat", Options: []string{"fit-to-page"},
	WidthDots: 1012, HeightDots: 638, MarginDots: 40, QRModule: 5, Hotline: "96110",
	PollInterval: 500 * time.Millisecond, JobTimeout: 2 * time.Minute, CommandTimeout: 15 * time.Second,
}

// Dev is a CUPS queue as an output.
type Dev struct {
	o    Opts
	font *bitmapfont.Font

	mu     sync.Mutex // one job at a time
	hmu    sync.Mutex
	health health.Health
}

var (
	_ output.Output   = (*Dev)(nil)
	_ health.Reporter = (*Dev)(nil)
)

// New checks o and returns the driver. With RenderPNG it loads the
// system's Unifont (once per process), or the built-in ASCII font where
// Unifont is not installed: Chinese items then fail, naming the package.
func New(o Opts) (*Dev, error) {
	d := DefaultOpts
	if o.LP == "" {
		o.LP = d.LP
	}
	if o.LPStat == "" {
		o.LPStat = d.LPStat
	}
	for _, f := range []struct{ v, d *time.Duration }{
		{&o.PollInterval, &d.PollInterval}, {&o.JobTimeout, &d.JobTimeout}, {&o.CommandTimeout, &d.CommandTimeout},
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
	if o.Queue == "" || strings.ContainsAny(o.Queue, " \t\n/#") || strings.HasPrefix(o.Queue, "-") {
		return nil, fmt.Errorf("cups: bad queue name %q", o.Queue)
	}
	for _, opt := range o.Options {
		if opt == "" || strings.HasPrefix(opt, "-") {
			return nil, fmt.Errorf("cups: bad lp option %q", opt)
		}
	}
	dev := &Dev{o: o}
	if o.Render == RenderPNG {
		if o.WidthDots < 100 || o.HeightDots < 100 || o.MarginDots < 0 || o.QRModule < 0 {
			return nil, fmt.Errorf("cups: canvas %d × %d, margin %d, QR module %d", o.WidthDots, o.HeightDots, o.MarginDots, o.QRModule)
		}
		f, err := bitmapfont.System()
		if err != nil {
			f = bitmapfont.Builtin()
		}
		dev.font = f
	}
	return dev, nil
}

// Kind is protocol.OutputPrinter.
func (d *Dev) Kind() string { return protocol.OutputPrinter }

// Health is what the last lpstat said about the queue.
func (d *Dev) Health() health.Health {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	return d.health
}

func (d *Dev) setHealth(ok bool, msg string) {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	d.health.OK, d.health.Checked = ok, time.Now()
	if msg != "" {
		d.health.LastError = msg
	}
}

// Check asks `lpstat -p QUEUE` whether the queue is enabled, and updates
// Health.
func (d *Dev) Check(ctx context.Context) (Printer, error) {
	out, err := d.command(ctx, d.o.LPStat, "-p", d.o.Queue)
	if err != nil {
		d.setHealth(false, err.Error())
		return Printer{}, err
	}
	p, err := ParsePrinter(out, d.o.Queue)
	if err != nil {
		d.setHealth(false, err.Error())
		return Printer{}, err
	}
	if !p.Enabled {
		d.setHealth(false, disabled(p))
	} else {
		d.setHealth(true, "")
	}
	return p, nil
}

func disabled(p Printer) string {
	if p.Message == "" {
		return "printer disabled"
	}
	return "printer disabled: " + p.Message
}

// command runs name with args in the C locale and returns its standard
// output; a failure carries its standard error.
func (d *Dev) command(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if msg := trim(stderr.String()); msg != "" {
			return stdout.String(), fmt.Errorf("%s: %s (%w)", filepath.Base(name), msg, err)
		}
		return stdout.String(), fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return stdout.String(), nil
}

// Play submits the item with lp and follows the job until CUPS says it
// completed. A queue or job problem is a failed play with CUPS's reason;
// an item that cannot be rendered, or lp/lpstat missing, is an error.
func (d *Dev) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	clk := d.o.Clock
	start := clk.Now()
	res := output.Result{Start: start}
	file, cleanup, err := d.prepare(it, path, start)
	if err != nil {
		return res, err
	}
	defer cleanup()

	d.mu.Lock()
	reason, err := d.run(ctx, it, file)
	d.mu.Unlock()
	if err != nil {
		return res, err
	}
	if reason == "" {
		res.Played = true
		if rest := time.Duration(it.DurationMS)*time.Millisecond - clk.Since(start); rest > 0 {
			select {
			case <-clk.After(rest):
			case <-ctx.Done():
			}
		}
	} else if ctx.Err() != nil {
		reason = "interrupted: " + reason
	}
	res.Reason = reason
	res.End = clk.Now()
	res.Mono = clk.Since(start)
	return res, nil
}

func (d *Dev) run(ctx context.Context, it protocol.Item, file string) (string, error) {
	if p, err := d.Check(ctx); err != nil {
		if notInstalled(err) {
			return "", err // lpstat is missing: this output cannot work at all
		}
		return err.Error(), nil
	} else if !p.Enabled {
		return disabled(p), nil
	}
	args := []string{"-d", d.o.Queue}
	if t := jobTitle(it); t != "" {
		args = append(args, "-t", t)
	}
	for _, opt := range d.o.Options {
		args = append(args, "-o", opt)
	}
	args = append(args, "--", file)
	out, err := d.command(ctx, d.o.LP, args...)
	if err != nil {
		if notInstalled(err) {
			return "", err
		}
		d.setHealth(false, err.Error())
		return err.Error(), nil
	}
	id, err := ParseRequestID(out)
	if err != nil {
		d.setHealth(false, err.Error())
		return err.Error(), nil
	}
	return d.track(ctx, id), nil
}

// notInstalled reports whether err is a command that could not be started
// at all (cups-client not installed, a wrong path in Opts).
func notInstalled(err error) bool {
	var ee *exec.Error
	return errors.As(err, &ee) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

func jobTitle(it protocol.Item) string {
	t := it.Title
	if t == "" && len(it.SHA256) >= 12 {
		t = "guardcast " + it.SHA256[:12]
	}
	var b strings.Builder
	for _, r := range t {
		if r >= 0x20 && r != 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// track polls lpstat until job id is no longer queued, then reads how it
// ended.
func (d *Dev) track(ctx context.Context, id string) string {
	deadline := time.Now().Add(d.o.JobTimeout)
	for {
		out, err := d.command(ctx, d.o.LPStat, "-l", "-W", "not-completed", "-o", d.o.Queue)
		if err != nil {
			return d.fail("lpstat: " + err.Error())
		}
		job, queued := FindJob(ParseJobs(out), id)
		if !queued {
			break
		}
		switch {
		case job.Has("job-stopped"), job.Has("printer-stopped"):
			return d.fail(withStatus("job "+id+" stopped", job))
		case job.Has("job-hold-until-specified"), job.Has("job-held-on-create"):
			return d.fail(withStatus("job "+id+" held", job))
		}
		if p, err := d.Check(ctx); err == nil && !p.Enabled {
			return disabled(p)
		}
		if !time.Now().Before(deadline) {
			return d.fail(withStatus(fmt.Sprintf("job %s not completed within %v", id, d.o.JobTimeout), job))
		}
		t := time.NewTimer(d.o.PollInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "job " + id + " still queued"
		}
	}
	out, err := d.command(ctx, d.o.LPStat, "-l", "-W", "completed", "-o", d.o.Queue)
	if err != nil {
		return d.fail("lpstat: " + err.Error())
	}
	job, ok := FindJob(ParseJobs(out), id)
	switch {
	case !ok:
		return d.fail("job " + id + " left the queue without a completed record (is PreserveJobHistory off?)")
	case job.Has("job-completed-successfully"), len(job.Alerts) == 0:
		// No Alerts line at all: a CUPS too old to list reasons; the job
		// is in the completed list and that is all it can say.
		d.setHealth(true, "")
		return ""
	}
	return d.fail(withStatus("job "+id+" ended "+strings.Join(job.Alerts, " "), job))
}

func withStatus(s string, j Job) string {
	if j.Status != "" {
		return s + ": " + j.Status
	}
	return s
}

func (d *Dev) fail(msg string) string {
	d.setHealth(false, msg)
	return msg
}

// maxTextFile is the largest text item read.
const maxTextFile = 64 << 10

// prepare returns the file lp prints and a cleanup for it.
func (d *Dev) prepare(it protocol.Item, path string, now time.Time) (string, func(), error) {
	noop := func() {}
	var text string
	switch it.Kind {
	case "image":
		if _, err := os.Stat(path); err != nil {
			return "", noop, err
		}
		return path, noop, nil
	case "print":
		t, err := printtmpl.Load(path)
		if err != nil {
			return "", noop, err
		}
		local := now.In(d.o.Location)
		text, err = t.Render(printtmpl.Data{
			Date: local.Format(printtmpl.DateLayout), Time: local.Format(printtmpl.TimeLayout),
			Site: d.o.Site, Unit: d.o.Unit, Hotline: d.o.Hotline,
		})
		if err != nil {
			return "", noop, err
		}
	case "text":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", noop, err
		}
		if len(b) > maxTextFile {
			return "", noop, fmt.Errorf("cups: text item larger than %d bytes", maxTextFile)
		}
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
		if !utf8.Valid(b) {
			return "", noop, errors.New("cups: text item is not valid UTF-8")
		}
		text = string(b)
	default:
		return "", noop, fmt.Errorf("cups: cannot print a %q item", it.Kind)
	}
	var data []byte
	ext := ".txt"
	if d.o.Render == RenderPNG {
		img, err := d.renderCard(text)
		if err != nil {
			return "", noop, err
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return "", noop, err
		}
		data, ext = buf.Bytes(), ".png"
	} else {
		data = []byte(text)
	}
	f, err := os.CreateTemp(d.o.TempDir, "guardcast-print-*"+ext)
	if err != nil {
		return "", noop, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := f.Write(data); err != nil {
		f.Close()
		cleanup()
		return "", noop, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", noop, err
	}
	return f.Name(), cleanup, nil
}
