package media

import (
	"encoding/binary"
	"io"
)

// validateWAV walks the RIFF chunks: a sane fmt chunk (PCM or IEEE float,
// 1–8 channels, 8–192 kHz, 8/16/24/32 bits) followed by a data chunk that is
// entirely present. Duration is exact from the header.
func validateWAV(r io.ReaderAt, size int64) (int64, error) {
	var hdr [12]byte
	if err := readFull(r, hdr[:], 0); err != nil {
		return 0, invalidf("truncated WAV: RIFF header needs 12 bytes, file has %d", size)
	}
	var (
		off         int64 = 12
		haveFmt     bool
		channels    uint16
		rate        uint32
		bits        uint16
		blockAlign  uint16
		byteRate    uint32
		dataSize    int64 = -1
		chunksSeen  int
		chunkHeader [8]byte
	)
	for off < size {
		chunksSeen++
		if chunksSeen > 10000 {
			return 0, invalidf("corrupt WAV: more than 10000 chunks")
		}
		if size-off < 8 {
			if dataSize >= 0 && size-off == 1 {
				break // pad byte after an odd-sized last chunk
			}
			return 0, invalidf("truncated WAV: chunk header at offset %d needs 8 bytes, file has %d", off, size-off)
		}
		if err := readFull(r, chunkHeader[:], off); err != nil {
			return 0, err
		}
		id := string(chunkHeader[:4])
		csize := int64(binary.LittleEndian.Uint32(chunkHeader[4:]))
		body := off + 8
		avail := size - body
		switch id {
		case "fmt ":
			if haveFmt {
				return 0, invalidf("corrupt WAV: two fmt chunks")
			}
			if csize < 16 {
				return 0, invalidf("corrupt WAV: fmt chunk is %d bytes, need at least 16", csize)
			}
			if csize > avail {
				return 0, invalidf("truncated WAV: fmt chunk declares %d bytes, file has %d", csize, avail)
			}
			b := make([]byte, min(csize, 40))
			if err := readFull(r, b, body); err != nil {
				return 0, err
			}
			tag := binary.LittleEndian.Uint16(b[0:])
			channels = binary.LittleEndian.Uint16(b[2:])
			rate = binary.LittleEndian.Uint32(b[4:])
			byteRate = binary.LittleEndian.Uint32(b[8:])
			blockAlign = binary.LittleEndian.Uint16(b[12:])
			bits = binary.LittleEndian.Uint16(b[14:])
			if tag == 0xfffe { // WAVE_FORMAT_EXTENSIBLE: real tag opens the sub-format GUID
				if csize < 40 {
					return 0, invalidf("corrupt WAV: extensible fmt chunk is %d bytes, need 40", csize)
				}
				tag = binary.LittleEndian.Uint16(b[24:])
			}
			switch tag {
			case 1: // PCM
				if bits != 8 && bits != 16 && bits != 24 && bits != 32 {
					return 0, invalidf("unsupported WAV: %d bits per sample (want 8, 16, 24 or 32)", bits)
				}
			case 3: // IEEE float
				if bits != 32 {
					return 0, invalidf("unsupported WAV: %d-bit float samples (want 32)", bits)
				}
			default:
				return 0, invalidf("unsupported WAV: format tag 0x%04x (want PCM or IEEE float)", tag)
			}
			if channels < 1 || channels > 8 {
				return 0, invalidf("unsupported WAV: %d channels (want 1–8)", channels)
			}
			if rate < 8000 || rate > 192000 {
				return 0, invalidf("unsupported WAV: sample rate %d Hz (want 8000–192000)", rate)
			}
			if want := channels * (bits / 8); blockAlign != want {
				return 0, invalidf("corrupt WAV: block align %d, want %d for %d channels of %d bits", blockAlign, want, channels, bits)
			}
			if want := rate * uint32(blockAlign); byteRate != want {
				return 0, invalidf("corrupt WAV: byte rate %d, want %d", byteRate, want)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, invalidf("corrupt WAV: data chunk before fmt chunk")
			}
			if dataSize >= 0 {
				return 0, invalidf("corrupt WAV: two data chunks")
			}
			if csize > avail {
				return 0, invalidf("truncated WAV: data chunk declares %d bytes, file has %d", csize, avail)
			}
			if csize == 0 {
				return 0, invalidf("empty WAV: data chunk has no samples")
			}
			if csize%int64(blockAlign) != 0 {
				return 0, invalidf("truncated WAV: data chunk is %d bytes, not a whole number of %d-byte sample frames", csize, blockAlign)
			}
			dataSize = csize
		default:
			if csize > avail {
				return 0, invalidf("truncated WAV: %q chunk declares %d bytes, file has %d", id, csize, avail)
			}
		}
		off = body + csize + csize&1
	}
	if !haveFmt {
		return 0, invalidf("corrupt WAV: no fmt chunk")
	}
	if dataSize < 0 {
		return 0, invalidf("corrupt WAV: no data chunk")
	}
	return dataSize * 1000 / int64(byteRate), nil
}
