package escpos

import (
	"bytes"
	"encoding/hex"
	"flag"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/printer/printertest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	printertest.Golden(t, name, got, *update, hex.Dump)
}

var goldenTime = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

func testOpts() Opts {
	o := DefaultOpts
	o.Site = "Example Bank 河滨支行"
	o.Unit = "bank-012"
	o.Location = time.UTC
	o.Clock = clock.NewFake(goldenTime)
	return o
}

// testImage is a 100x40 picture: a black frame, a grey gradient and a
// half-transparent block, enough to exercise threshold and alpha.
func testImage() image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, 100, 40))
	for y := 0; y < 40; y++ {
		for x := 0; x < 100; x++ {
			c := color.NRGBA{uint8(x * 255 / 99), uint8(x * 255 / 99), uint8(x * 255 / 99), 255}
			if x < 2 || x > 97 || y < 2 || y > 37 {
				c = color.NRGBA{0, 0, 0, 255}
			}
			if x >= 60 && x < 80 && y >= 10 && y < 30 {
				c = color.NRGBA{0, 0, 0, 60} // mostly transparent: paper shows
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func TestGoldenReminder(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*Opts)
	}{
		{"reminder-gb18030.bin", func(*Opts) {}},
		{"reminder-qr-raster-58mm.bin", func(o *Opts) { o.PaperDots, o.QR, o.QRModule, o.Cut = 384, QRRaster, 4, CutFull }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := testOpts()
			tt.mod(&o)
			d, err := New(&bytes.Buffer{}, o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			job, err := d.job(protocol.Item{Kind: "print"}, "testdata/reminder.tpl", goldenTime)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, job)
		})
	}
}

func TestGoldenRaster(t *testing.T) {
	e, err := NewEncoder(DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	e.Init()
	if err := e.Image(testImage()); err != nil {
		t.Fatal(err)
	}
	e.Cut(CutPartial)
	golden(t, "raster-100x40.bin", e.Bytes())

	// Wider than the paper: scaled to 384 dots, 300 rows in two bands.
	wide := image.NewGray(image.Rect(0, 0, 768, 600))
	for i := range wide.Pix {
		wide.Pix[i] = 255
	}
	for y := 0; y < 600; y += 2 {
		wide.Pix[y*768+y] = 0
	}
	o := DefaultOpts
	o.PaperDots = 384
	e, _ = NewEncoder(o)
	if err := e.Image(wide); err != nil {
		t.Fatal(err)
	}
	golden(t, "raster-scaled-384.bin", e.Bytes())
}

func TestGoldenQueries(t *testing.T) {
	for n := byte(1); n <= 4; n++ {
		golden(t, "dle-eot-"+string('0'+n)+".bin", StatusQuery(n))
	}
	golden(t, "gs-r-1.bin", PaperQuery())
}

func TestGoldenASCII(t *testing.T) {
	o := DefaultOpts
	o.CodePage, o.Replace, o.QR = CodePageCP437, true, QROff
	e, err := NewEncoder(o)
	if err != nil {
		t.Fatal(err)
	}
	e.Init()
	if err := e.Line("Café 96110 热线"); err != nil {
		t.Fatal(err)
	}
	e.Cut(CutNone)
	golden(t, "cp437-replace.bin", e.Bytes())
}
