package escpos

import (
	"errors"
	"testing"
)

func TestDecodeStatus(t *testing.T) {
	tests := []struct {
		name    string
		raw     [4]byte
		problem string
		warning string
		err     bool
	}{
		{name: "ready", raw: [4]byte{0x12, 0x12, 0x12, 0x12}},
		{name: "near end", raw: [4]byte{0x12, 0x12, 0x12, 0x1E}, warning: "paper near end"},
		// The answers of a printer out of paper, as in the Epson reference.
		{name: "paper end", raw: [4]byte{0x1A, 0x32, 0x12, 0x7E}, problem: "paper end", warning: "paper near end"},
		{name: "paper end sensor only", raw: [4]byte{0x12, 0x12, 0x12, 0x72}, problem: "paper end"},
		{name: "cover open", raw: [4]byte{0x1A, 0x16, 0x12, 0x12}, problem: "cover open"},
		{name: "cover open beats paper end", raw: [4]byte{0x1A, 0x36, 0x12, 0x7E}, problem: "cover open", warning: "paper near end"},
		{name: "cutter", raw: [4]byte{0x1A, 0x52, 0x1A, 0x12}, problem: "cutter error"},
		{name: "unrecoverable", raw: [4]byte{0x1A, 0x52, 0x32, 0x12}, problem: "unrecoverable error"},
		{name: "head hot", raw: [4]byte{0x1A, 0x52, 0x52, 0x12}, problem: "recoverable error (head hot or cover opened while printing)"},
		{name: "error, cause unknown", raw: [4]byte{0x1A, 0x52, 0x12, 0x12}, problem: "error"},
		{name: "offline", raw: [4]byte{0x1A, 0x12, 0x12, 0x12}, problem: "offline"},
		{name: "waiting recovery", raw: [4]byte{0x32, 0x12, 0x12, 0x12}, problem: "offline"},
		{name: "drawer pin only", raw: [4]byte{0x16, 0x12, 0x12, 0x12}},
		{name: "zero byte", raw: [4]byte{0x00, 0x12, 0x12, 0x12}, err: true},
		{name: "ASB-like byte", raw: [4]byte{0x12, 0x12, 0x12, 0x0F}, err: true},
		{name: "bit 7", raw: [4]byte{0x12, 0x92, 0x12, 0x12}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeStatus(tt.raw)
			if tt.err {
				if !errors.Is(err, ErrBadStatus) {
					t.Fatalf("err = %v, want ErrBadStatus", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Problem(); got != tt.problem {
				t.Errorf("Problem() = %q, want %q (%s)", got, tt.problem, s)
			}
			if got := s.Warning(); got != tt.warning {
				t.Errorf("Warning() = %q, want %q", got, tt.warning)
			}
		})
	}
}

func TestPaperByteIsNeverStatus(t *testing.T) {
	for b := 0; b < 256; b++ {
		if isPaperByte(byte(b)) && IsStatusByte(byte(b)) {
			t.Fatalf("0x%02x is both a GS r and a DLE EOT answer", b)
		}
	}
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte{0x12, 0x12, 0x12, 0x12})
	f.Add([]byte{0x1A, 0x32, 0x12, 0x7E})
	f.Add([]byte{0x1A, 0x16, 0x5A, 0x1E})
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw [4]byte
		copy(raw[:], b)
		s, err := DecodeStatus(raw)
		if err != nil {
			for _, x := range raw {
				if !IsStatusByte(x) {
					return
				}
			}
			t.Fatalf("valid bytes % x refused: %v", raw, err)
		}
		stopped := raw[0]&0x28 != 0 || raw[1]&0x64 != 0 || raw[2]&0x68 != 0 || raw[3]&0x60 != 0
		if stopped != (s.Problem() != "") {
			t.Fatalf("% x: problem %q, but stopped=%v", raw, s.Problem(), stopped)
		}
		if s.String() == "" || s.Raw != raw {
			t.Fatalf("% x: bad String or Raw", raw)
		}
	})
}
