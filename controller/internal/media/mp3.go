package media

import (
	"bufio"
	"io"
)

type mp3Frame struct {
	version    int // 1, 2 (MPEG-2) or 25 (MPEG-2.5)
	layer      int // 1, 2, 3
	sampleRate int
	length     int // bytes, header included
	samples    int // per channel per frame
}

var mp3Bitrates = [5][16]int{
	{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, -1}, // V1 L1
	{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, -1},    // V1 L2
	{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, -1},     // V1 L3
	{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, -1},    // V2 L1
	{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, -1},         // V2 L2/L3
}

var mp3Rates = map[int][3]int{
	1:  {44100, 48000, 32000},
	2:  {22050, 24000, 16000},
	25: {11025, 12000, 8000},
}

// parseMP3Header decodes a 4-byte MPEG audio frame header. Free-format
// bitrate (index 0) is refused: its frame length cannot be known from the
// header, and no encoder we care about makes it.
func parseMP3Header(h []byte) (mp3Frame, bool) {
	if len(h) < 4 || h[0] != 0xff || h[1]&0xe0 != 0xe0 {
		return mp3Frame{}, false
	}
	var f mp3Frame
	switch (h[1] >> 3) & 3 {
	case 0:
		f.version = 25
	case 2:
		f.version = 2
	case 3:
		f.version = 1
	default:
		return mp3Frame{}, false
	}
	switch (h[1] >> 1) & 3 {
	case 1:
		f.layer = 3
	case 2:
		f.layer = 2
	case 3:
		f.layer = 1
	default:
		return mp3Frame{}, false
	}
	bi := int(h[2] >> 4)
	si := int((h[2] >> 2) & 3)
	pad := int((h[2] >> 1) & 1)
	if bi == 0 || bi == 15 || si == 3 {
		return mp3Frame{}, false
	}
	var row int
	switch {
	case f.version == 1:
		row = f.layer - 1
	case f.layer == 1:
		row = 3
	default:
		row = 4
	}
	bitrate := mp3Bitrates[row][bi] * 1000
	f.sampleRate = mp3Rates[f.version][si]
	switch {
	case f.layer == 1:
		f.length = (12*bitrate/f.sampleRate + pad) * 4
		f.samples = 384
	case f.layer == 3 && f.version != 1:
		f.length = 72*bitrate/f.sampleRate + pad
		f.samples = 576
	default:
		f.length = 144*bitrate/f.sampleRate + pad
		f.samples = 1152
	}
	return f, true
}

// validateMP3 skips an ID3v2 tag, then walks every MPEG audio frame to the
// end (or to an ID3v1 / APE tag), requiring a consistent stream and a
// complete last frame. Duration is the sum of frame durations.
func validateMP3(r io.ReaderAt, size int64) (int64, error) {
	var off int64
	var hdr [10]byte
	for {
		n, _ := r.ReadAt(hdr[:], off)
		if n < 10 || string(hdr[:3]) != "ID3" {
			break
		}
		for _, b := range hdr[6:10] {
			if b&0x80 != 0 {
				return 0, invalidf("corrupt MP3: ID3v2 tag size at offset %d is not syncsafe", off)
			}
		}
		tag := int64(hdr[6])<<21 | int64(hdr[7])<<14 | int64(hdr[8])<<7 | int64(hdr[9])
		tag += 10
		if hdr[5]&0x10 != 0 {
			tag += 10 // footer
		}
		if off+tag > size {
			return 0, invalidf("truncated MP3: ID3v2 tag declares %d bytes, file has %d", tag, size-off)
		}
		off += tag
	}
	end := size
	if end-off >= 128 {
		var t [3]byte
		if readFull(r, t[:], end-128) == nil && string(t[:]) == "TAG" {
			end -= 128
		}
	}
	if end-off >= 32 {
		// An APEv2 footer sits just before ID3v1 (or at the very end).
		var a [32]byte
		if readFull(r, a[:], end-32) == nil && string(a[:8]) == "APETAGEX" {
			tagSize := int64(uint32(a[12]) | uint32(a[13])<<8 | uint32(a[14])<<16 | uint32(a[15])<<24)
			if a[23]&0x80 != 0 { // header present too
				tagSize += 32
			}
			if tagSize <= end-off {
				end -= tagSize
			}
		}
	}

	br := bufio.NewReaderSize(io.NewSectionReader(r, off, end-off), 64<<10)
	// Some encoders pad with zeros between the tag and the first frame.
	for skipped := 0; ; skipped++ {
		b, err := br.Peek(1)
		if err != nil || b[0] != 0 {
			break
		}
		if skipped >= 64<<10 {
			return 0, invalidf("corrupt MP3: more than 64 KiB of padding before the first frame")
		}
		br.Discard(1)
		off++
	}

	var first mp3Frame
	var frames int
	var samples int64
	for off < end {
		h, err := br.Peek(4)
		if len(h) < 4 {
			if frames > 0 {
				return 0, invalidf("truncated MP3: %d stray bytes after the last frame at offset %d", end-off, off)
			}
			return 0, invalidf("truncated MP3: frame header at offset %d needs 4 bytes, file has %d", off, end-off)
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		f, ok := parseMP3Header(h)
		if !ok {
			if frames == 0 {
				return 0, invalidf("corrupt MP3: no valid MPEG audio frame header at offset %d", off)
			}
			return 0, invalidf("corrupt MP3: bad frame header % x at offset %d after %d good frames", h, off, frames)
		}
		if frames == 0 {
			first = f
		} else if f.version != first.version || f.layer != first.layer || f.sampleRate != first.sampleRate {
			return 0, invalidf("corrupt MP3: frame at offset %d changes format (MPEG-%d layer %d %d Hz, stream is MPEG-%d layer %d %d Hz)",
				off, f.version, f.layer, f.sampleRate, first.version, first.layer, first.sampleRate)
		}
		if int64(f.length) > end-off {
			return 0, invalidf("truncated MP3: frame %d at offset %d needs %d bytes, file has %d", frames+1, off, f.length, end-off)
		}
		if _, err := br.Discard(f.length); err != nil {
			return 0, invalidf("truncated MP3: frame at offset %d: %v", off, err)
		}
		off += int64(f.length)
		frames++
		samples += int64(f.samples)
	}
	if frames == 0 {
		return 0, invalidf("corrupt MP3: no audio frames")
	}
	return samples * 1000 / int64(first.sampleRate), nil
}
