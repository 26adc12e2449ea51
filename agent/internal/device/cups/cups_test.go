package cups_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/agent/internal/device/cups"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCUPS puts the fake lp and lpstat of testdata/ first on PATH and
// returns their directory of records, set to scenario.
func fakeCUPS(t *testing.T, scenario string) string {
	t.Helper()
	bin := t.TempDir()
	for _, name := range []string{"lp", "lpstat"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	t.Setenv("FAKECUPS_DIR", dir)
	setScenario(t, dir, scenario)
	return dir
}

func setScenario(t *testing.T, dir, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "scenario"), []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func needUnifont(t *testing.T) {
	t.Helper()
	if _, err := bitmapfont.System(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v", err)
		}
		t.Skipf("%v", err)
	}
}

func newDev(t *testing.T, mod func(*cups.Opts)) *cups.Dev {
	t.Helper()
	o := cups.DefaultOpts
	o.Queue = "keycard"
	o.Site = "Harbour Hotel 海港酒店"
	o.PollInterval = 5 * time.Millisecond
	o.JobTimeout = 2 * time.Second
	o.TempDir = t.TempDir()
	if mod != nil {
		mod(&o)
	}
	d, err := cups.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var reminder = filepath.Join("..", "..", "..", "..", "media", "keycard-reminder.tpl")

func TestPlayCompleted(t *testing.T) {
	needUnifont(t)
	dir := fakeCUPS(t, "completed")
	tmp := t.TempDir()
	d := newDev(t, func(o *cups.Opts) { o.TempDir = tmp })
	res, err := d.Play(context.Background(), protocol.Item{Kind: "print", Title: "keycard reminder"}, reminder)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	calls := read(t, dir, "lp-calls")
	if !strings.HasPrefix(calls, "-d keycard -t keycard reminder -o fit-to-page -- ") {
		t.Fatalf("lp called with %q", calls)
	}
	img, err := png.Decode(strings.NewReader(read(t, dir, "printed")))
	if err != nil {
		t.Fatalf("lp was not given a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1012 || b.Dy() != 638 {
		t.Fatalf("card image %v", b)
	}
	dark := 0
	for y := 0; y < 638; y++ {
		for x := 0; x < 1012; x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				dark++
			}
		}
	}
	if dark < 5000 {
		t.Fatalf("card image nearly blank: %d dark pixels", dark)
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Fatalf("rendered file left behind: %v", left)
	}
	if h := d.Health(); !h.OK {
		t.Fatalf("health %+v", h)
	}
}

func TestPlayText(t *testing.T) {
	dir := fakeCUPS(t, "stuck")
	d := newDev(t, func(o *cups.Opts) { o.Render = cups.RenderText; o.Options = []string{"media=CR80", "fit-to-page"} })
	res, err := d.Play(context.Background(), protocol.Item{Kind: "print"}, reminder)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	if got := read(t, dir, "printed"); !strings.Contains(got, "防范电信诈骗") || !strings.Contains(got, "Harbour Hotel 海港酒店") {
		t.Fatalf("printed text %q", got)
	}
	if polls := strings.TrimSpace(read(t, dir, "polls")); polls != "4" {
		t.Fatalf("%s polls of a job stuck for 3", polls)
	}
	if calls := read(t, dir, "lp-calls"); !strings.Contains(calls, "-o media=CR80 -o fit-to-page") {
		t.Fatalf("lp called with %q", calls)
	}
}

func TestPlayImage(t *testing.T) {
	dir := fakeCUPS(t, "completed")
	d := newDev(t, nil)
	path := filepath.Join(t.TempDir(), "card.png")
	os.WriteFile(path, []byte("\x89PNG fake"), 0o600)
	res, err := d.Play(context.Background(), protocol.Item{Kind: "image"}, path)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	if calls := read(t, dir, "lp-calls"); !strings.HasSuffix(strings.TrimSpace(calls), "-- "+path) {
		t.Fatalf("lp called with %q", calls)
	}
}

func TestPlayFailures(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		reason   string
		lp       bool // lp was run
	}{
		{"disabled", "printer disabled: Ribbon out", false},
		{"disabled-later", "printer disabled: Ribbon out", true},
		{"stopped", "job keycard-42 stopped: Card jam", true},
		{"aborted", "job keycard-42 ended aborted-by-system: Ribbon empty", true},
		{"vanished", "left the queue without a completed record", true},
		{"forever", "not completed within 200ms", true},
		{"rejecting", `lp: Destination "keycard" is not accepting jobs.`, true},
		{"garbled", "lp printed no request id", true},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			dir := fakeCUPS(t, tt.scenario)
			d := newDev(t, func(o *cups.Opts) { o.Render = cups.RenderText; o.JobTimeout = 200 * time.Millisecond })
			res, err := d.Play(context.Background(), protocol.Item{Kind: "print"}, reminder)
			if err != nil {
				t.Fatal(err)
			}
			if res.Played || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("result %+v, want failed with %q", res, tt.reason)
			}
			if h := d.Health(); h.OK || !strings.Contains(h.LastError, tt.reason) {
				t.Fatalf("health %+v", h)
			}
			if ran := read(t, dir, "lp-calls") != ""; ran != tt.lp {
				t.Fatalf("lp ran = %v, want %v", ran, tt.lp)
			}
		})
	}
}

func TestMissingCommands(t *testing.T) {
	d := newDev(t, func(o *cups.Opts) { o.LPStat = filepath.Join(t.TempDir(), "no-lpstat"); o.Render = cups.RenderText })
	if _, err := d.Play(context.Background(), protocol.Item{Kind: "print"}, reminder); err == nil {
		t.Fatal("a missing lpstat is not an error")
	}
}

func TestBadMedia(t *testing.T) {
	dir := fakeCUPS(t, "completed")
	d := newDev(t, func(o *cups.Opts) { o.Render = cups.RenderText })
	bad := filepath.Join(t.TempDir(), "bad.tpl")
	os.WriteFile(bad, []byte("{{.Password}}"), 0o600)
	for _, c := range []struct {
		it   protocol.Item
		path string
	}{
		{protocol.Item{Kind: "print"}, bad},
		{protocol.Item{Kind: "image"}, filepath.Join(t.TempDir(), "none.png")},
		{protocol.Item{Kind: "video"}, bad},
	} {
		if _, err := d.Play(context.Background(), c.it, c.path); err == nil {
			t.Errorf("%s %s: no error", c.it.Kind, c.path)
		}
	}
	if calls := read(t, dir, "lp-calls"); calls != "" {
		t.Fatalf("lp ran for bad media: %q", calls)
	}
}

func TestCheck(t *testing.T) {
	dir := fakeCUPS(t, "completed")
	d := newDev(t, nil)
	p, err := d.Check(context.Background())
	if err != nil || !p.Enabled || p.State != "idle" {
		t.Fatalf("Check = %+v, %v", p, err)
	}
	setScenario(t, dir, "disabled")
	p, err = d.Check(context.Background())
	if err != nil || p.Enabled || p.Message != "Ribbon out" || d.Health().OK {
		t.Fatalf("Check = %+v, %v, health %+v", p, err, d.Health())
	}
}

func TestConformance(t *testing.T) {
	var dir string
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputPrinter,
		New: func(t *testing.T) output.Output {
			dir = fakeCUPS(t, "completed")
			return newDev(t, func(o *cups.Opts) { o.Render = cups.RenderText })
		},
		Good: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Kind: "print"}, Path: reminder}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			if !strings.Contains(read(t, dir, "printed"), "96110") {
				t.Fatal("lp was not given the reminder")
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Kind: "text"}, Path: filepath.Join(t.TempDir(), "none.txt")}
		},
		Fail: func(t *testing.T) string {
			setScenario(t, dir, "disabled")
			return "printer disabled"
		},
		Long: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Kind: "print", DurationMS: 3000}, Path: reminder}
		},
	})
}

// BenchmarkPlayToLP measures Play's start to lp starting (rendering the
// card PNG in Unifont and forking), the CUPS share of "trigger to first
// byte"; what cupsd and the card printer then take is theirs.
func BenchmarkPlayToLP(b *testing.B) {
	if _, err := bitmapfont.System(); err != nil {
		b.Skip(err)
	}
	bin := b.TempDir()
	for _, name := range []string{"lp", "lpstat"} {
		data, _ := os.ReadFile(filepath.Join("testdata", name))
		os.WriteFile(filepath.Join(bin, name), data, 0o755)
	}
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "scenario"), []byte("completed"), 0o600)
	b.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b.Setenv("FAKECUPS_DIR", dir)
	o := cups.DefaultOpts
	o.Queue, o.PollInterval, o.TempDir = "keycard", time.Millisecond, b.TempDir()
	d, err := cups.New(o)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		if res, err := d.Play(context.Background(), protocol.Item{Kind: "print"}, reminder); err != nil || !res.Played {
			b.Fatalf("%+v %v", res, err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "lp-started"))
		ns, _ := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		total += time.Unix(0, ns).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-to-lp")
}
