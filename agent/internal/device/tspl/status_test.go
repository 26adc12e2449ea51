package tspl

import "testing"

func TestDecodeStatus(t *testing.T) {
	for _, tt := range []struct {
		b       byte
		problem string
	}{
		{0x00, ""}, {0x20, ""}, {0x01, "head open"}, {0x02, "paper jam"}, {0x03, "head open"},
		{0x04, "paper out"}, {0x05, "head open"}, {0x08, "ribbon out"}, {0x0C, "paper out"},
		{0x10, "paused"}, {0x24, "paper out"}, {0x40, "cover open"}, {0x80, "temperature out of range"},
	} {
		if got := DecodeStatus(tt.b).Problem(); got != tt.problem {
			t.Errorf("0x%02x: Problem() = %q, want %q", tt.b, got, tt.problem)
		}
	}
	if s := DecodeStatus(0x25).String(); s != "head open, paper out, printing" {
		t.Errorf("String() = %q", s)
	}
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(byte(0))
	f.Add(byte(0x24))
	f.Fuzz(func(t *testing.T, b byte) {
		s := DecodeStatus(b)
		if s.Raw != b || s.String() == "" {
			t.Fatal("bad Raw or String")
		}
		if (s.Problem() == "") != (b&^0x20 == 0) {
			t.Fatalf("0x%02x: problem %q", b, s.Problem())
		}
	})
}
