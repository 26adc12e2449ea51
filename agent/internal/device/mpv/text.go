package mpv

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
)

// Text slides: a text item (a slogan, an urgent warning's text) is drawn
// into a PNG — white on the warning red, in Unifont when the system has it
// — and shown as an image for the item's slot. mpv has no text item of its
// own, and its OSD depends on fonts the Pi may not have.
const (
	slideW, slideH = 1280, 720
	slideMargin    = 60
	maxTextBytes   = 4096
)

var (
	slideBG = color.RGBA{0xb0, 0x10, 0x10, 0xff}
	slideFG = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// renderSlide draws the UTF-8 text in path into a PNG in dir and returns
// its path. Runes the font lacks are an error, not boxes on a bank's TV.
func renderSlide(path, dir string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > maxTextBytes || !utf8.Valid(b) {
		return "", fmt.Errorf("text item is not UTF-8 text of at most %d bytes", maxTextBytes)
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return "", fmt.Errorf("text item is empty")
	}
	font, ferr := bitmapfont.System()
	if ferr != nil {
		font = bitmapfont.Builtin()
	}
	if miss := font.Missing(text); len(miss) > 0 {
		return "", fmt.Errorf("font lacks %q (install unifont)", string(miss))
	}
	// Wrap on rune boundaries so each line fits the slide at scale 2 or more.
	maxW := (slideW - 2*slideMargin) / 2
	var lines []*bitmapfont.Bitmap
	for _, para := range strings.Split(text, "\n") {
		var cur []rune
		for _, r := range []rune(strings.TrimSpace(para)) {
			if font.Render(string(append(cur, r))).W > maxW && len(cur) > 0 {
				lines = append(lines, font.Render(string(cur)))
				cur = cur[:0]
			}
			cur = append(cur, r)
		}
		lines = append(lines, font.Render(string(cur)))
	}
	w, h := 1, 0
	for _, l := range lines {
		w = max(w, l.W)
		h += l.H + 4
	}
	scale := max(1, min((slideW-2*slideMargin)/w, (slideH-2*slideMargin)/max(h, 1)))
	img := image.NewRGBA(image.Rect(0, 0, slideW, slideH))
	for i := range img.Pix {
		img.Pix[i] = []byte{slideBG.R, slideBG.G, slideBG.B, slideBG.A}[i%4]
	}
	y0 := (slideH - h*scale) / 2
	for _, l := range lines {
		x0 := (slideW - l.W*scale) / 2
		for y := 0; y < l.H; y++ {
			for x := 0; x < l.W; x++ {
				if !l.At(x, y) {
					continue
				}
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.SetRGBA(x0+x*scale+dx, y0+y*scale+dy, slideFG)
					}
				}
			}
		}
		y0 += (l.H + 4) * scale
	}
	f, err := os.CreateTemp(dir, "slide-*.png")
	if err != nil {
		return "", err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}
