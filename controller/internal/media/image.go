package media

import (
	"bufio"
	"image"
	_ "image/jpeg" // register JPEG with image.Decode
	_ "image/png"  // register PNG with image.Decode
	"io"
)

// MaxPixels bounds decoded image size so that a small, hostile file cannot
// make the controller allocate gigabytes.
const MaxPixels = 40_000_000

// imageValidator fully decodes the image (every GIF frame), so a truncated
// or corrupt file fails here rather than on a hall TV.
func imageValidator(want string) func(io.ReaderAt, int64) (int64, error) {
	return func(r io.ReaderAt, size int64) (int64, error) {
		cfg, got, err := image.DecodeConfig(io.NewSectionReader(r, 0, size))
		if err != nil {
			return 0, invalidf("corrupt %s image: %v", want, err)
		}
		if got != want {
			return 0, invalidf("content is a %s image, extension says %s", got, want)
		}
		if cfg.Width <= 0 || cfg.Height <= 0 {
			return 0, invalidf("corrupt %s image: %dx%d pixels", want, cfg.Width, cfg.Height)
		}
		if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
			return 0, tooLargef("image is %dx%d pixels, limit is %d pixels", cfg.Width, cfg.Height, MaxPixels)
		}
		if _, _, err := image.Decode(io.NewSectionReader(r, 0, size)); err != nil {
			return 0, invalidf("corrupt %s image: %v", want, err)
		}
		if want == "gif" {
			// image.Decode stops after the first frame. gif.DecodeAll would
			// hold every frame in memory (a small file can expand to
			// gigabytes), so walk the block structure to the trailer instead.
			return walkGIF(r, size)
		}
		return 0, nil
	}
}

// walkGIF checks that every GIF block is complete up to the trailer and
// sums frame delays (1/100 s each) into a duration.
func walkGIF(r io.ReaderAt, size int64) (int64, error) {
	br := bufio.NewReader(io.NewSectionReader(r, 0, size))
	trunc := func() error { return invalidf("truncated gif image: ends before the trailer") }
	var hdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, trunc()
	}
	skip := func(n int) error {
		if _, err := br.Discard(n); err != nil {
			return trunc()
		}
		return nil
	}
	subBlocks := func() error {
		for {
			n, err := br.ReadByte()
			if err != nil {
				return trunc()
			}
			if n == 0 {
				return nil
			}
			if err := skip(int(n)); err != nil {
				return err
			}
		}
	}
	if hdr[10]&0x80 != 0 {
		if err := skip(3 << (hdr[10]&7 + 1)); err != nil {
			return 0, err
		}
	}
	var cs int64
	for frames := 0; ; {
		b, err := br.ReadByte()
		if err != nil {
			return 0, trunc()
		}
		switch b {
		case 0x3b: // trailer
			if frames == 0 {
				return 0, invalidf("corrupt gif image: no frames")
			}
			return cs * 10, nil
		case 0x21: // extension
			label, err := br.ReadByte()
			if err != nil {
				return 0, trunc()
			}
			if label == 0xf9 { // graphic control: delay in bytes 2–3 of the block
				if p, err := br.Peek(5); err == nil && p[0] >= 4 {
					cs += int64(p[2]) | int64(p[3])<<8
				}
			}
			if err := subBlocks(); err != nil {
				return 0, err
			}
		case 0x2c: // image descriptor
			var d [9]byte
			if _, err := io.ReadFull(br, d[:]); err != nil {
				return 0, trunc()
			}
			if d[8]&0x80 != 0 {
				if err := skip(3 << (d[8]&7 + 1)); err != nil {
					return 0, err
				}
			}
			if err := skip(1); err != nil { // LZW minimum code size
				return 0, err
			}
			if err := subBlocks(); err != nil {
				return 0, err
			}
			frames++
		default:
			return 0, invalidf("corrupt gif image: unknown block 0x%02x", b)
		}
	}
}
