package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// oggCRC is the Ogg page checksum: CRC-32, polynomial 0x04c11db7, MSB
// first, initial value 0, no final XOR (not the zlib/IEEE variant).
var oggCRC = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func oggChecksum(crc uint32, b []byte) uint32 {
	for _, x := range b {
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^x]
	}
	return crc
}

// validateOgg walks every page, verifying its CRC, requires the first page
// to begin a stream and the last page to end one, complete. Duration comes
// from the last granule position for Vorbis and Opus streams.
func validateOgg(r io.ReaderAt, size int64) (int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	var (
		off      int64
		pages    int
		lastFlag byte
		rate     int64 // samples per second of granule positions, 0 if unknown
		preSkip  int64
		serial   uint32
		granule  int64
		hdr      [27]byte
		page     = make([]byte, 0, 65307)
	)
	for off < size {
		if size-off < 27 {
			return 0, invalidf("truncated Ogg: page header at offset %d needs 27 bytes, file has %d", off, size-off)
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return 0, err
		}
		if string(hdr[:4]) != "OggS" {
			return 0, invalidf("corrupt Ogg: no page capture pattern at offset %d", off)
		}
		if hdr[4] != 0 {
			return 0, invalidf("corrupt Ogg: page version %d at offset %d", hdr[4], off)
		}
		flags := hdr[5]
		nseg := int(hdr[26])
		if size-off-27 < int64(nseg) {
			return 0, invalidf("truncated Ogg: page at offset %d: segment table needs %d bytes, file has %d", off, nseg, size-off-27)
		}
		page = append(page[:0], hdr[:]...)
		page = page[:27+nseg]
		if _, err := io.ReadFull(br, page[27:]); err != nil {
			return 0, err
		}
		body := 0
		for _, s := range page[27:] {
			body += int(s)
		}
		total := 27 + nseg + body
		if int64(total) > size-off {
			return 0, invalidf("truncated Ogg: page %d at offset %d needs %d bytes, file has %d", pages+1, off, total, size-off)
		}
		page = page[:total]
		if _, err := io.ReadFull(br, page[27+nseg:]); err != nil {
			return 0, err
		}
		want := binary.LittleEndian.Uint32(page[22:26])
		clear(page[22:26])
		if got := oggChecksum(0, page); got != want {
			return 0, invalidf("corrupt Ogg: page %d at offset %d: CRC is %08x, header says %08x", pages+1, off, got, want)
		}
		if pages == 0 {
			if flags&0x02 == 0 {
				return 0, invalidf("corrupt Ogg: first page lacks the beginning-of-stream flag")
			}
			serial = binary.LittleEndian.Uint32(hdr[14:18])
			pkt := page[27+nseg:]
			switch {
			case len(pkt) >= 16 && bytes.HasPrefix(pkt, []byte("\x01vorbis")):
				rate = int64(binary.LittleEndian.Uint32(pkt[12:16]))
			case len(pkt) >= 12 && bytes.HasPrefix(pkt, []byte("OpusHead")):
				rate = 48000
				preSkip = int64(binary.LittleEndian.Uint16(pkt[10:12]))
			}
		}
		if binary.LittleEndian.Uint32(hdr[14:18]) == serial {
			if g := int64(binary.LittleEndian.Uint64(hdr[6:14])); g > 0 {
				granule = g
			}
		}
		lastFlag = flags
		off += int64(total)
		pages++
	}
	if pages == 0 {
		return 0, invalidf("corrupt Ogg: no pages")
	}
	if lastFlag&0x04 == 0 {
		return 0, invalidf("truncated Ogg: last page (%d) lacks the end-of-stream flag", pages)
	}
	if rate <= 0 || granule <= preSkip || granule > 1<<48 {
		return 0, nil
	}
	return (granule - preSkip) * 1000 / rate, nil
}
