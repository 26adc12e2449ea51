package escpos_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	"github.com/guardcast/guardcast/agent/internal/device/escpos/escpostest"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// opts are fast timeouts for loopback: a silent printer fails in 300 ms.
func opts() escpos.Opts {
	o := escpos.DefaultOpts
	o.Site = "Example Bank 河滨支行"
	o.StatusTimeout = 300 * time.Millisecond
	o.JobTimeout = 2 * time.Second
	o.PollInterval = 50 * time.Millisecond
	return o
}

func fake(t *testing.T) *escpostest.Printer {
	t.Helper()
	p, err := escpostest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *escpostest.Printer, o escpos.Opts) *escpos.Dev {
	t.Helper()
	d, err := escpos.DialTCP(p.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func reminder(testing.TB) (protocol.Item, string) {
	return protocol.Item{Kind: "print", Title: "reminder"}, filepath.Join("testdata", "reminder.tpl")
}

func TestPlayGood(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	it, path := reminder(t)
	res, err := d.Play(context.Background(), it, path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Played || res.Reason != "" {
		t.Fatalf("not played: %+v", res)
	}
	r := p.Record()
	if len(r.Lines) == 0 || r.Lines[0] != "防范电信诈骗 温馨提示" {
		t.Fatalf("title not printed as Chinese text: %q", r.Lines)
	}
	all := strings.Join(r.Lines, "\n")
	for _, want := range []string{"陌生来电要求转账到“安全账户”，一定是诈骗。", "Example Bank 河滨支行", "反诈热线 Anti-fraud hotline: 96110"} {
		if !strings.Contains(all, want) {
			t.Errorf("printed text lacks %q:\n%s", want, all)
		}
	}
	if len(r.QRs) != 1 || r.QRs[0] != "tel:96110" {
		t.Errorf("QR codes %q, want [tel:96110]", r.QRs)
	}
	if len(r.Cuts) != 1 || !r.Cuts[0] {
		t.Errorf("cuts %v, want one partial", r.Cuts)
	}
	if r.PaperQueries != 1 || len(r.Queries) != 8 {
		t.Errorf("queries: %d GS r, DLE EOT %v; want 1 and 1..4 twice", r.PaperQueries, r.Queries)
	}
	if h := d.Health(); !h.OK || h.Checked.IsZero() {
		t.Errorf("health %+v after a good job", h)
	}
	if len(r.Unknown) != 0 {
		t.Errorf("fake did not understand commands %x", r.Unknown)
	}
}

func TestPlayImage(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	img := image.NewGray(image.Rect(0, 0, 1000, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 256)
	}
	img.SetGray(0, 0, color.Gray{})
	path := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res, err := d.Play(context.Background(), protocol.Item{Kind: "image"}, path)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	r := p.Record()
	// 1000x200 scaled to the 576 printable dots: 115 rows.
	if len(r.Rasters) != 1 || r.Rasters[0].WidthDots != 576 || r.Rasters[0].Height != 115 {
		t.Fatalf("rasters %+v, want one 576x115", r.Rasters)
	}
	if len(r.QRs) != 0 || len(r.Cuts) != 1 {
		t.Fatalf("image job: QRs %v, cuts %v", r.QRs, r.Cuts)
	}
}

func TestPlayFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(p *escpostest.Printer)
		reason string
		inJob  bool // the job reached the printer
	}{
		{name: "paper end before", setup: func(p *escpostest.Printer) { p.SetState(escpostest.State{PaperEnd: true}) }, reason: "paper end"},
		{name: "cover open before", setup: func(p *escpostest.Printer) { p.SetState(escpostest.State{CoverOpen: true}) }, reason: "cover open"},
		{name: "cutter error", setup: func(p *escpostest.Printer) { p.SetState(escpostest.State{CutterError: true}) }, reason: "cutter error"},
		// 12 bytes of queries, then 100 bytes into the job.
		{name: "paper end mid-job", setup: func(p *escpostest.Printer) { p.FailAfter(112, escpostest.State{PaperEnd: true}) }, reason: "paper end", inJob: true},
		{name: "cutter jams at the cut", setup: func(p *escpostest.Printer) { p.FailAfter(12+320, escpostest.State{CutterError: true}) }, reason: "cutter error", inJob: true},
		{name: "silent", setup: func(p *escpostest.Printer) { p.SetState(escpostest.State{Silent: true}) }, reason: "printer not answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fake(t)
			d := dial(t, p, opts())
			tt.setup(p)
			it, path := reminder(t)
			start := time.Now()
			res, err := d.Play(context.Background(), it, path)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("failure took %v to report", took)
			}
			if res.Played {
				t.Fatal("failure reported as played")
			}
			if !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("reason %q, want %q", res.Reason, tt.reason)
			}
			h := d.Health()
			if h.OK || !strings.Contains(h.LastError, tt.reason) {
				t.Fatalf("health %+v, want not OK with %q", h, tt.reason)
			}
			if got := p.Record().Inits > 0; got != tt.inJob {
				t.Fatalf("job sent = %v, want %v", got, tt.inJob)
			}
			// The printer recovers: the next play goes through.
			p.SetState(escpostest.State{})
			res, err = d.Play(context.Background(), it, path)
			if err != nil || !res.Played {
				t.Fatalf("after recovery: %+v, %v", res, err)
			}
			if h := d.Health(); !h.OK || !strings.Contains(h.LastError, tt.reason) {
				t.Fatalf("health after recovery %+v: want OK, last error kept", h)
			}
		})
	}
}

func TestBadMedia(t *testing.T) {
	p := fake(t)
	o := opts()
	o.CodePage = escpos.CodePageASCII
	d := dial(t, p, o)
	dir := t.TempDir()
	write := func(name, s string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tt := range []struct {
		name string
		it   protocol.Item
		path string
		want string
	}{
		{"missing", protocol.Item{Kind: "text"}, filepath.Join(dir, "nope.txt"), "no such file"},
		{"not an image", protocol.Item{Kind: "image"}, write("x.png", "hello"), "image"},
		{"bad template", protocol.Item{Kind: "print"}, write("x.tpl", "{{range .Site}}{{end}}"), "not allowed"},
		{"unencodable in ASCII", protocol.Item{Kind: "text"}, write("x.txt", "热线 96110"), "not encodable"},
		{"control character", protocol.Item{Kind: "text"}, write("y.txt", "a\x1b@b"), "control character"},
		{"video", protocol.Item{Kind: "video"}, write("x.mp4", "x"), "cannot print"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Play(context.Background(), tt.it, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Play = %+v, %v; want error with %q", res, err, tt.want)
			}
		})
	}
	if r := p.Record(); r.Bytes != 0 {
		t.Fatalf("bad media sent %d bytes to the printer", r.Bytes)
	}
}

// The printer closes idle connections; the driver redials.
func TestRedial(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	it, path := reminder(t)
	for i := 0; i < 3; i++ {
		res, err := d.Play(context.Background(), it, path)
		if err != nil || !res.Played {
			t.Fatalf("play %d: %+v, %v", i, res, err)
		}
		p.HangUp()
	}
	if r := p.Record(); len(r.Cuts) != 3 {
		t.Fatalf("%d jobs printed, want 3", len(r.Cuts))
	}
}

func TestSerialPty(t *testing.T) {
	master, slave := ptyPair(t)
	p := escpostest.New()
	defer p.Close()
	defer slave.Close() // with every slave fd closed, the master's reads end
	p.Attach(master)
	d, err := escpos.OpenSerial(slave.Name(), serial.Mode{BaudRate: 115200}, opts())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	it, path := reminder(t)
	res, err := d.Play(context.Background(), it, path)
	if err != nil || !res.Played {
		t.Fatalf("Play over pty = %+v, %v", res, err)
	}
	if r := p.Record(); len(r.Lines) == 0 || r.Lines[0] != "防范电信诈骗 温馨提示" {
		t.Fatalf("printed %q", r.Lines)
	}
	p.SetState(escpostest.State{CoverOpen: true})
	res, err = d.Play(context.Background(), it, path)
	if err != nil || res.Played || res.Reason != "cover open" {
		t.Fatalf("cover open over pty = %+v, %v", res, err)
	}
}

// ptyPair opens a pty whose master is non-blocking, so that closing it
// ends a pending read (creack/pty hands out a blocking one).
func ptyPair(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no pty: %v", err)
		}
		t.Skipf("no pty: %v", err)
	}
	fd, err := syscall.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), s
}

func TestConformance(t *testing.T) {
	var cur *escpostest.Printer
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputPrinter,
		New: func(t *testing.T) output.Output {
			cur = fake(t)
			return dial(t, cur, opts())
		},
		Good: func(t *testing.T) outputtest.Case {
			it, path := reminder(t)
			return outputtest.Case{Item: it, Path: path}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			if r := cur.Record(); len(r.Cuts) != 1 || len(r.Lines) == 0 {
				t.Fatalf("fake printed %d lines, %d cuts", len(r.Lines), len(r.Cuts))
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Kind: "image"}, Path: filepath.Join(t.TempDir(), "missing.png")}
		},
		Fail: func(t *testing.T) string {
			cur.SetState(escpostest.State{PaperEnd: true})
			return "paper end"
		},
		Long: func(t *testing.T) outputtest.Case {
			it, path := reminder(t)
			it.DurationMS = 3000
			return outputtest.Case{Item: it, Path: path}
		},
	})
}

// writeOnly is a link whose reads fail as Linux usblp's do for a printer
// without a bidirectional interface.
type writeOnly struct{ net.Conn }

func (writeOnly) Read([]byte) (int, error) { return 0, syscall.EINVAL }

func TestNoStatusLink(t *testing.T) {
	for _, noStatus := range []bool{false, true} {
		t.Run(fmt.Sprint("NoStatus=", noStatus), func(t *testing.T) {
			p := fake(t)
			o := opts()
			o.NoStatus = noStatus
			d, err := escpos.NewOpener("usblp", func(ctx context.Context) (io.ReadWriteCloser, error) {
				c, err := net.Dial("tcp", p.Addr())
				return writeOnly{c}, err
			}, o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			it, path := reminder(t)
			for i := 0; i < 2; i++ {
				res, err := d.Play(context.Background(), it, path)
				if err != nil {
					t.Fatal(err)
				}
				h := d.Health()
				if !noStatus {
					if res.Played || !strings.Contains(res.Reason, "set NoStatus") || h.OK {
						t.Fatalf("unreadable link: %+v, health %+v", res, h)
					}
					continue
				}
				if !res.Played || !h.OK || !strings.Contains(h.LastError, "not confirmed") || !strings.HasPrefix(res.Reason, "unconfirmed") {
					t.Fatalf("NoStatus: %+v, health %+v", res, h)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			want := 0
			if noStatus {
				want = 2
			}
			if err := p.Wait(ctx, func(r escpostest.Record) bool { return len(r.Cuts) == want }); err != nil {
				t.Fatal(err, p.Record().Cuts)
			}
		})
	}
}

// TestConfirmDLEEOT: a printer without GS r, told so, prints each job
// without waiting out the job timeout; told gs_r, it fails the job.
func TestConfirmDLEEOT(t *testing.T) {
	p := fake(t)
	p.SetState(escpostest.State{NoGSR: true})
	o := opts()
	o.JobTimeout = time.Minute // a wait for GS r would show
	o.Confirm = escpos.ConfirmDLEEOT
	d := dial(t, p, o)
	it, path := reminder(t)
	for i := 0; i < 3; i++ {
		start := time.Now()
		res, err := d.Play(context.Background(), it, path)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Played || res.Reason != "" {
			t.Fatalf("job %d: %+v", i, res)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("job %d took %v", i, took)
		}
	}
	if r := p.Record(); r.PaperQueries != 0 || len(r.Cuts) != 3 {
		t.Fatalf("dle_eot sent %d GS r, printed %d cuts", r.PaperQueries, len(r.Cuts))
	}

	// The same printer with gs_r: the job is not confirmed.
	o.JobTimeout = 300 * time.Millisecond
	o.Confirm = escpos.ConfirmGSR
	res, err := dial(t, p, o).Play(context.Background(), it, path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Played || !strings.Contains(res.Reason, "not confirmed") {
		t.Fatalf("gs_r on a printer without it: %+v", res)
	}
}

// TestConfirmNone: the job is written, the status before it still asked
// (paper out still fails), and a printed job says it is unconfirmed.
func TestConfirmNone(t *testing.T) {
	p := fake(t)
	p.SetState(escpostest.State{NoGSR: true})
	o := opts()
	o.Confirm = escpos.ConfirmNone
	d := dial(t, p, o)
	it, path := reminder(t)
	res, err := d.Play(context.Background(), it, path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Played || !strings.HasPrefix(res.Reason, output.NoteUnconfirmed+": ") {
		t.Fatalf("confirm none: %+v", res)
	}
	p.SetState(escpostest.State{PaperEnd: true})
	if res, _ = d.Play(context.Background(), it, path); res.Played || res.Reason != "paper end" {
		t.Fatalf("paper out with confirm none: %+v", res)
	}
}

// TestConfirmedThenPaperEnd: the paper runs out just after a job that the
// printer confirmed (GS r answered). That job is played; the paper end
// shows in Health and fails the next job.
func TestConfirmedThenPaperEnd(t *testing.T) {
	p := fake(t)
	o := opts()
	o.PollInterval = 5 * time.Second // wait for the GS r answer, not a poll
	d := dial(t, p, o)
	it, path := reminder(t)
	if res, err := d.Play(context.Background(), it, path); err != nil || !res.Played {
		t.Fatalf("first job: %+v %v", res, err)
	}
	// A job is: DLE EOT 1..4 (12 bytes), the job and GS r 1, DLE EOT 1..4.
	perJob := p.Record().Bytes
	p.Reset()
	p.FailAfter(perJob-12, escpostest.State{PaperEnd: true})
	res, err := d.Play(context.Background(), it, path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Played || res.Reason != "" {
		t.Fatalf("confirmed job before the paper end: %+v", res)
	}
	if r := p.Record(); r.PaperQueries != 1 || len(r.Cuts) != 1 {
		t.Fatalf("record: %d GS r, %d cuts", r.PaperQueries, len(r.Cuts))
	}
	if h := d.Health(); h.OK || h.LastError != "paper end" {
		t.Fatalf("health after the confirmed job: %+v", h)
	}
	res, err = d.Play(context.Background(), it, path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Played || res.Reason != "paper end" {
		t.Fatalf("next job: %+v", res)
	}
}
