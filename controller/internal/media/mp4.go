package media

import (
	"encoding/binary"
	"io"
)

type box struct {
	typ        string
	off        int64 // start of header
	body, size int64 // body offset and total size (header included)
}

// readBoxes walks the boxes in [start, end): every size must fit, size 1
// means a 64-bit size follows, size 0 means "to the end".
func readBoxes(r io.ReaderAt, start, end int64, what string) ([]box, error) {
	var out []box
	var h [16]byte
	for off := start; off < end; {
		if len(out) >= 10000 {
			return nil, invalidf("corrupt MP4: more than 10000 boxes in %s", what)
		}
		if end-off < 8 {
			return nil, invalidf("truncated MP4: box header at offset %d needs 8 bytes, %s has %d", off, what, end-off)
		}
		if err := readFull(r, h[:8], off); err != nil {
			return nil, err
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		typ := string(h[4:8])
		hl := int64(8)
		switch size {
		case 0:
			size = end - off
		case 1:
			if end-off < 16 {
				return nil, invalidf("truncated MP4: %q box at offset %d: 64-bit size needs 16 bytes, %s has %d", typ, off, what, end-off)
			}
			if err := readFull(r, h[8:16], off+8); err != nil {
				return nil, err
			}
			u := binary.BigEndian.Uint64(h[8:16])
			if u > 1<<62 {
				return nil, invalidf("corrupt MP4: %q box at offset %d declares %d bytes", typ, off, u)
			}
			size, hl = int64(u), 16
		}
		for i := 4; i < 8; i++ {
			if h[i] < 0x20 || h[i] > 0x7e {
				if h[i] != 0xa9 { // '©' opens QuickTime metadata atoms
					return nil, invalidf("corrupt MP4: box type % x at offset %d is not printable", h[4:8], off)
				}
			}
		}
		if size < hl {
			return nil, invalidf("corrupt MP4: %q box at offset %d declares %d bytes, smaller than its header", typ, off, size)
		}
		if size > end-off {
			return nil, invalidf("truncated MP4: %q box at offset %d declares %d bytes, %s has %d", typ, off, size, what, end-off)
		}
		out = append(out, box{typ: typ, off: off, body: off + hl, size: size})
		off += size
	}
	return out, nil
}

// validateMP4 walks the top-level boxes, requires ftyp first and a moov box,
// and reads the movie duration from moov/mvhd.
func validateMP4(r io.ReaderAt, size int64) (int64, error) {
	boxes, err := readBoxes(r, 0, size, "file")
	if err != nil {
		return 0, err
	}
	if len(boxes) == 0 || boxes[0].typ != "ftyp" {
		return 0, invalidf("corrupt MP4: first box is not ftyp")
	}
	var moov *box
	for i := range boxes {
		if boxes[i].typ == "moov" {
			moov = &boxes[i]
		}
	}
	if moov == nil {
		return 0, invalidf("corrupt MP4: no moov box (the index is missing; was the recording cut off?)")
	}
	kids, err := readBoxes(r, moov.body, moov.off+moov.size, "moov")
	if err != nil {
		return 0, err
	}
	var haveTrak bool
	var ms int64
	for _, k := range kids {
		switch k.typ {
		case "trak":
			haveTrak = true
		case "mvhd":
			b := make([]byte, min(k.off+k.size-k.body, 32))
			if err := readFull(r, b, k.body); err != nil {
				return 0, err
			}
			var scale, dur uint64
			switch {
			case len(b) >= 20 && b[0] == 0:
				scale, dur = uint64(binary.BigEndian.Uint32(b[12:])), uint64(binary.BigEndian.Uint32(b[16:]))
			case len(b) >= 32 && b[0] == 1:
				scale, dur = uint64(binary.BigEndian.Uint32(b[20:])), binary.BigEndian.Uint64(b[24:])
			default:
				return 0, invalidf("corrupt MP4: mvhd box too short or unknown version %d", b[0])
			}
			if scale > 0 && dur < 1<<40 && dur != 0xffffffff {
				ms = int64(dur * 1000 / scale)
			}
		}
	}
	if !haveTrak {
		return 0, invalidf("corrupt MP4: moov has no tracks")
	}
	return ms, nil
}
