package cups

import (
	"fmt"
	"image"
	"image/color"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
)

// renderCard draws text (lines as written, wrapped where too wide) in the
// bitmap font, black on white, on a WidthDots × HeightDots canvas, each
// font dot Scale × Scale pixels, with the hotline QR code at the top right.
// The scale is the largest (up to 4) at which the text fits; text that
// does not fit at scale 1 is an error.
func (d *Dev) renderCard(text string) (*image.Gray, error) {
	o := d.o
	f := d.font
	if miss := f.Missing(text); len(miss) > 0 {
		return nil, fmt.Errorf("cups: font %s has no glyph for %q (install the unifont package)", f.Name(), string(miss))
	}
	var qr [][]bool
	if o.QRModule > 0 && o.Hotline != "" {
		q, err := qrcode.New("tel:"+o.Hotline, qrcode.Medium)
		if err != nil {
			return nil, fmt.Errorf("cups: QR code: %w", err)
		}
		qr = q.Bitmap() // with its quiet zone
	}
	m := o.MarginDots
	qrSize := len(qr) * o.QRModule
	areaW := o.WidthDots - 2*m - qrSize
	areaH := o.HeightDots - 2*m
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\r\n \t"), "\n")
	for scale := 4; scale >= 1; scale-- {
		var rows [][]rune
		for _, l := range lines {
			rows = append(rows, d.wrap([]rune(strings.ReplaceAll(l, "\t", "    ")), areaW/scale)...)
		}
		if len(rows)*f.Height()*scale > areaH {
			continue
		}
		img := image.NewGray(image.Rect(0, 0, o.WidthDots, o.HeightDots))
		for i := range img.Pix {
			img.Pix[i] = 0xff
		}
		y := m
		for _, r := range rows {
			bm := f.Render(string(r))
			blit(img, bm, m, y, scale)
			y += f.Height() * scale
		}
		if qr != nil {
			x0 := o.WidthDots - m - qrSize
			for qy, row := range qr {
				for qx, dark := range row {
					if dark {
						fill(img, x0+qx*o.QRModule, m+qy*o.QRModule, o.QRModule)
					}
				}
			}
		}
		return img, nil
	}
	return nil, fmt.Errorf("cups: text does not fit a %d × %d card (%d lines)", o.WidthDots, o.HeightDots, len(lines))
}

// wrap cuts a line into rows at most width font dots wide.
func (d *Dev) wrap(line []rune, width int) [][]rune {
	var out [][]rune
	start, w := 0, 0
	for i, r := range line {
		g, _ := d.font.Glyph(r)
		if w+g.W > width && i > start {
			out = append(out, line[start:i])
			start, w = i, 0
		}
		w += g.W
	}
	return append(out, line[start:])
}

func blit(img *image.Gray, bm *bitmapfont.Bitmap, x0, y0, scale int) {
	for y := 0; y < bm.H; y++ {
		for x := 0; x < bm.W; x++ {
			if bm.At(x, y) {
				fill(img, x0+x*scale, y0+y*scale, scale)
			}
		}
	}
}

func fill(img *image.Gray, x0, y0, n int) {
	for y := y0; y < y0+n; y++ {
		for x := x0; x < x0+n; x++ {
			img.SetGray(x, y, color.Gray{})
		}
	}
}
