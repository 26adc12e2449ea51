package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"testing"
)

func tinyGIF(t testing.TB) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{}
	for i := range 2 {
		img := image.NewPaletted(image.Rect(0, 0, 8, 8), pal)
		img.SetColorIndex(i, i, 1)
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 25)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tinyJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mp4box(typ string, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	b = append(b, typ...)
	return append(b, body...)
}

// ebml encodes one element with a 1-byte-or-wider ID and an 8-byte size.
func ebml(id []byte, body []byte) []byte {
	// 8-byte size vint: marker 0x01, then 7 bytes of size.
	sz := binary.BigEndian.AppendUint64(nil, uint64(len(body)))
	sz[0] = 0x01
	b := append(append([]byte{}, id...), sz...)
	return append(b, body...)
}

func tinyWebM(docType string, truncate bool) []byte {
	hdr := ebml([]byte{0x1a, 0x45, 0xdf, 0xa3}, ebml([]byte{0x42, 0x82}, []byte(docType)))
	seg := ebml([]byte{0x18, 0x53, 0x80, 0x67}, append(
		ebml([]byte{0x16, 0x54, 0xae, 0x6b}, []byte{0xae, 0x80}),
		ebml([]byte{0x1f, 0x43, 0xb6, 0x75}, make([]byte, 20))...))
	out := append(hdr, seg...)
	if truncate {
		out = out[:len(out)-5]
	}
	return out
}
