package alpha

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/internal/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the encoder")

// golden compares got with testdata/name.golden (or writes it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file\ngot:\n%s\nwant:\n%s", name, hex.Dump(got), hex.Dump(want))
	}
}

// needUnifont skips without the system font unless CI is set.
func needUnifont(t testing.TB) *bitmapfont.Font {
	t.Helper()
	f, err := bitmapfont.System()
	if err != nil {
		if errors.Is(err, bitmapfont.ErrNotFound) && os.Getenv("CI") == "" {
			t.Skipf("%v; skipping (set CI to make this fatal)", err)
		}
		t.Fatal(err)
	}
	return f
}

// A checksum taken from a real sign's answer to a STRING read: "GaREAD ME"
// came back with checksum 027B.
func TestChecksumFromARealSign(t *testing.T) {
	if got := Checksum('G', []byte("aREAD ME")); got != 0x027B {
		t.Fatalf("checksum = %04X, want 027B", got)
	}
}

func testSign(t *testing.T, mod func(*Opts)) *Sign {
	t.Helper()
	o := DefaultOpts
	if mod != nil {
		mod(&o)
	}
	s, err := New(nil, &o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGoldenFrames(t *testing.T) {
	const msg = "BEWARE OF PHONE FRAUD - CALL 96110"
	hold := testSign(t, func(o *Opts) { o.Mode = ModeHold })
	rotate := testSign(t, nil)
	golden(t, "write_text_hold", Encode(hold.packet(TextFile('A', PosFill, ModeHold, []byte(msg)))))
	golden(t, "write_text_rotate", Encode(rotate.packet(TextFile('A', PosFill, ModeRotate, []byte(msg)))))
	golden(t, "read_text", Encode(rotate.packet(ReadTextFile('A'))))
	golden(t, "read_memory", Encode(rotate.packet(ReadMemory())))
	golden(t, "set_memory", Encode(rotate.packet(SetMemory(rotate.memoryTable()))))

	// The exact frame the driver sends for the hold message, checked by
	// hand against the protocol: 5 NULs, SOH, "Z00", STX, 'A', label
	// 'A', ESC, '0' (fill), 'b' (hold), message, ETX, checksum, EOT.
	want := append([]byte("\x00\x00\x00\x00\x00\x01Z00\x02AA\x1b0b"), msg...)
	sum := Checksum('A', append([]byte("A\x1b0b"), msg...))
	want = append(want, ETX)
	want = append(want, []byte(strings.ToUpper(hex.EncodeToString([]byte{byte(sum >> 8), byte(sum)})))...)
	want = append(want, EOT)
	if got := Encode(hold.packet(TextFile('A', PosFill, ModeHold, []byte(msg)))); !bytes.Equal(got, want) {
		t.Fatalf("hold frame:\n%s\nwant:\n%s", hex.Dump(got), hex.Dump(want))
	}
}

func TestGoldenDotsFanZha(t *testing.T) {
	font := needUnifont(t)
	s := testSign(t, func(o *Opts) { o.Font = font })
	dir := t.TempDir()
	path := filepath.Join(dir, "m.txt")
	os.WriteFile(path, []byte("反诈\n"), 0o644)
	c, err := s.prepare(textItem(1000), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.pics) != 1 || string(c.msg) != "\x14B" {
		t.Fatalf("content: %d pictures, message %q", len(c.pics), c.msg)
	}
	cmd, err := WriteDots(c.pics[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "write_dots_fanzha", Encode(s.packet(cmd)))
	golden(t, "write_text_calls_dots", Encode(s.packet(TextFile('A', PosFill, ModeRotate, c.msg))))
	// The picture is the glyphs: 32 dots centred in 96, 16 rows.
	bm := font.Render("反诈")
	p := c.pics[0]
	for y := range 16 {
		for x := range 96 {
			want := byte('0')
			if bm.At(x-32, y) {
				want = '1'
			}
			if p.Rows[y][x] != want {
				t.Fatalf("dot (%d,%d) = %q, want %q", x, y, p.Rows[y][x], want)
			}
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	p := Packet{Sync: 5, Type: TypeAll, Address: "01", Commands: []Command{
		TextFile('A', PosTop, ModeHold, []byte("HELLO\x14B")),
		ReadTextFile('A'),
	}}
	got, err := Decode(Encode(p))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	pic := Picture{Label: 'B', Rows: [][]byte{[]byte("0110"), []byte("1001")}}
	cmd, err := WriteDots(pic)
	if err != nil {
		t.Fatal(err)
	}
	if string(cmd.Data) != "B02040110\r1001\r" {
		t.Fatalf("dots data %q", cmd.Data)
	}
	back, err := ParseDots(cmd.Data)
	if err != nil || !cmp.Equal(back, pic) {
		t.Fatalf("ParseDots = %+v, %v", back, err)
	}
	mem := []MemEntry{{Label: 'A', Type: FileText, Size: 0x400, Q: AlwaysOn}, {Label: 'B', Type: FileDots, Locked: true, Size: 0x1060, Q: DotsTri}}
	c := SetMemory(mem)
	if string(c.Data) != "$AAU0400FF00BDL10602000" {
		t.Fatalf("memory table %q", c.Data)
	}
	if back, err := ParseMemory(c.Data[1:]); err != nil || !cmp.Equal(back, mem) {
		t.Fatalf("ParseMemory = %+v, %v", back, err)
	}
}

func TestEncodeChunksPauseAfterDotsSize(t *testing.T) {
	cmd, _ := WriteDots(Picture{Label: 'C', Rows: [][]byte{[]byte("1")}})
	ch := Packet{Sync: 5, Type: 'Z', Address: "00", Commands: []Command{cmd}}.chunks()
	if len(ch) != 2 || !bytes.HasSuffix(ch[0], []byte("\x02IC0101")) || !bytes.HasPrefix(ch[1], []byte("1\r\x03")) {
		t.Fatalf("chunks %q", ch)
	}
}

func TestDecodeErrors(t *testing.T) {
	ok := Encode(Packet{Sync: 5, Type: 'Z', Address: "00", Commands: []Command{ReadTextFile('A')}})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"only sync", []byte{0, 0, 0}, ErrTruncated},
		{"noise", []byte("\x00\x00X"), ErrSyntax},
		{"short header", []byte("\x01Z0"), ErrTruncated},
		{"bad address", []byte("\x01ZG0\x02BA\x04"), ErrSyntax},
		{"no command", []byte("\x01Z00\x04"), ErrSyntax},
		{"no EOT", ok[:len(ok)-1], ErrTruncated},
		{"bad checksum", append(append([]byte(nil), ok[:len(ok)-2]...), 'F', EOT), ErrChecksum},
		{"checksum not hex", []byte("\x01Z00\x02BA\x03XYZW\x04"), ErrSyntax},
		{"trailing bytes", append(append([]byte(nil), ok...), 'x'), ErrSyntax},
		{"control command code", []byte("\x01Z00\x02\x05A\x04"), ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	// A command without checksum is legal and flagged.
	p, err := Decode([]byte("\x00\x00\x00\x00\x00\x01Z00\x02BA\x04"))
	if err != nil || !p.Commands[0].NoChecksum {
		t.Fatalf("no-checksum command: %+v %v", p, err)
	}
}

// FuzzDecode feeds the decoders of what a sign sends back: the frame, and
// the TEXT, DOTS and memory-configuration answers inside it.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(Packet{Sync: 20, Type: TypeResponse, Address: "00", Commands: []Command{{Code: WriteText, Data: []byte("A\x1b0bHELLO")}}}))
	f.Add(Encode(Packet{Sync: 20, Type: TypeResponse, Address: "00", Commands: []Command{{Code: WriteSmallDots, Data: []byte("B0203010\r101\r")}}}))
	f.Add(Encode(Packet{Sync: 20, Type: TypeResponse, Address: "00", Commands: []Command{SetMemory([]MemEntry{{Label: 'A', Type: FileText, Size: 9, Q: AlwaysOn}})}}))
	f.Add([]byte("\x01000\x02GaREAD ME\x03027B\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		for _, c := range p.Commands {
			ParseText(c.Data)
			if pic, err := ParseDots(c.Data); err == nil && pic.Height() > 0 && pic.Width() > 0 && pic.Height() <= MaxDotsHeight {
				if _, err := WriteDots(pic); err != nil && !strings.Contains(err.Error(), "dot code") {
					t.Fatalf("a parsed picture does not encode: %v", err)
				}
			}
			if len(c.Data) > 0 {
				if m, err := ParseMemory(c.Data[1:]); err == nil {
					if got := SetMemory(m).Data[1:]; !strings.EqualFold(string(got), string(c.Data[1:])) {
						t.Fatalf("memory table %q re-encodes as %q", c.Data[1:], got)
					}
				}
			}
		}
		// Whatever decodes re-encodes to a frame that decodes the same.
		for i := range p.Commands {
			p.Commands[i].NoChecksum = false
		}
		q, err := Decode(Encode(p))
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if len(q.Commands) != len(p.Commands) || q.Type != p.Type || q.Address != p.Address {
			t.Fatalf("re-encoded frame differs: %+v vs %+v", q, p)
		}
	})
}

func textItem(ms int64) protocol.Item {
	return protocol.Item{SHA256: strings.Repeat("ab", 32), Kind: "text", DurationMS: ms}
}
