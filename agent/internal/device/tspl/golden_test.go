package tspl

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
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
	printertest.Golden(t, name, got, *update, quote)
}

func quote(b []byte) string { return fmt.Sprintf("%q", b) }

var goldenTime = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

func testDev(t *testing.T, mod func(*Opts)) *Dev {
	t.Helper()
	o := DefaultOpts
	o.Site = "顺丰驿站"
	o.Location = time.UTC
	o.Clock = clock.NewFake(goldenTime)
	if mod != nil {
		mod(&o)
	}
	d, err := New(&bytes.Buffer{}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestGoldenLabel(t *testing.T) {
	d := testDev(t, nil)
	job, err := d.job(protocol.Item{Kind: "print"}, "testdata/label.tpl", goldenTime)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "label-60x40-gb18030.bin", job)

	d = testDev(t, func(o *Opts) {
		o.WidthMM, o.HeightMM, o.GapMM, o.Direction, o.QRCell = 100, 30, 0, 0, 0
		o.Font, o.FontWidth, o.FontHeight, o.CodePage, o.Replace = "3", 16, 24, CodePageASCII, true
	})
	path := filepath.Join(t.TempDir(), "x.txt")
	if err := os.WriteFile(path, []byte("Anti-fraud hotline 96110 \"call\"\n反诈"), 0o600); err != nil {
		t.Fatal(err)
	}
	job, err = d.job(protocol.Item{Kind: "text"}, path, goldenTime)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "label-100x30-ascii.bin", job)
}

func TestGoldenBitmap(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			if (x/4+y/4)%2 == 0 {
				img.SetNRGBA(x, y, color.NRGBA{A: 255})
			} else {
				img.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			}
		}
	}
	d := testDev(t, nil)
	e, err := NewEncoder(d.o)
	if err != nil {
		t.Fatal(err)
	}
	e.Setup()
	if err := d.image(e, img); err != nil {
		t.Fatal(err)
	}
	e.Print()
	golden(t, "bitmap-checker.bin", e.Bytes())
}

func TestGoldenStatusQuery(t *testing.T) {
	golden(t, "esc-status.bin", StatusQuery())
}

func TestDoesNotFit(t *testing.T) {
	d := testDev(t, func(o *Opts) { o.HeightMM = 15 })
	if _, err := d.job(protocol.Item{Kind: "print"}, "testdata/label.tpl", goldenTime); err == nil {
		t.Fatal("a template taller than the label was laid out")
	}
}

func TestWrap(t *testing.T) {
	got := wrap("反诈热线96110abc", 5*12, 12)
	want := []string{"反诈", "热线9", "6110a", "bc"}
	if len(got) != len(want) {
		t.Fatalf("wrap = %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("wrap = %q, want %q", got, want)
		}
	}
}
