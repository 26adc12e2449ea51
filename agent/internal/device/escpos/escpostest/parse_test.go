package escpostest_test

import (
	"image"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	"github.com/guardcast/guardcast/agent/internal/device/escpos/escpostest"
)

// The parser reads back what the encoder wrote, however the stream is cut.
func TestParserRoundTrip(t *testing.T) {
	e, err := escpos.NewEncoder(escpos.DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	e.Init()
	e.Align(escpos.AlignCenter)
	e.Bold(true)
	e.Tall(true)
	_ = e.Line("反诈提醒")
	e.Tall(false)
	e.Bold(false)
	_ = e.Line("热线 96110\tline two")
	_ = e.Image(image.NewGray(image.Rect(0, 0, 20, 300)))
	_ = e.QR("tel:96110")
	e.Cut(escpos.CutFull)
	stream := append(append([]byte{}, escpos.StatusQuery(1)...), e.Bytes()...)
	stream = append(stream, escpos.PaperQuery()...)

	parse := func(chunk int) []escpostest.Event {
		var evs []escpostest.Event
		p := &escpostest.Parser{On: func(e escpostest.Event) { evs = append(evs, e) }}
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			p.Write(b[:k])
			b = b[k:]
		}
		return evs
	}
	want := parse(len(stream))
	var kinds []escpostest.EventKind
	for _, e := range want {
		kinds = append(kinds, e.Kind)
	}
	wantKinds := []escpostest.EventKind{escpostest.EvQuery, escpostest.EvInit, escpostest.EvChinese, escpostest.EvText, escpostest.EvText,
		escpostest.EvRaster, escpostest.EvRaster, escpostest.EvQR, escpostest.EvFeed, escpostest.EvCut, escpostest.EvPaper}
	if d := cmp.Diff(wantKinds, kinds); d != "" {
		t.Fatalf("events (-want +got):\n%s\n%+v", d, want)
	}
	if want[3].Text != "反诈提醒" || want[4].Text != "热线 96110\tline two" {
		t.Fatalf("text %q %q", want[3].Text, want[4].Text)
	}
	if r := want[5].Raster; r.WidthDots != 24 || r.Height != 256 || want[6].Raster.Height != 44 {
		t.Fatalf("rasters %+v %+v", want[5].Raster, want[6].Raster)
	}
	if want[7].Text != "tel:96110" || want[9].Partial {
		t.Fatalf("qr %q, cut partial %v", want[7].Text, want[9].Partial)
	}
	for _, chunk := range []int{1, 2, 3, 7, 64} {
		if d := cmp.Diff(want, parse(chunk)); d != "" {
			t.Fatalf("cut every %d bytes (-whole +cut):\n%s", chunk, d)
		}
	}
}

func FuzzParser(f *testing.F) {
	e, _ := escpos.NewEncoder(escpos.DefaultOpts)
	e.Init()
	_ = e.Line("反诈 96110")
	_ = e.QR("tel:96110")
	e.Cut(escpos.CutPartial)
	f.Add(e.Bytes(), 5)
	f.Add([]byte{0x1d, 'v', '0', 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}, 1)
	f.Add([]byte{0x1d, '(', 'k', 0xff, 0xff, 49, 80, 48}, 3)
	f.Add([]byte{0x1b, 'D', 1, 2, 3}, 2)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk <= 0 || chunk > len(b) {
			chunk = len(b) + 1
		}
		var whole, cut []escpostest.Event
		p := &escpostest.Parser{On: func(e escpostest.Event) { whole = append(whole, e) }}
		p.Write(b)
		q := &escpostest.Parser{On: func(e escpostest.Event) { cut = append(cut, e) }}
		for r := b; len(r) > 0; {
			k := min(chunk, len(r))
			q.Write(r[:k])
			r = r[k:]
		}
		if len(whole) > len(b)+1 {
			t.Fatalf("%d events from %d bytes", len(whole), len(b))
		}
		if !cmp.Equal(whole, cut) {
			t.Fatalf("parse depends on write boundaries:\n%s", cmp.Diff(whole, cut))
		}
	})
}
