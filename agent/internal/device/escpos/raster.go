package escpos

import (
	"errors"
	"image"
)

// Raster is a 1-bit image as printers take it: rows of Stride bytes, the
// most significant bit leftmost, 1 = a black dot.
type Raster struct {
	Width  int // dots
	Height int // dots
	Stride int // bytes per row, (Width+7)/8
	Bits   []byte
}

// Black reports whether the dot at x, y is printed.
func (r *Raster) Black(x, y int) bool {
	return r.Bits[y*r.Stride+x/8]&(0x80>>(x%8)) != 0
}

// NewRaster converts img to 1 bit: scaled down (area average) to maxWidth
// dots if wider, transparent parts as white paper, and a dot printed where
// the luminance is below threshold (0..255; 128 is the usual middle).
func NewRaster(img image.Image, maxWidth int, threshold uint8) (*Raster, error) {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw <= 0 || sh <= 0 {
		return nil, errors.New("escpos: empty image")
	}
	w, h := sw, sh
	if w > maxWidth {
		w = maxWidth
		h = max(1, int(int64(sh)*int64(maxWidth)/int64(sw)))
	}
	r := &Raster{Width: w, Height: h, Stride: (w + 7) / 8}
	r.Bits = make([]byte, r.Stride*h)
	for y := 0; y < h; y++ {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := 0; x < w; x++ {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			var sum, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					sum += uint64(luma(img, b.Min.X+sx, b.Min.Y+sy))
					n++
				}
			}
			if sum/n < uint64(threshold) {
				r.Bits[y*r.Stride+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	return r, nil
}

// luma is the 8-bit luminance of the pixel composited over white paper.
func luma(img image.Image, x, y int) uint32 {
	cr, cg, cb, ca := img.At(x, y).RGBA() // premultiplied, 16 bit
	white := 0xffff - ca
	cr, cg, cb = cr+white, cg+white, cb+white
	// The weights of color.GrayModel (ITU-R 601).
	return (19595*cr + 38470*cg + 7471*cb + 1<<15) >> 24
}

// rasterFromModules draws a QR bitmap (true = dark module) at mod dots per
// module.
func rasterFromModules(bm [][]bool, mod int) *Raster {
	n := len(bm) * mod
	r := &Raster{Width: n, Height: n, Stride: (n + 7) / 8}
	r.Bits = make([]byte, r.Stride*n)
	for y := 0; y < n; y++ {
		row := bm[y/mod]
		for x := 0; x < n; x++ {
			if row[x/mod] {
				r.Bits[y*r.Stride+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	return r
}
