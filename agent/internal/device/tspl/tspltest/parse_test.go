package tspltest_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	"github.com/guardcast/guardcast/agent/internal/device/tspl"
	"github.com/guardcast/guardcast/agent/internal/device/tspl/tspltest"
)

func stream(t testing.TB) []byte {
	e, err := tspl.NewEncoder(tspl.DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	e.Setup()
	if err := e.Text(16, 16, 1, 2, `反诈 "96110"`); err != nil {
		t.Fatal(err)
	}
	if err := e.QR(300, 16, 4, "tel:96110"); err != nil {
		t.Fatal(err)
	}
	// Bitmap data full of CR, LF, ESC and commas must not be parsed.
	r := &escpos.Raster{Width: 16, Height: 3, Stride: 2, Bits: []byte{^byte('\r'), ^byte('\n'), ^byte(0x1b), ^byte('!'), ^byte('?'), ^byte(',')}}
	e.Bitmap(8, 8, r)
	e.Print()
	return append(tspl.StatusQuery(), e.Bytes()...)
}

func TestParserRoundTrip(t *testing.T) {
	b := stream(t)
	parse := func(chunk int) []tspltest.Event {
		var evs []tspltest.Event
		p := &tspltest.Parser{On: func(e tspltest.Event) { evs = append(evs, e) }}
		for r := b; len(r) > 0; {
			k := min(chunk, len(r))
			p.Write(r[:k])
			r = r[k:]
		}
		return evs
	}
	evs := parse(len(b))
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	want := []string{"", "SIZE", "GAP", "DIRECTION", "CLS", "TEXT", "QRCODE", "BITMAP", "PRINT"}
	if d := cmp.Diff(want, names); d != "" {
		t.Fatalf("commands (-want +got):\n%s", d)
	}
	if evs[0].Kind != tspltest.EvStatus || evs[5].Content != `反诈 "96110"` || evs[6].Content != "tel:96110" {
		t.Fatalf("events %+v", evs)
	}
	if bm := evs[7]; bm.WidthBytes != 2 || bm.Height != 3 || bm.X != 8 {
		t.Fatalf("bitmap %+v", bm)
	}
	for _, c := range []int{1, 2, 5, 17} {
		if d := cmp.Diff(evs, parse(c)); d != "" {
			t.Fatalf("chunks of %d:\n%s", c, d)
		}
	}
}

func FuzzParser(f *testing.F) {
	f.Add(stream(f), 3)
	f.Add([]byte("BITMAP 0,0,99999,99999,0,\r\nPRINT 1\r\n"), 1)
	f.Add([]byte("TEXT 1,2,\"a\",0,1,1,\"\\[\"]\"\r\n\x1b!?"), 2)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk <= 0 || chunk > len(b) {
			chunk = len(b) + 1
		}
		var whole, cut []tspltest.Event
		p := &tspltest.Parser{On: func(e tspltest.Event) { whole = append(whole, e) }}
		p.Write(b)
		q := &tspltest.Parser{On: func(e tspltest.Event) { cut = append(cut, e) }}
		for r := b; len(r) > 0; {
			k := min(chunk, len(r))
			q.Write(r[:k])
			r = r[k:]
		}
		if len(whole) > len(b) {
			t.Fatalf("%d events from %d bytes", len(whole), len(b))
		}
		if !cmp.Equal(whole, cut) {
			t.Fatalf("parse depends on write boundaries:\n%s", cmp.Diff(whole, cut))
		}
	})
}
