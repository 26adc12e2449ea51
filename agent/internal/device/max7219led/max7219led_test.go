package max7219led_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/agent/internal/device/max7219led"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func item(kind string, ms int64) protocol.Item {
	return protocol.Item{SHA256: strings.Repeat("cd", 32), Kind: kind, DurationMS: ms}
}

func writeFile(t *testing.T, b string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.txt")
	if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// play runs Play in the background; done closes when it returns, after
// which *res holds the result.
func play(t *testing.T, d *max7219led.Dev, ctx context.Context, it protocol.Item, path string) (done chan struct{}, res *output.Result) {
	t.Helper()
	done, res = make(chan struct{}), new(output.Result)
	go func() {
		defer close(done)
		r, err := d.Play(ctx, it, path)
		if err != nil {
			t.Errorf("Play: %v", err)
		}
		*res = r
	}()
	return done, res
}

// reg is one register write sent to all n modules in one transfer.
func reg(n int, r, v byte) conntest.IO {
	return conntest.IO{W: bytes.Repeat([]byte{r, v}, n)}
}

// frame is the eight digit transfers of one frame; rows[i] holds digit
// d+1 for chain module i (module 0 is nearest the Pi, sent last).
func frame(rows [][8]byte) []conntest.IO {
	var ops []conntest.IO
	n := len(rows)
	for d := 0; d < 8; d++ {
		var w []byte
		for i := n - 1; i >= 0; i-- {
			w = append(w, byte(d+1), rows[i][d])
		}
		ops = append(ops, conntest.IO{W: w})
	}
	return ops
}

func initOps(n int, intensity byte) []conntest.IO {
	ops := []conntest.IO{
		reg(n, 0x0F, 0), // display test off
		reg(n, 0x0C, 0), // shutdown while configuring
		reg(n, 0x09, 0), // no BCD decode: raw dots
		reg(n, 0x0B, 7), // scan all 8 digits
		reg(n, 0x0A, intensity),
	}
	ops = append(ops, frame(make([][8]byte, n))...) // blank
	return append(ops, reg(n, 0x0C, 1))             // normal operation
}

// The exact bytes of the initialisation and of a first frame worked out
// by hand: "HI" in the 5×7 font, centred on a 32×8 board (columns 10-21).
func TestInitAndFirstFrameExactBytes(t *testing.T) {
	ops := initOps(4, 9)
	ops = append(ops, frame([][8]byte{
		{},
		{0x22, 0x22, 0x22, 0x3E, 0x22, 0x22, 0x22, 0}, // H, columns 10-15
		{0x70, 0x20, 0x20, 0x20, 0x20, 0x20, 0x70, 0}, // I, columns 16-21
		{},
	})...)
	ops = append(ops, frame(make([][8]byte, 4))...) // blank when done
	ops = append(ops, frame(make([][8]byte, 4))...) // Close: blank
	ops = append(ops, reg(4, 0x0C, 0))              // and shut down
	pb := &spitest.Playback{Playback: conntest.Playback{Ops: ops, DontPanic: true}}

	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := max7219led.DefaultOpts
	o.Intensity = 9
	o.Clock = clk
	d, err := max7219led.New(pb, &o)
	if err != nil {
		t.Fatal(err)
	}
	done, res := play(t, d, context.Background(), item("text", 5000), writeFile(t, "HI\n"))
	clk.BlockUntil(done, 1)
	clk.Advance(5 * time.Second)
	if <-done; !res.Played || res.Mono != 5*time.Second {
		t.Fatalf("Play = %+v", res)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pb.Close(); err != nil {
		t.Fatalf("playback: %v", err)
	}
}

// decode turns one recorded frame (eight transfers) back into dots, for
// the default wiring: chain module i is column block i, digit = row,
// bit 7 = left.
func decode(t *testing.T, ops []conntest.IO, modules, rows int) *bitmapfont.Bitmap {
	t.Helper()
	n := modules * rows
	bm := bitmapfont.NewBitmap(modules*8, rows*8)
	if len(ops) != 8 {
		t.Fatalf("a frame is 8 transfers, got %d", len(ops))
	}
	for d, op := range ops {
		if len(op.W) != 2*n {
			t.Fatalf("transfer of %d bytes for %d modules", len(op.W), n)
		}
		for pos := 0; pos < n; pos++ {
			if op.W[2*pos] != byte(d+1) {
				t.Fatalf("transfer %d writes register %#x", d, op.W[2*pos])
			}
			i := n - 1 - pos
			v := op.W[2*pos+1]
			for x := 0; x < 8; x++ {
				bm.Set((i%modules)*8+x, (i/modules)*8+d, v&(0x80>>x) != 0)
			}
		}
	}
	return bm
}

func TestScrollFrameByFrame(t *testing.T) {
	rec := &spitest.Record{}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := max7219led.DefaultOpts
	o.Clock = clk
	o.ScrollMS = 40
	d, err := max7219led.New(rec, &o)
	if err != nil {
		t.Fatal(err)
	}
	const text = "CALL 96110"
	want, err := d.Render(item("text", 0), writeFile(t, text))
	if err != nil {
		t.Fatal(err)
	}
	if want.W != 60 {
		t.Fatalf("rendered %d wide", want.W)
	}
	nInit := len(rec.Ops)
	const frames = 100 // more than one pass (60+31 columns): it wraps
	done, res := play(t, d, context.Background(), item("text", frames*40), writeFile(t, text))
	for k := 0; k < frames; k++ {
		if !clk.BlockUntil(done, 1) {
			t.Fatalf("Play returned at frame %d: %+v", k, *res)
		}
		rec.Lock()
		got := len(rec.Ops) - nInit
		ops := rec.Ops[nInit+8*k : nInit+8*k+8]
		rec.Unlock()
		if got != 8*(k+1) {
			t.Fatalf("frame %d: %d transfers so far, want %d", k, got, 8*(k+1))
		}
		x := d.FrameX(want.W, k)
		if g, w := decode(t, ops, 4, 1).String(), want.Sub(x, 0, 32, 8).String(); g != w {
			t.Fatalf("frame %d (text column %d at the left):\n%s\nwant:\n%s", k, x, g, w)
		}
		clk.Advance(40 * time.Millisecond)
	}
	<-done
	if !res.Played || res.Mono != frames*40*time.Millisecond {
		t.Fatalf("Play = %+v", res)
	}
	// Frame 0 shows the first text column at the right edge; one full
	// pass is text width + 31 frames.
	if d.FrameX(60, 0) != -31 || d.FrameX(60, 90) != 59 || d.FrameX(60, 91) != -31 {
		t.Fatal("FrameX")
	}
	rec.Lock()
	last := rec.Ops[len(rec.Ops)-8:]
	rec.Unlock()
	if !decodeBlank(t, last, 4, 1) {
		t.Fatal("display not blanked at the end")
	}
}

func decodeBlank(t *testing.T, ops []conntest.IO, m, r int) bool {
	return !strings.Contains(decode(t, ops, m, r).String(), "#")
}

func TestTwoRowChinese(t *testing.T) {
	font, err := bitmapfont.System()
	if err != nil {
		if errors.Is(err, bitmapfont.ErrNotFound) && os.Getenv("CI") == "" {
			t.Skipf("%v; skipping (set CI to make this fatal)", err)
		}
		t.Fatal(err)
	}
	rec := &spitest.Record{}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := max7219led.DefaultOpts
	o.Rows = 2
	o.Clock = clk
	d, err := max7219led.New(rec, &o)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := d.Size(); w != 32 || h != 16 {
		t.Fatalf("size %dx%d", w, h)
	}
	nInit := len(rec.Ops)
	done, res := play(t, d, context.Background(), item("text", 1000), writeFile(t, "反诈"))
	clk.BlockUntil(done, 1)
	rec.Lock()
	got := decode(t, rec.Ops[nInit:nInit+8], 4, 2)
	rec.Unlock()
	if want := font.Render("反诈"); got.String() != want.String() {
		t.Fatalf("display:\n%s\nwant:\n%s", got, want)
	}
	clk.Advance(time.Second)
	if <-done; !res.Played {
		t.Fatalf("Play = %+v", res)
	}
	// One row of modules cannot show Chinese: refused with the reason.
	one, err := max7219led.New(&spitest.Record{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := one.Play(context.Background(), item("text", 10), writeFile(t, "反诈"))
	if r.Played || !strings.Contains(r.Reason, "16 rows") {
		t.Fatalf("Chinese on 8 rows: %+v", r)
	}
}

func TestWiringOptions(t *testing.T) {
	// A single lit dot at the top-left of the display, under each wiring.
	tests := []struct {
		name  string
		mod   func(*max7219led.Opts)
		index int  // chain module holding it
		digit int  // 0-7
		bits  byte // value
	}{
		{"default", func(*max7219led.Opts) {}, 0, 0, 0x80},
		{"reverse", func(o *max7219led.Opts) { o.Reverse = true }, 3, 0, 0x80},
		{"mirror x", func(o *max7219led.Opts) { o.MirrorX = true }, 0, 0, 0x01},
		{"mirror y", func(o *max7219led.Opts) { o.MirrorY = true }, 0, 7, 0x80},
		{"column digits", func(o *max7219led.Opts) { o.ColumnDigits = true }, 0, 0, 0x01},
		{"upside down", func(o *max7219led.Opts) { o.Rotate180 = true }, 3, 7, 0x01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &spitest.Record{}
			clk := clock.NewFake(time.Unix(0, 0))
			o := max7219led.DefaultOpts
			o.Clock = clk
			tt.mod(&o)
			d, err := max7219led.New(rec, &o)
			if err != nil {
				t.Fatal(err)
			}
			n0 := len(rec.Ops)
			done, _ := play(t, d, context.Background(), item("image", 10), dotPNG(t))
			clk.BlockUntil(done, 1)
			rec.Lock()
			ops := rec.Ops[n0 : n0+8]
			rec.Unlock()
			clk.Advance(10 * time.Millisecond)
			<-done
			op := ops[tt.digit]
			pos := 4 - 1 - tt.index
			for p := 0; p < 4; p++ {
				want := byte(0)
				if p == pos {
					want = tt.bits
				}
				if op.W[2*p+1] != want {
					t.Fatalf("digit %d transfer % X: want %#02x at module %d", tt.digit+1, op.W, tt.bits, tt.index)
				}
			}
		})
	}
}

// dotPNG is a 32×8 image with only its top-left pixel white.
func dotPNG(t *testing.T) string {
	t.Helper()
	return writePNG(t, 32, 8, func(x, y int) bool { return x == 0 && y == 0 })
}

func TestInterruptBlanks(t *testing.T) {
	rec := &spitest.Record{}
	d, err := max7219led.New(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := d.Play(ctx, item("text", 60_000), writeFile(t, "BEWARE OF FAKE POLICE CALLS"))
	if err != nil || res.Played || res.Reason != "interrupted" {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	rec.Lock()
	last := rec.Ops[len(rec.Ops)-8:]
	rec.Unlock()
	if !decodeBlank(t, last, 4, 1) {
		t.Fatal("not blanked after interruption")
	}
}

// chain is a wire-level fake of a MAX7219 chain whose last DOUT is wired
// back to MISO: each transfer returns what the previous one shifted in.
// Cut makes it return zeros, as a broken chain would.
type chain struct {
	spitest.Record
	mu   sync.Mutex
	prev []byte
	cut  atomic.Bool
}

func (c *chain) Connect(f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	return &chainConn{c}, nil
}

type chainConn struct{ c *chain }

func (cc *chainConn) String() string               { return "chain" }
func (cc *chainConn) Duplex() conn.Duplex          { return conn.Full }
func (cc *chainConn) TxPackets([]spi.Packet) error { return errors.New("not implemented") }
func (cc *chainConn) Tx(w, r []byte) error {
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	if r != nil {
		for i := range r {
			r[i] = 0
		}
		if !cc.c.cut.Load() {
			copy(r, cc.c.prev)
		}
	}
	cc.c.prev = append([]byte(nil), w...)
	return nil
}

func TestLoopback(t *testing.T) {
	ch := &chain{}
	o := max7219led.DefaultOpts
	o.Loopback = true
	d, err := max7219led.New(ch, &o)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := d.Play(context.Background(), item("text", 10), writeFile(t, "OK"))
	if !res.Played || !d.Health().OK {
		t.Fatalf("intact chain: %+v %+v", res, d.Health())
	}
	ch.cut.Store(true)
	res, _ = d.Play(context.Background(), item("text", 10), writeFile(t, "OK"))
	if res.Played || !strings.Contains(res.Reason, "chain") || d.Health().OK {
		t.Fatalf("broken chain: %+v %+v", res, d.Health())
	}
}

// failPort is an SPI port whose bus fails on demand.
type failPort struct {
	spitest.Record
	broken atomic.Bool
}

func (f *failPort) Connect(fr physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	c, err := f.Record.Connect(fr, m, bits)
	return &failConn{Conn: c, f: f}, err
}

type failConn struct {
	spi.Conn
	f *failPort
}

func (c *failConn) Tx(w, r []byte) error {
	if c.f.broken.Load() {
		return errors.New("spidev: input/output error")
	}
	return c.Conn.Tx(w, r)
}

func TestBusFailure(t *testing.T) {
	p := &failPort{}
	d, err := max7219led.New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.broken.Store(true)
	res, err := d.Play(context.Background(), item("text", 10), writeFile(t, "X"))
	if err != nil || res.Played || !strings.Contains(res.Reason, "spi:") {
		t.Fatalf("Play = %+v, %v", res, err)
	}
	if h := d.Health(); h.OK || !strings.Contains(h.LastError, "input/output") {
		t.Fatalf("health %+v", h)
	}
	if _, err := max7219led.New(p, &max7219led.Opts{Modules: 0}); err == nil {
		t.Fatal("bad options accepted")
	}
}

func TestOpenSPI(t *testing.T) {
	// On this machine periph finds no SPI: a clear error, not a panic.
	_, err := max7219led.OpenSPI("SPI9.9", nil)
	if err == nil || !strings.Contains(err.Error(), "no SPI port SPI9.9: is spi enabled in /boot/config.txt") {
		t.Fatalf("OpenSPI on a machine without SPI: %v", err)
	}
	// A port registered with spireg is found by name, as on a Pi.
	rec := &spitest.Record{}
	if err := spireg.Register("SPI7.0", nil, -1, func() (spi.PortCloser, error) { return rec, nil }); err != nil {
		t.Fatal(err)
	}
	defer spireg.Unregister("SPI7.0")
	d, err := max7219led.OpenSPI("SPI7.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetIntensity(15); err != nil {
		t.Fatal(err)
	}
	if err := d.SetIntensity(16); err == nil {
		t.Fatal("intensity 16 accepted")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Lock()
	defer rec.Unlock()
	if n := len(rec.Ops); n != 14+1+9 || !bytes.Equal(rec.Ops[14].W, bytes.Repeat([]byte{0x0A, 15}, 4)) {
		t.Fatalf("%d transfers, intensity transfer % X", n, rec.Ops[14].W)
	}
}

func TestConformance(t *testing.T) {
	var port *failPort
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputLED,
		New: func(t *testing.T) output.Output {
			port = &failPort{}
			o := max7219led.DefaultOpts
			o.ScrollMS = 20
			d, err := max7219led.New(port, &o)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Good: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: item("text", 200), Path: writeFile(t, "DO NOT TRANSFER")}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			port.Lock()
			defer port.Unlock()
			// init (14) + at least one frame (8) + the final blank (8)
			if len(port.Ops) < 14+8+8 {
				t.Fatalf("only %d transfers on the bus", len(port.Ops))
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: item("text", 200), Path: filepath.Join(t.TempDir(), "missing")}
		},
		Fail: func(t *testing.T) string {
			port.broken.Store(true)
			return "spi:"
		},
		Long: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: item("text", 3000), Path: writeFile(t, "SCROLLING ANTI-FRAUD WARNING")}
		},
	})
}
