package alpha

import (
	"bytes"
	"fmt"
	"strings"
)

// Position is where a TEXT file's message sits on a multi-line sign.
type Position byte

// Display positions. On one-line signs the position is ignored but must
// still be sent.
const (
	PosMiddle Position = 0x20
	PosTop    Position = 0x22
	PosBottom Position = 0x26
	PosFill   Position = 0x30 // all lines
	PosLeft   Position = 0x31 // Alpha 3.0
	PosRight  Position = 0x32 // Alpha 3.0
)

// Mode is how a TEXT file's message is shown.
type Mode byte

// Display modes ("special" mode 'n', which needs a specifier, is not offered).
const (
	ModeRotate           Mode = 'a' // moves right to left
	ModeHold             Mode = 'b' // stands still
	ModeFlash            Mode = 'c'
	ModeRollUp           Mode = 'e'
	ModeRollDown         Mode = 'f'
	ModeRollLeft         Mode = 'g'
	ModeRollRight        Mode = 'h'
	ModeWipeUp           Mode = 'i'
	ModeWipeDown         Mode = 'j'
	ModeWipeLeft         Mode = 'k'
	ModeWipeRight        Mode = 'l'
	ModeScroll           Mode = 'm' // pushes the bottom line up (two-line signs)
	ModeAuto             Mode = 'o' // the sign picks
	ModeRollIn           Mode = 'p'
	ModeRollOut          Mode = 'q'
	ModeWipeIn           Mode = 'r'
	ModeWipeOut          Mode = 's'
	ModeCompressedRotate Mode = 't'
)

var modeNames = map[string]Mode{
	"rotate": ModeRotate, "hold": ModeHold, "flash": ModeFlash,
	"roll-up": ModeRollUp, "roll-down": ModeRollDown, "roll-left": ModeRollLeft, "roll-right": ModeRollRight,
	"wipe-up": ModeWipeUp, "wipe-down": ModeWipeDown, "wipe-left": ModeWipeLeft, "wipe-right": ModeWipeRight,
	"scroll": ModeScroll, "auto": ModeAuto, "roll-in": ModeRollIn, "roll-out": ModeRollOut,
	"wipe-in": ModeWipeIn, "wipe-out": ModeWipeOut, "compressed-rotate": ModeCompressedRotate,
}

// ParseMode maps a profile's mode name ("rotate", "hold", "wipe-in", …) to
// its code.
func ParseMode(name string) (Mode, error) {
	if m, ok := modeNames[strings.ToLower(strings.ReplaceAll(name, "_", "-"))]; ok {
		return m, nil
	}
	return 0, fmt.Errorf("alpha: unknown display mode %q", name)
}

var posNames = map[string]Position{
	"middle": PosMiddle, "top": PosTop, "bottom": PosBottom, "fill": PosFill, "left": PosLeft, "right": PosRight,
}

// ParsePosition maps a profile's position name ("fill", "top", …) to its code.
func ParsePosition(name string) (Position, error) {
	if p, ok := posNames[strings.ToLower(name)]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("alpha: unknown display position %q", name)
}

// ValidLabel reports whether b can label a file: printable ASCII from
// 0x20 to 0x75 less '?' (the wildcard). '0' is the priority TEXT file.
func ValidLabel(b byte) bool { return b >= 0x20 && b <= 0x75 && b != '?' }

// TextFile is the data of a Write TEXT File command for label: ESC, the
// display position, the mode, then the message (ASCII, with control codes
// such as CallSmallDots).
func TextFile(label byte, pos Position, mode Mode, msg []byte) Command {
	d := make([]byte, 0, 4+len(msg))
	d = append(d, label, ESC, byte(pos), byte(mode))
	return Command{Code: WriteText, Data: append(d, msg...)}
}

// ReadTextFile asks the sign for a TEXT file; it answers with a WriteText
// command carrying the label and the file's contents.
func ReadTextFile(label byte) Command { return Command{Code: ReadText, Data: []byte{label}} }

// TextContents is a TEXT file as the sign holds it.
type TextContents struct {
	Label byte
	// Formatted is true when the contents start with ESC, position and
	// mode, as written.
	Formatted bool
	Pos       Position
	Mode      Mode
	Message   []byte
}

// ParseText reads a TEXT file's data (label first), as carried by a
// WriteText command, whether written by a host or answered by a sign.
func ParseText(data []byte) (TextContents, error) {
	if len(data) < 1 {
		return TextContents{}, fmt.Errorf("%w: TEXT file without a label", ErrSyntax)
	}
	t := TextContents{Label: data[0], Message: data[1:]}
	if len(t.Message) > 0 && t.Message[0] == ESC {
		if len(t.Message) < 3 {
			return t, fmt.Errorf("%w: TEXT file ESC without position and mode", ErrSyntax)
		}
		t.Formatted, t.Pos, t.Mode, t.Message = true, Position(t.Message[1]), Mode(t.Message[2]), t.Message[3:]
	}
	return t, nil
}

// Color is a SMALL DOTS PICTURE dot code.
type Color byte

// Dot colours ('1'-'3' on tri-colour signs; a monochrome sign lights any
// non-zero code).
const (
	Off      Color = '0'
	Red      Color = '1'
	Green    Color = '2'
	Amber    Color = '3'
	DimRed   Color = '4'
	DimGreen Color = '5'
	Brown    Color = '6'
	Orange   Color = '7'
	Yellow   Color = '8'
)

// Picture is a SMALL DOTS PICTURE: at most 31 rows of at most 255 dots,
// one colour code per dot.
type Picture struct {
	Label byte
	Rows  [][]byte
}

// Height and Width of the picture.
func (p Picture) Height() int { return len(p.Rows) }

// Width is the length of the first row (all rows are as long).
func (p Picture) Width() int {
	if len(p.Rows) == 0 {
		return 0
	}
	return len(p.Rows[0])
}

// Limits of a SMALL DOTS PICTURE.
const (
	MaxDotsHeight = 31
	MaxDotsWidth  = 255
)

// WriteDots is the Write SMALL DOTS PICTURE command: label, height and
// width in two hex digits each, then each row followed by CR. The sender
// pauses after the size, as the protocol requires.
func WriteDots(p Picture) (Command, error) {
	h, w := p.Height(), p.Width()
	if h < 1 || h > MaxDotsHeight || w < 1 || w > MaxDotsWidth {
		return Command{}, fmt.Errorf("alpha: picture %dx%d outside 1x1..%dx%d", w, h, MaxDotsWidth, MaxDotsHeight)
	}
	d := make([]byte, 0, 5+h*(w+1))
	d = append(d, p.Label, hexDigits[h>>4], hexDigits[h&0xF], hexDigits[w>>4], hexDigits[w&0xF])
	for i, r := range p.Rows {
		if len(r) != w {
			return Command{}, fmt.Errorf("alpha: picture row %d is %d dots, row 0 is %d", i, len(r), w)
		}
		for _, c := range r {
			if c < '0' || c > '9' {
				return Command{}, fmt.Errorf("alpha: picture row %d: dot code %q", i, c)
			}
		}
		d = append(d, r...)
		d = append(d, '\r')
	}
	return Command{Code: WriteSmallDots, Data: d, Pause: 5}, nil
}

// ReadDots asks the sign for a SMALL DOTS PICTURE; it answers with a
// WriteSmallDots command.
func ReadDots(label byte) Command { return Command{Code: ReadSmallDots, Data: []byte{label}} }

// ParseDots reads a SMALL DOTS PICTURE's data as carried by a
// WriteSmallDots command. Rows must match the declared size.
func ParseDots(data []byte) (Picture, error) {
	if len(data) < 5 {
		return Picture{}, fmt.Errorf("%w: DOTS picture header", ErrTruncated)
	}
	h, ok1 := parseHex2(data[1:3])
	w, ok2 := parseHex2(data[3:5])
	if !ok1 || !ok2 {
		return Picture{}, fmt.Errorf("%w: DOTS picture size %q", ErrSyntax, data[1:5])
	}
	p := Picture{Label: data[0]}
	rest := data[5:]
	for len(rest) > 0 {
		cr := bytes.IndexByte(rest, '\r')
		if cr < 0 {
			cr = len(rest) // a last row without CR
		}
		p.Rows = append(p.Rows, append([]byte(nil), rest[:cr]...))
		rest = rest[min(cr+1, len(rest)):]
	}
	if len(p.Rows) != h {
		return p, fmt.Errorf("%w: DOTS picture says %d rows, has %d", ErrSyntax, h, len(p.Rows))
	}
	for i, r := range p.Rows {
		if len(r) != w {
			return p, fmt.Errorf("%w: DOTS picture row %d is %d dots, size says %d", ErrSyntax, i, len(r), w)
		}
	}
	return p, nil
}

func parseHex2(b []byte) (int, bool) {
	v, ok := parseHex4(append([]byte("00"), b...))
	return int(v), ok
}

// FileType is a memory configuration file type.
type FileType byte

// File types.
const (
	FileText   FileType = 'A'
	FileString FileType = 'B'
	FileDots   FileType = 'D'
)

// DOTS colour depths for a memory configuration's Q field.
const (
	DotsMono  uint16 = 0x1000
	DotsTri   uint16 = 0x2000
	DotsEight uint16 = 0x4000
)

// AlwaysOn is a TEXT file's start/stop time pair meaning "always run".
const AlwaysOn uint16 = 0xFF00

// MemEntry is one file in the sign's memory configuration, eleven ASCII
// characters on the wire: label, type, 'U'/'L', size and Q in four hex
// digits each.
type MemEntry struct {
	Label  byte
	Type   FileType
	Locked bool   // not editable from an IR keyboard
	Size   uint16 // TEXT/STRING: bytes; DOTS: height<<8 | width
	Q      uint16 // TEXT: start<<8|stop time (AlwaysOn); STRING: 0; DOTS: colour depth
}

func (e MemEntry) append(b []byte) []byte {
	lock := byte('U')
	if e.Locked {
		lock = 'L'
	}
	return fmt.Appendf(append(b, e.Label, byte(e.Type), lock), "%04X%04X", e.Size, e.Q)
}

// SetMemory is the Write SPECIAL FUNCTION "Set Memory Configuration" (E$).
// It replaces the sign's whole file table and erases every file; with no
// entries it clears the memory.
func SetMemory(entries []MemEntry) Command {
	d := []byte{'$'}
	for _, e := range entries {
		d = e.append(d)
	}
	return Command{Code: WriteSpecial, Data: d}
}

// ReadMemory asks for the memory configuration (F$); the sign answers with
// a WriteSpecial command "$" and the table.
func ReadMemory() Command { return Command{Code: ReadSpecial, Data: []byte{'$'}} }

// ParseMemory reads a memory configuration table (the data after '$').
func ParseMemory(table []byte) ([]MemEntry, error) {
	if len(table)%11 != 0 {
		return nil, fmt.Errorf("%w: memory table is %d bytes, not a multiple of 11", ErrSyntax, len(table))
	}
	var out []MemEntry
	for i := 0; i < len(table); i += 11 {
		e := table[i : i+11]
		size, ok1 := parseHex4(e[3:7])
		q, ok2 := parseHex4(e[7:11])
		if !ok1 || !ok2 || (e[2] != 'U' && e[2] != 'L') {
			return nil, fmt.Errorf("%w: memory entry %q", ErrSyntax, e)
		}
		switch FileType(e[1]) {
		case FileText, FileString, FileDots:
		default:
			return nil, fmt.Errorf("%w: memory entry %q: file type %q", ErrSyntax, e, e[1])
		}
		out = append(out, MemEntry{Label: e[0], Type: FileType(e[1]), Locked: e[2] == 'L', Size: size, Q: q})
	}
	return out, nil
}
