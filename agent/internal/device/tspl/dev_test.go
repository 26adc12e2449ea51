package tspl_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/tspl"
	"github.com/guardcast/guardcast/agent/internal/device/tspl/tspltest"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func opts() tspl.Opts {
	o := tspl.DefaultOpts
	o.Site = "顺丰驿站"
	o.StatusTimeout = 300 * time.Millisecond
	o.JobTimeout = 2 * time.Second
	o.PollInterval = 20 * time.Millisecond
	o.Settle = 100 * time.Millisecond
	return o
}

func fake(t testing.TB) *tspltest.Printer {
	t.Helper()
	p, err := tspltest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t testing.TB, p *tspltest.Printer, o tspl.Opts) *tspl.Dev {
	t.Helper()
	d, err := tspl.DialTCP(p.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func label() (protocol.Item, string) {
	return protocol.Item{Kind: "print"}, filepath.Join("testdata", "label.tpl")
}

func TestPlayGood(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	it, path := label()
	res, err := d.Play(context.Background(), it, path)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	r := p.Record()
	if len(r.Labels) != 1 {
		t.Fatalf("%d labels printed", len(r.Labels))
	}
	l := r.Labels[0]
	var texts []string
	for _, e := range l.Texts {
		if e.Font != "TSS24.BF2" {
			t.Errorf("font %q", e.Font)
		}
		texts = append(texts, e.Content)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"谨防电信诈骗", "顺丰驿站", `快递员不会让您"扫码退款"`, "反诈热线 96110"} {
		if !strings.Contains(all, want) {
			t.Errorf("label lacks %q:\n%s", want, all)
		}
	}
	if len(l.QRs) != 1 || l.QRs[0] != "tel:96110" {
		t.Errorf("QRs %q", l.QRs)
	}
	if r.Setup["SIZE"] != "60 mm,40 mm" || r.Setup["GAP"] != "2 mm,0 mm" {
		t.Errorf("setup %v", r.Setup)
	}
	// One query before, then polls until the printing bit (2 answers) clears.
	if r.Queries != 4 {
		t.Errorf("%d status queries, want 4", r.Queries)
	}
	if h := d.Health(); !h.OK {
		t.Errorf("health %+v", h)
	}
}

func TestPlayImage(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	path := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, image.NewGray(image.Rect(0, 0, 900, 300)))
	f.Close()
	res, err := d.Play(context.Background(), protocol.Item{Kind: "image"}, path)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	// 900x300 fitted into 448x288 dots: 448 wide (56 bytes), 149 high.
	r := p.Record()
	if len(r.Labels) != 1 || len(r.Labels[0].Bitmaps) != 1 {
		t.Fatalf("labels %+v", r.Labels)
	}
	if b := r.Labels[0].Bitmaps[0]; b.WidthBytes != 56 || b.Height != 149 {
		t.Fatalf("bitmap %d bytes x %d", b.WidthBytes, b.Height)
	}
	if r.Commands[len(r.Commands)-1] != "PRINT" {
		t.Fatalf("commands %v: bitmap data swallowed what followed", r.Commands)
	}
}

func TestPlayFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		setup  func(p *tspltest.Printer)
		reason string
		label  bool
	}{
		{"paper out before", func(p *tspltest.Printer) { p.SetStatus(tspltest.PaperOut) }, "paper out", false},
		{"head open", func(p *tspltest.Printer) { p.SetStatus(tspltest.HeadOpen) }, "head open", false},
		{"ribbon out", func(p *tspltest.Printer) { p.SetStatus(tspltest.RibbonOut) }, "ribbon out", false},
		{"paused", func(p *tspltest.Printer) { p.SetStatus(tspltest.Paused) }, "paused", false},
		// 3 bytes of query, then into the job: the label never prints.
		{"paper out mid-job", func(p *tspltest.Printer) { p.FailAfter(100, tspltest.PaperOut) }, "paper out", false},
		// The label printed, then the paper ran out while it fed.
		{"jam after print", func(p *tspltest.Printer) {
			// The golden file is this job, byte for byte but for the date.
			fi, err := os.Stat("testdata/label-60x40-gb18030.bin")
			if err != nil {
				panic(err)
			}
			p.SetPrintFor(5)
			p.FailAfter(3+fi.Size()+2*3, tspltest.PaperJam) // at the third poll
		}, "paper jam", true},
		{"silent", func(p *tspltest.Printer) { p.SetSilent(true) }, "printer not answering", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := fake(t)
			d := dial(t, p, opts())
			tt.setup(p)
			it, path := label()
			start := time.Now()
			res, err := d.Play(context.Background(), it, path)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if res.Played || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("result %+v, want failed with %q", res, tt.reason)
			}
			if h := d.Health(); h.OK || !strings.Contains(h.LastError, tt.reason) {
				t.Fatalf("health %+v", h)
			}
			if got := len(p.Record().Labels) > 0; got != tt.label {
				t.Fatalf("label printed = %v, want %v", got, tt.label)
			}
			p.SetSilent(false)
			p.SetStatus(0)
			if res, err := d.Play(context.Background(), it, path); err != nil || !res.Played {
				t.Fatalf("after recovery: %+v, %v", res, err)
			}
		})
	}
}

func TestBadMedia(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	dir := t.TempDir()
	long := filepath.Join(dir, "long.txt")
	os.WriteFile(long, []byte(strings.Repeat("反诈热线 96110\n", 20)), 0o600)
	for _, tt := range []struct {
		it   protocol.Item
		path string
		want string
	}{
		{protocol.Item{Kind: "text"}, long, "does not fit"},
		{protocol.Item{Kind: "image"}, filepath.Join(dir, "none.png"), "no such file"},
		{protocol.Item{Kind: "audio"}, long, "cannot print"},
	} {
		if _, err := d.Play(context.Background(), tt.it, tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.it.Kind, err, tt.want)
		}
	}
	if n := p.Record().Bytes; n != 0 {
		t.Fatalf("bad media sent %d bytes", n)
	}
}

func TestRedial(t *testing.T) {
	p := fake(t)
	d := dial(t, p, opts())
	it, path := label()
	for i := 0; i < 3; i++ {
		if res, err := d.Play(context.Background(), it, path); err != nil || !res.Played {
			t.Fatalf("play %d: %+v, %v", i, res, err)
		}
		p.HangUp()
	}
	if n := len(p.Record().Labels); n != 3 {
		t.Fatalf("%d labels", n)
	}
}

func TestSerialPty(t *testing.T) {
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
	syscall.SetNonblock(fd, true)
	p := tspltest.New()
	defer p.Close()
	defer s.Close()
	p.Attach(os.NewFile(uintptr(fd), "/dev/ptmx"))
	d, err := tspl.OpenSerial(s.Name(), serial.Mode{BaudRate: 9600}, opts())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	it, path := label()
	if res, err := d.Play(context.Background(), it, path); err != nil || !res.Played {
		t.Fatalf("Play over pty = %+v, %v", res, err)
	}
	if n := len(p.Record().Labels); n != 1 {
		t.Fatalf("%d labels", n)
	}
}

func TestConformance(t *testing.T) {
	var cur *tspltest.Printer
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputPrinter,
		New: func(t *testing.T) output.Output {
			cur = fake(t)
			return dial(t, cur, opts())
		},
		Good: func(t *testing.T) outputtest.Case {
			it, path := label()
			return outputtest.Case{Item: it, Path: path}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			if n := len(cur.Record().Labels); n != 1 {
				t.Fatalf("%d labels", n)
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Kind: "print"}, Path: filepath.Join(t.TempDir(), "none.tpl")}
		},
		Fail: func(t *testing.T) string {
			cur.SetStatus(tspltest.PaperOut)
			return "paper out"
		},
		Long: func(t *testing.T) outputtest.Case {
			it, path := label()
			it.DurationMS = 3000
			return outputtest.Case{Item: it, Path: path}
		},
	})
}

// BenchmarkPlayFirstByte: Play start to the first byte at the fake (the
// <ESC>!? query) and to the first job byte (SIZE), over loopback TCP.
func BenchmarkPlayFirstByte(b *testing.B) {
	p := fake(b)
	o := opts()
	o.Settle = time.Millisecond
	d := dial(b, p, o)
	p.SetPrintFor(0)
	it, path := label()
	var first, job time.Duration
	for b.Loop() {
		p.Reset()
		start := time.Now()
		if res, err := d.Play(context.Background(), it, path); err != nil || !res.Played {
			b.Fatalf("%+v, %v", res, err)
		}
		r := p.Record()
		first += r.FirstByte.Sub(start)
		job += r.FirstJob.Sub(start)
	}
	b.ReportMetric(float64(first.Microseconds())/float64(b.N), "µs-to-first-byte")
	b.ReportMetric(float64(job.Microseconds())/float64(b.N), "µs-to-job-byte")
}
