package bitmapfont

import (
	"compress/gzip"
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needUnifont skips without the system font, except under CI where a
// missing package is a broken image and must fail.
func needUnifont(t testing.TB) *Font {
	t.Helper()
	f, err := System()
	if err != nil {
		if errors.Is(err, ErrNotFound) && os.Getenv("CI") == "" {
			t.Skipf("%v; skipping (set CI to make this fatal)", err)
		}
		t.Fatalf("System: %v", err)
	}
	return f
}

func TestParseHex(t *testing.T) {
	const half = "00000000000000000000000000000000"
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, f *Font)
	}{
		{
			name: "narrow and wide",
			in: "0041:0000000018242442427E424242420000\r\n\n" +
				"53CD:0000" + "0FFC" + strings.Repeat("8001", 14) + "\n",
			check: func(t *testing.T, f *Font) {
				a, ok := f.Glyph('A')
				if !ok || a.W != 8 || a.H != 16 {
					t.Fatalf("A: ok %v %dx%d", ok, a.W, a.H)
				}
				// Row 4 is 0x18: dots 3 and 4.
				for x := 0; x < 8; x++ {
					if got, want := a.At(x, 4), x == 3 || x == 4; got != want {
						t.Errorf("A(%d,4) = %v", x, got)
					}
				}
				w, ok := f.Glyph('反')
				if !ok || w.W != 16 {
					t.Fatalf("反: ok %v w %d", ok, w.W)
				}
				if !w.At(4, 1) || w.At(3, 1) || !w.At(0, 2) || !w.At(15, 2) { // row 1 is 0x0FFC, then 0x8001
					t.Errorf("反 row 1 wrong:\n%s", w.String())
				}
			},
		},
		{name: "six digit code point", in: "10FFFF:" + half + "\n", check: func(t *testing.T, f *Font) {
			if !f.Has(0x10FFFF) {
				t.Fatal("missing U+10FFFF")
			}
		}},
		{name: "empty", in: "\n\n", wantErr: "no glyphs"},
		{name: "no colon", in: "0041" + half + "\n", wantErr: "line 1"},
		{name: "short code point", in: "41:" + half + "\n", wantErr: "line 1"},
		{name: "bad code point", in: "00G1:" + half + "\n", wantErr: "bad code point"},
		{name: "beyond unicode", in: "110000:" + half + "\n", wantErr: "bad code point"},
		{name: "odd width", in: "0041:" + half + "00\n", wantErr: "want 32"},
		{name: "bad digit", in: "0041:" + strings.Repeat("0", 31) + "x\n", wantErr: "bad hex digit"},
		{name: "second line bad", in: "0041:" + half + "\n0042:00\n", wantErr: "line 2"},
		{name: "overlong line", in: "0041:" + strings.Repeat("0", 5000) + "\n", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseHex(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
}

func FuzzParseHex(f *testing.F) {
	f.Add([]byte("0041:0000000018242442427E424242420000\n"))
	f.Add([]byte("53CD:0000" + "0FFC" + strings.Repeat("8001", 14) + "\n"))
	f.Add([]byte("\r\n10FFFF:00000000000000000000000000000000"))
	f.Add([]byte("zz:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		font, err := ParseHex(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		// Whatever parsed must render without panicking, every glyph
		// 16 high and 8 or 16 wide.
		for r := range font.glyphs {
			g, ok := font.Glyph(r)
			if !ok || g.H != 16 || (g.W != 8 && g.W != 16) {
				t.Fatalf("glyph %U: ok %v %dx%d", r, ok, g.W, g.H)
			}
		}
		_ = font.Render(string(data))
	})
}

func TestBuiltin(t *testing.T) {
	f := Builtin()
	if f.Len() != 95 || f.Height() != 8 {
		t.Fatalf("builtin: %d glyphs, height %d", f.Len(), f.Height())
	}
	for r := rune(0x21); r < 0x7f; r++ {
		g, ok := f.Glyph(r)
		if !ok || g.W != 6 {
			t.Fatalf("%q: ok %v w %d", r, ok, g.W)
		}
		lit := false
		for y := 0; y < 8; y++ {
			if g.At(5, y) || (y == 7 && g.At(0, y)) {
				t.Fatalf("%q: spacing column/row not dark:\n%s", r, g.String())
			}
			for x := 0; x < 5; x++ {
				lit = lit || g.At(x, y)
			}
		}
		if !lit {
			t.Fatalf("%q is blank", r)
		}
	}
	a, _ := f.Glyph('A')
	want := ".###..\n#...#.\n#...#.\n#####.\n#...#.\n#...#.\n#...#.\n......\n"
	if a.String() != want {
		t.Fatalf("A:\n%s\nwant:\n%s", a.String(), want)
	}
}

func TestRenderAndMissing(t *testing.T) {
	f := Builtin()
	b := f.Render("Hi 110\r\n")
	if b.W != 6*6 || b.H != 8 {
		t.Fatalf("render size %dx%d", b.W, b.H)
	}
	if got := f.Missing("反诈 call 110 反"); string(got) != "反诈" {
		t.Fatalf("Missing = %q", string(got))
	}
	// A missing rune draws a visible box, not nothing.
	box := f.Render("反")
	if box.W == 0 || !box.At(1, 3) {
		t.Fatalf("no fallback box:\n%s", box.String())
	}
}

func TestSystemUnifont(t *testing.T) {
	f := needUnifont(t)
	if f.Len() < 50000 || f.Height() != 16 {
		t.Fatalf("unifont: %d glyphs, height %d", f.Len(), f.Height())
	}
	b := f.Render("反诈 110")
	if b.W != 16*2+8*4 || b.H != 16 {
		t.Fatalf("反诈 110: %dx%d", b.W, b.H)
	}
	if m := f.Missing("反诈热线96110"); len(m) != 0 {
		t.Fatalf("unifont misses %q", string(m))
	}
	if ForHeight(16) != f || ForHeight(8) != Builtin() {
		t.Fatal("ForHeight picked the wrong font")
	}
}

func TestLoadSystemTiming(t *testing.T) {
	needUnifont(t)
	var path string
	for _, p := range SystemPaths {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	start := time.Now()
	f, err := LoadHex(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d glyphs from %s in %v", f.Len(), path, time.Since(start))
}

func TestLoadHexGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.hex.gz")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(fh)
	fmt.Fprintf(zw, "0041:%032X\n", 1)
	zw.Close()
	fh.Close()
	f, err := LoadHex(path)
	if err != nil || !f.Has('A') || !strings.HasPrefix(f.Name(), "unifont:") {
		t.Fatalf("LoadHex gz: %v", err)
	}
	if _, err := LoadHex(filepath.Join(t.TempDir(), "missing.hex.gz")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestFromImage(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			c := color.NRGBA{A: 0xff}
			if x < 32 {
				c.R, c.G, c.B = 0xff, 0xff, 0xff
			}
			img.Set(x, y, c)
		}
	}
	b := FromImage(img, 16)
	if b.W != 32 || b.H != 16 {
		t.Fatalf("size %dx%d", b.W, b.H)
	}
	if !b.At(0, 0) || !b.At(15, 15) || b.At(16, 0) || b.At(31, 15) {
		t.Fatalf("threshold wrong:\n%s", b.String())
	}
	if g := b.Gray(); g.GrayAt(0, 0).Y != 0xff || g.GrayAt(20, 0).Y != 0 {
		t.Fatal("Gray conversion wrong")
	}
	if s := b.Sub(14, 0, 4, 1); s.String() != "##..\n" {
		t.Fatalf("Sub = %q", s.String())
	}
}
