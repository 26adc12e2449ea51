package alpha_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/alpha"
	"github.com/guardcast/guardcast/agent/internal/device/alpha/alphatest"
	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastOpts paces the line for a fake that needs no settling.
func fastOpts() alpha.Opts {
	o := alpha.DefaultOpts
	o.PacketGap = 0
	o.ConfigSettle = 0
	o.DotsPause = 5 * time.Millisecond
	o.ReadTimeout = 2 * time.Second
	return o
}

func needUnifont(t testing.TB) *bitmapfont.Font {
	t.Helper()
	f, err := bitmapfont.System()
	if err != nil {
		if errors.Is(err, bitmapfont.ErrNotFound) && os.Getenv("CI") == "" {
			t.Skipf("%v; skipping (set CI to make this fatal)", err)
		}
		t.Fatal(err)
	}
	return f
}

// ptySign is a fake sign on a pty and the driver on its serial side.
func ptySign(t *testing.T, o alpha.Opts) (*alpha.Sign, *alphatest.Sign) {
	t.Helper()
	return ptySignWith(t, o, alphatest.Options{})
}

func ptySignWith(t *testing.T, o alpha.Opts, fo alphatest.Options) (*alpha.Sign, *alphatest.Sign) {
	t.Helper()
	fake := alphatest.New(fo)
	path, err := fake.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	s, err := alpha.OpenSerial(path, &o)
	if err != nil {
		fake.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		fake.Close()
		if errs := fake.Errors(); len(errs) > 0 {
			t.Errorf("the fake sign saw bad transmissions: %v", errs)
		}
	})
	return s, fake
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func item(kind string, ms int64) protocol.Item {
	return protocol.Item{SHA256: strings.Repeat("ab", 32), Kind: kind, Title: "anti-fraud", DurationMS: ms}
}

func TestPlayTextOverPTY(t *testing.T) {
	s, fake := ptySign(t, fastOpts())
	path := writeFile(t, "m.txt", []byte("Never share your SMS code\r\nCall 96110\n"))
	res, err := s.Play(context.Background(), item("text", 50), path)
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	got, _ := fake.Text('A')
	if want := "\x1b0aNever share your SMS code Call 96110"; string(got) != want {
		t.Fatalf("sign holds %q, want %q", got, want)
	}
	if res.Mono < 50*time.Millisecond || res.End.Before(res.Start) {
		t.Fatalf("times %+v", res)
	}
	if h := s.Health(); !h.OK || h.Checked.IsZero() {
		t.Fatalf("health %+v", h)
	}
	// Write, then read back: nothing else on the wire for ASCII.
	var codes []byte
	for _, p := range fake.Packets() {
		codes = append(codes, p.Commands[0].Code)
	}
	if string(codes) != "AB" {
		t.Fatalf("commands on the wire %q, want \"AB\"", codes)
	}
}

func TestPlayChineseAsDotsOverPTY(t *testing.T) {
	font := needUnifont(t)
	o := fastOpts()
	o.Font = font
	o.Width = 32 // two pictures for four characters
	s, fake := ptySign(t, o)
	path := writeFile(t, "m.txt", []byte("反诈热线\n"))
	for i := range 2 {
		res, err := s.Play(context.Background(), item("text", 10), path)
		if err != nil || !res.Played {
			t.Fatalf("play %d = %+v, %v", i, res, err)
		}
	}
	got, _ := fake.Text('A')
	if string(got) != "\x1b0a\x14B\x14C" {
		t.Fatalf("TEXT file %q", got)
	}
	bm := font.Render("反诈热线")
	for i, label := range []byte("BC") {
		p, ok := fake.Picture(label)
		if !ok || p.Width() != 32 || p.Height() != 16 {
			t.Fatalf("picture %q: %v %dx%d", label, ok, p.Width(), p.Height())
		}
		for y := range 16 {
			for x := range 32 {
				if want := bm.At(i*32+x, y); (p.Rows[y][x] == '1') != want {
					t.Fatalf("picture %q dot (%d,%d) wrong", label, x, y)
				}
			}
		}
	}
	// Memory is configured once (read, write, read), not on every play.
	var sets, reads int
	for _, p := range fake.Packets() {
		switch c := p.Commands[0]; {
		case c.Code == alpha.WriteSpecial && c.Data[0] == '$':
			sets++
		case c.Code == alpha.ReadSpecial:
			reads++
		}
	}
	if sets != 1 || reads != 2 {
		t.Fatalf("memory configured %d times, read %d times; want 1 and 2", sets, reads)
	}
}

// An RS-485 adapter that echoes our own transmissions: the echo is not
// taken for the sign's answer.
func TestEchoingLine(t *testing.T) {
	font := needUnifont(t)
	o := fastOpts()
	o.Font = font
	s, fake := ptySignWith(t, o, alphatest.Options{Echo: true})
	for _, text := range []string{"HELLO", "反诈"} {
		res, err := s.Play(context.Background(), item("text", 10), writeFile(t, "m.txt", []byte(text)))
		if err != nil || !res.Played {
			t.Fatalf("%s over an echoing line: %+v, %v", text, res, err)
		}
	}
	if fake.Reads() == 0 {
		t.Fatal("no reads answered")
	}
}

// A transmit-only sign: written, not read back, counted as played.
func TestWithoutReadBack(t *testing.T) {
	o := fastOpts()
	o.ReadBack = false
	s, fake := ptySign(t, o)
	fake.SetSilent(true)
	res, err := s.Play(context.Background(), item("text", 10), writeFile(t, "m.txt", []byte("ONE WAY")))
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	if got, _ := fake.Text('A'); string(got) != "\x1b0aONE WAY" {
		t.Fatalf("sign holds %q", got)
	}
	if fake.Reads() != 0 {
		t.Fatal("read back anyway")
	}
}

func TestPlayImageAsDots(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 20; x++ {
			img.Set(x, y, color.White)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	s, fake := ptySign(t, fastOpts())
	res, err := s.Play(context.Background(), item("image", 10), writeFile(t, "i.png", buf.Bytes()))
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	p, _ := fake.Picture('B')
	// 20×16 after scaling, centred in 96: dots 38..47 lit, 48..57 dark.
	if p.Rows[0][38] != '1' || p.Rows[15][47] != '1' || p.Rows[0][48] != '0' || p.Rows[0][37] != '0' {
		t.Fatalf("picture row 0 %s", p.Rows[0])
	}
}

func TestPlayOverTCP(t *testing.T) {
	fake := alphatest.New(alphatest.Options{})
	addr, err := fake.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	o := fastOpts()
	s, err := alpha.DialTCP(context.Background(), addr, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Play(context.Background(), item("text", 10), writeFile(t, "m.txt", []byte("HELLO")))
	if err != nil || !res.Played {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	if got, _ := fake.Text('A'); string(got) != "\x1b0aHELLO" {
		t.Fatalf("sign holds %q", got)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// The serial server drops the connection: the next play redials.
	fake.Hangup()
	res, err = s.Play(context.Background(), item("text", 10), writeFile(t, "m.txt", []byte("AGAIN")))
	if err != nil || !res.Played {
		t.Fatalf("play after hang-up = %+v, %v", res, err)
	}
	if got, _ := fake.Text('A'); string(got) != "\x1b0aAGAIN" {
		t.Fatalf("sign holds %q after redial", got)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(*alphatest.Sign)
		want   string
	}{
		{"silent sign", func(f *alphatest.Sign) { f.SetSilent(true) }, "sign did not answer"},
		{"bad checksum", func(f *alphatest.Sign) { f.SetCorrupt(alphatest.CorruptChecksum) }, "sign answer corrupt"},
		{"other contents", func(f *alphatest.Sign) { f.SetCorrupt(alphatest.CorruptContent) }, "read-back mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fastOpts()
			o.ReadTimeout = 300 * time.Millisecond
			s, fake := ptySign(t, o)
			tt.break_(fake)
			start := time.Now()
			res, err := s.Play(context.Background(), item("text", 10), writeFile(t, "m.txt", []byte("HELLO")))
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("a failing play took %v", took)
			}
			if err != nil || res.Played || !strings.Contains(res.Reason, tt.want) {
				t.Fatalf("Play = %+v, %v; want a failure saying %q", res, err, tt.want)
			}
			if h := s.Health(); h.OK || !strings.Contains(h.LastError, tt.want) {
				t.Fatalf("health %+v", h)
			}
			// The sign comes back: so does health.
			fake.SetSilent(false)
			fake.SetCorrupt(alphatest.CorruptNone)
			if res, _ := s.Play(context.Background(), item("text", 10), writeFile(t, "m.txt", []byte("HELLO"))); !res.Played {
				t.Fatalf("recovered play: %+v", res)
			}
			if h := s.Health(); !h.OK || h.LastError == "" {
				t.Fatalf("health after recovery %+v", h)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	s, _ := ptySign(t, fastOpts())
	tests := []struct {
		name string
		it   protocol.Item
		data []byte
		want string
	}{
		{"audio", item("audio", 10), []byte("x"), "cannot play"},
		{"not utf-8", item("text", 10), []byte{0xff, 0xfe}, "not UTF-8"},
		{"empty", item("text", 10), []byte(" \n"), "empty"},
		{"bad image", item("image", 10), []byte("not a png"), "image"},
		{"too long", item("text", 10), bytes.Repeat([]byte("A"), 2000), "TEXT file holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Play(context.Background(), tt.it, writeFile(t, "m", tt.data))
			if err != nil || res.Played || !strings.Contains(res.Reason, tt.want) {
				t.Fatalf("Play = %+v, %v; want refusal %q", res, err, tt.want)
			}
		})
	}
	if _, err := s.Play(context.Background(), item("text", 10), "/nonexistent"); err == nil {
		t.Fatal("a missing file was not an error")
	}
	// Without Unifont (built-in font only) Chinese is refused, not boxed.
	o := fastOpts()
	o.Font = bitmapfont.Builtin()
	b, _ := ptySign(t, o)
	res, _ := b.Play(context.Background(), item("text", 10), writeFile(t, "m", []byte("反诈")))
	if res.Played || !strings.Contains(res.Reason, "no glyphs") {
		t.Fatalf("Chinese with the built-in font: %+v", res)
	}
}

func TestHoldOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := fastOpts()
	o.Clock = clk
	s, _ := ptySign(t, o)
	path := writeFile(t, "m.txt", []byte("HOLD ME"))
	done := make(chan output.Result)
	go func() {
		res, _ := s.Play(context.Background(), item("text", 60_000), path)
		done <- res
	}()
	clk.BlockUntil(nil, 1)
	clk.Advance(59_999 * time.Millisecond)
	select {
	case res := <-done:
		t.Fatalf("finished early: %+v", res)
	default:
	}
	clk.Advance(time.Millisecond)
	res := <-done
	if !res.Played || res.Mono != time.Minute {
		t.Fatalf("hold: %+v", res)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		res, _ := s.Play(ctx, item("text", 60_000), path)
		done <- res
	}()
	clk.BlockUntil(nil, 1)
	cancel()
	if res := <-done; res.Played || res.Reason != "interrupted" {
		t.Fatalf("cancelled hold: %+v", res)
	}
}

func TestOptsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*alpha.Opts)
	}{
		{"address", func(o *alpha.Opts) { o.Address = "0G" }},
		{"label", func(o *alpha.Opts) { o.Label = '?' }},
		{"picture label clashes", func(o *alpha.Opts) { o.PictureLabels = "BA" }},
		{"baud", func(o *alpha.Opts) { o.Serial.Baud = 12345 }},
		{"parity", func(o *alpha.Opts) { o.Serial.Parity = 'X' }},
		{"width", func(o *alpha.Opts) { o.Width = 0 }},
		{"sync", func(o *alpha.Opts) { o.Sync = 2 }},
		{"depth", func(o *alpha.Opts) { o.ColorDepth = 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := alpha.DefaultOpts
			tt.mod(&o)
			if _, err := alpha.New(nil, &o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := alpha.ParseMode("wipe_in"); err != nil {
		t.Fatal(err)
	}
	if _, err := alpha.ParsePosition("sideways"); err == nil {
		t.Fatal("bad position accepted")
	}
}

func TestConformance(t *testing.T) {
	var fake *alphatest.Sign
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputLED,
		New: func(t *testing.T) output.Output {
			o := fastOpts()
			o.ReadTimeout = 300 * time.Millisecond
			var s *alpha.Sign
			s, fake = ptySign(t, o)
			return s
		},
		Good: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: item("text", 100), Path: writeFile(t, "m.txt", []byte("CALL 96110 BEFORE YOU PAY"))}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			if got, _ := fake.Text('A'); !bytes.HasSuffix(got, []byte("CALL 96110 BEFORE YOU PAY")) {
				t.Fatalf("sign holds %q", got)
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: item("text", 100), Path: filepath.Join(t.TempDir(), "missing.txt")}
		},
		Fail: func(t *testing.T) string {
			fake.SetSilent(true)
			return "sign did not answer"
		},
		Long: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: item("text", 3000), Path: writeFile(t, "m.txt", []byte("LONG"))}
		},
	})
}
