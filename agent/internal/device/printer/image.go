package printer

import (
	"fmt"
	"image"
	_ "image/gif" // image items may be GIF, JPEG or PNG
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
)

// MaxImagePixels bounds an image item before it is decoded: paper is
// narrow, and a hostile file must not exhaust the Pi's memory.
const MaxImagePixels = 20 << 20

// DecodeImage decodes an image item, checking its size from the header
// before decoding it; errors name the driver ("escpos: image …").
func DecodeImage(driver, path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: image %s: %w", driver, path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("%s: image %s is %dx%d, too many pixels", driver, path, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: image %s: %w", driver, path, err)
	}
	return img, nil
}
