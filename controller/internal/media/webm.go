package media

import (
	"io"
)

// readVint reads an EBML variable-length integer at off. For sizes, the
// all-ones value means "unknown" and is reported as -1.
func readVint(r io.ReaderAt, off, end int64, keepMarker bool) (val int64, n int, err error) {
	if off >= end {
		return 0, 0, io.ErrUnexpectedEOF
	}
	var b [8]byte
	if err := readFull(r, b[:1], off); err != nil {
		return 0, 0, err
	}
	first := b[0]
	n = 1
	for mask := byte(0x80); n <= 8 && first&mask == 0; mask >>= 1 {
		n++
	}
	if n > 8 {
		return 0, 0, invalidf("corrupt EBML: bad variable-length integer at offset %d", off)
	}
	if off+int64(n) > end {
		return 0, 0, io.ErrUnexpectedEOF
	}
	if err := readFull(r, b[:n], off); err != nil {
		return 0, 0, err
	}
	v := uint64(b[0])
	if !keepMarker {
		v &= uint64(0xff >> n)
	}
	allOnes := v == uint64(0xff>>n)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
		allOnes = allOnes && b[i] == 0xff
	}
	if !keepMarker && allOnes {
		return -1, n, nil
	}
	if v > 1<<56 {
		return 0, 0, invalidf("corrupt EBML: size at offset %d too large", off)
	}
	return int64(v), n, nil
}

type element struct {
	id        int64
	off, data int64
	size      int64 // -1: unknown (to the end of the parent)
}

func readElement(r io.ReaderAt, off, end int64) (element, error) {
	id, n, err := readVint(r, off, end, true)
	if err != nil {
		return element{}, err
	}
	size, m, err := readVint(r, off+int64(n), end, false)
	if err != nil {
		return element{}, err
	}
	e := element{id: id, off: off, data: off + int64(n+m), size: size}
	if size >= 0 && size > end-e.data {
		return element{}, invalidf("truncated %s: element 0x%x at offset %d declares %d bytes, file has %d", ebmlName, id, off, size, end-e.data)
	}
	return e, nil
}

const ebmlName = "WebM/Matroska"

const (
	idEBML    = 0x1a45dfa3
	idDocType = 0x4282
	idSegment = 0x18538067
	idTracks  = 0x1654ae6b
	idCluster = 0x1f43b675
)

// ebmlValidator checks the EBML header and its DocType, that every
// top-level element and every element directly inside the Segment fits in
// the file, and that there are tracks and at least one cluster. It does not
// parse blocks; duration is left at 0.
func ebmlValidator(docType string) func(io.ReaderAt, int64) (int64, error) {
	return func(r io.ReaderAt, size int64) (int64, error) {
		wrap := func(err error) error {
			if err == io.ErrUnexpectedEOF {
				return invalidf("truncated %s: element header cut off", ebmlName)
			}
			return err
		}
		hdr, err := readElement(r, 0, size)
		if err != nil {
			return 0, wrap(err)
		}
		if hdr.id != idEBML || hdr.size < 0 {
			return 0, invalidf("corrupt %s: no EBML header", ebmlName)
		}
		var gotType string
		for off := hdr.data; off < hdr.data+hdr.size; {
			e, err := readElement(r, off, hdr.data+hdr.size)
			if err != nil {
				return 0, wrap(err)
			}
			if e.size < 0 {
				return 0, invalidf("corrupt %s: unknown size inside EBML header", ebmlName)
			}
			if e.id == idDocType && e.size <= 32 {
				b := make([]byte, e.size)
				if err := readFull(r, b, e.data); err != nil {
					return 0, wrap(err)
				}
				gotType = string(trimNUL(b))
			}
			off = e.data + e.size
		}
		if gotType != docType {
			return 0, invalidf("%s DocType is %q, extension wants %q", ebmlName, gotType, docType)
		}
		var segments, tracks, clusters int
		for off := hdr.data + hdr.size; off < size; {
			e, err := readElement(r, off, size)
			if err != nil {
				return 0, wrap(err)
			}
			end := size
			if e.size >= 0 {
				end = e.data + e.size
			}
			if e.id == idSegment {
				segments++
				for c, n := e.data, 0; c < end; n++ {
					if n > 100000 {
						return 0, invalidf("corrupt %s: too many elements in segment", ebmlName)
					}
					k, err := readElement(r, c, end)
					if err != nil {
						return 0, wrap(err)
					}
					switch k.id {
					case idTracks:
						tracks++
					case idCluster:
						clusters++
					}
					if k.size < 0 {
						// A live-streamed cluster of unknown size runs to the
						// end; its blocks are not walked.
						break
					}
					c = k.data + k.size
				}
			}
			off = end
		}
		switch {
		case segments == 0:
			return 0, invalidf("corrupt %s: no Segment", ebmlName)
		case tracks == 0:
			return 0, invalidf("corrupt %s: no Tracks", ebmlName)
		case clusters == 0:
			return 0, invalidf("corrupt %s: no Cluster (no media data)", ebmlName)
		}
		return 0, nil
	}
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
