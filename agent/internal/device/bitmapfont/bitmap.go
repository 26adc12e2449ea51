// Package bitmapfont turns text into 1-bit dot bitmaps for LED signs and
// dot-matrix modules. It reads GNU Unifont (.hex, 8×16 and 16×16 glyphs,
// CJK included) from the system at run time — the font is never compiled
// in or committed — and carries a tiny built-in 5×7 ASCII font for
// 8-dot-high displays and for machines without Unifont.
package bitmapfont

import (
	"image"
	"image/color"
	"strings"
)

// Bitmap is a 1-bit image: a dot is lit or not.
type Bitmap struct {
	W, H int
	Pix  []bool // row-major, W*H
}

// NewBitmap returns a dark w×h bitmap.
func NewBitmap(w, h int) *Bitmap {
	if w < 0 {
		w = 0
	}
	if h < 0 {
		h = 0
	}
	return &Bitmap{W: w, H: h, Pix: make([]bool, w*h)}
}

// Width is the bitmap's width in dots.
func (b *Bitmap) Width() int { return b.W }

// Height is the bitmap's height in dots.
func (b *Bitmap) Height() int { return b.H }

// At reports whether the dot at (x, y) is lit; outside the bitmap is dark.
func (b *Bitmap) At(x, y int) bool {
	if x < 0 || y < 0 || x >= b.W || y >= b.H {
		return false
	}
	return b.Pix[y*b.W+x]
}

// Set lights (or darkens) the dot at (x, y); outside the bitmap is ignored.
func (b *Bitmap) Set(x, y int, on bool) {
	if x < 0 || y < 0 || x >= b.W || y >= b.H {
		return
	}
	b.Pix[y*b.W+x] = on
}

// Draw copies src onto b with its top-left corner at (x, y).
func (b *Bitmap) Draw(src *Bitmap, x, y int) {
	for sy := 0; sy < src.H; sy++ {
		for sx := 0; sx < src.W; sx++ {
			if src.Pix[sy*src.W+sx] {
				b.Set(x+sx, y+sy, true)
			}
		}
	}
}

// Sub returns a copy of the w×h window at (x, y); dots outside b are dark.
// Scrolling displays use it to cut one frame out of a rendered line.
func (b *Bitmap) Sub(x, y, w, h int) *Bitmap {
	out := NewBitmap(w, h)
	for dy := 0; dy < h; dy++ {
		for dx := 0; dx < w; dx++ {
			out.Pix[dy*w+dx] = b.At(x+dx, y+dy)
		}
	}
	return out
}

// Gray returns the bitmap as an image (lit dots white) for previews and
// debugging.
func (b *Bitmap) Gray() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, b.W, b.H))
	for i, on := range b.Pix {
		if on {
			img.Pix[(i/b.W)*img.Stride+i%b.W] = 0xff
		}
	}
	return img
}

// String draws the bitmap with '#' and '.', one line per row: readable in
// test failures.
func (b *Bitmap) String() string {
	var sb strings.Builder
	for y := 0; y < b.H; y++ {
		for x := 0; x < b.W; x++ {
			if b.At(x, y) {
				sb.WriteByte('#')
			} else {
				sb.WriteByte('.')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// FromImage converts img to a bitmap at most maxH dots high (aspect kept,
// nearest neighbour; 0 means no limit). A dot is lit where the picture is
// brighter than mid-grey, which is how a poster reads on an LED sign: light
// strokes on a dark board. Transparent pixels stay dark.
func FromImage(img image.Image, maxH int) *Bitmap {
	r := img.Bounds()
	sw, sh := r.Dx(), r.Dy()
	if sw <= 0 || sh <= 0 {
		return NewBitmap(0, 0)
	}
	w, h := sw, sh
	if maxH > 0 && sh > maxH {
		h = maxH
		w = max(1, sw*maxH/sh)
	}
	out := NewBitmap(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(r.Min.X+x*sw/w, r.Min.Y+y*sh/h)).(color.NRGBA)
			if c.A < 0x80 {
				continue
			}
			// Rec. 601 luma, integer.
			l := (299*int(c.R) + 587*int(c.G) + 114*int(c.B)) / 1000
			out.Pix[y*w+x] = l >= 0x80
		}
	}
	return out
}
