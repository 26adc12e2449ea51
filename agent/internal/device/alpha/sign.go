// Package alpha drives LED message signs that speak the Alpha Sign
// Communications Protocol (Adaptive Micro Systems / Alpha American, form
// 9708-8061), over RS-232/485 or a TCP serial server.
//
// A play writes the message as the sign's TEXT file, reads the file back
// with the protocol's Read TEXT command and counts as played only when the
// sign answers with what was written: the read-back is the proof. The
// protocol carries ASCII only, so any other text (Chinese) and images are
// rendered to 1-bit dots (package bitmapfont, GNU Unifont from the system)
// and sent as SMALL DOTS PICTURE files that the TEXT file calls; each
// picture is read back too.
package alpha

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image items
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.bug.st/serial"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// SerialOpts is the line setting of an RS-232/485 sign.
type SerialOpts struct {
	Baud     int  // 1200 to 38400; the sign auto-bauds on the leading NULs
	DataBits int  // 7 or 8
	Parity   byte // 'E', 'O' or 'N'
	StopBits int  // 1 or 2
}

// Opts configures a sign. Start from DefaultOpts and change what the
// profile says; zero values are taken literally.
type Opts struct {
	TypeCode byte   // sign type code to address, TypeAll by default
	Address  string // two hex digits; "00" is broadcast

	Label    byte     // the TEXT file written and read back
	Position Position // display position (ignored by one-line signs)
	Mode     Mode     // display mode

	// Width and Height of the sign in dots: pictures are cut to Width
	// and Chinese needs Height >= 16.
	Width, Height int
	// PictureLabels are the SMALL DOTS PICTURE files the driver owns, one
	// per Width-wide slice of a rendered message.
	PictureLabels string
	DotColor      Color  // code of a lit dot
	ColorDepth    uint16 // DotsMono, DotsTri or DotsEight
	TextFileSize  int    // bytes allocated to Label when the driver configures memory

	// ReadBack proves each play by reading the files back. Turn it off
	// only for a sign wired transmit-only: plays then count as played
	// once written, with nothing to show the sign took them.
	ReadBack bool

	Sync         int           // NULs before each transmission (at least 5)
	ReadTimeout  time.Duration // wait for an answer, plus line time for its size
	PacketGap    time.Duration // quiet time between transmissions while the sign stores a file
	DotsPause    time.Duration // pause after a picture's size (the protocol asks for 100 ms)
	ConfigSettle time.Duration // the sign resets after a memory configuration

	Serial SerialOpts

	Clock clock.Clock                                       // holds items; nil is the system clock
	Font  *bitmapfont.Font                                  // nil: Unifont from the system, else the built-in font
	Dial  func(context.Context) (io.ReadWriteCloser, error) // set by OpenSerial/DialTCP to reopen a dropped line
}

// DefaultOpts suit a 96×16 tri-colour sign on 9600 baud 7E2, the classic
// Alpha line setting (7 data bits, even parity; two stop bits are also
// read correctly by a sign set for one).
var DefaultOpts = Opts{
	TypeCode:      TypeAll,
	Address:       "00",
	Label:         'A',
	Position:      PosFill,
	Mode:          ModeRotate,
	Width:         96,
	Height:        16,
	PictureLabels: "BCDEFGHI",
	DotColor:      Red,
	ColorDepth:    DotsTri,
	TextFileSize:  1024,
	ReadBack:      true,
	Sync:          5,
	ReadTimeout:   3 * time.Second,
	PacketGap:     250 * time.Millisecond,
	DotsPause:     100 * time.Millisecond,
	ConfigSettle:  2 * time.Second,
	Serial:        SerialOpts{Baud: 9600, DataBits: 7, Parity: 'E', StopBits: 2},
}

// Validate reports the first impossible setting.
func (o *Opts) Validate() error {
	switch {
	case o.TypeCode < 0x20 || o.TypeCode > 0x7E || o.TypeCode == TypeResponse:
		return fmt.Errorf("alpha: type code %q", o.TypeCode)
	case len(o.Address) != 2 || !isHex(o.Address[0]) || !isHex(o.Address[1]):
		return fmt.Errorf("alpha: address %q: want two hex digits", o.Address)
	case !ValidLabel(o.Label):
		return fmt.Errorf("alpha: TEXT file label %q", o.Label)
	case o.Width < 1 || o.Height < 1:
		return fmt.Errorf("alpha: sign size %dx%d", o.Width, o.Height)
	case o.DotColor < '1' || o.DotColor > '9':
		return fmt.Errorf("alpha: dot colour %q", o.DotColor)
	case o.ColorDepth != DotsMono && o.ColorDepth != DotsTri && o.ColorDepth != DotsEight:
		return fmt.Errorf("alpha: colour depth %04X", o.ColorDepth)
	case o.TextFileSize < 16 || o.TextFileSize > 0xFFFF:
		return fmt.Errorf("alpha: TEXT file size %d", o.TextFileSize)
	case o.Sync < 5:
		return fmt.Errorf("alpha: %d sync NULs, the protocol needs at least 5", o.Sync)
	case o.ReadTimeout <= 0:
		return fmt.Errorf("alpha: read timeout %v", o.ReadTimeout)
	case o.PacketGap < 0 || o.DotsPause < 0 || o.ConfigSettle < 0:
		return errors.New("alpha: negative pause")
	}
	seen := map[byte]bool{o.Label: true}
	for i := 0; i < len(o.PictureLabels); i++ {
		l := o.PictureLabels[i]
		if !ValidLabel(l) || l == '0' || seen[l] {
			return fmt.Errorf("alpha: picture label %q (invalid, priority file or used twice)", l)
		}
		seen[l] = true
	}
	return o.Serial.validate()
}

func (s SerialOpts) validate() error {
	switch s.Baud {
	case 1200, 2400, 4800, 9600, 19200, 38400:
	default:
		return fmt.Errorf("alpha: baud %d (1200, 2400, 4800, 9600, 19200 or 38400)", s.Baud)
	}
	if s.DataBits != 7 && s.DataBits != 8 {
		return fmt.Errorf("alpha: %d data bits", s.DataBits)
	}
	if s.Parity != 'E' && s.Parity != 'O' && s.Parity != 'N' {
		return fmt.Errorf("alpha: parity %q (E, O or N)", s.Parity)
	}
	if s.StopBits != 1 && s.StopBits != 2 {
		return fmt.Errorf("alpha: %d stop bits", s.StopBits)
	}
	return nil
}

// charTime is how long one character takes on the line.
func (s SerialOpts) charTime() time.Duration {
	bits := 1 + s.DataBits + s.StopBits
	if s.Parity != 'N' {
		bits++
	}
	return time.Duration(bits) * time.Second / time.Duration(s.Baud)
}

// Sign is one Alpha sign on one line. It is safe for concurrent use; plays
// are serialised.
type Sign struct {
	opts Opts
	clk  clock.Clock

	mu     sync.Mutex // one exchange at a time; guards below
	link   *link
	memOK  bool // the memory configuration was seen to hold our pictures
	closed bool

	hmu    sync.Mutex
	health health.Health
}

var (
	_ output.Output   = (*Sign)(nil)
	_ health.Reporter = (*Sign)(nil)
)

// New drives a sign over rwc (a serial port, a TCP connection, a pty). The
// Sign owns rwc: Close closes it. opts nil means DefaultOpts.
func New(rwc io.ReadWriteCloser, opts *Opts) (*Sign, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Sign{opts: o, clk: o.Clock}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if rwc != nil {
		s.link = newLink(rwc)
	}
	return s, nil
}

// OpenSerial opens the sign on a serial device with opts.Serial. A line
// that fails is reopened on the next play.
func OpenSerial(device string, opts *Opts) (*Sign, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	mode := &serial.Mode{BaudRate: o.Serial.Baud, DataBits: o.Serial.DataBits, StopBits: serial.OneStopBit}
	if o.Serial.StopBits == 2 {
		mode.StopBits = serial.TwoStopBits
	}
	switch o.Serial.Parity {
	case 'E':
		mode.Parity = serial.EvenParity
	case 'O':
		mode.Parity = serial.OddParity
	}
	o.Dial = func(context.Context) (io.ReadWriteCloser, error) {
		p, err := serial.Open(device, mode)
		if err != nil {
			return nil, fmt.Errorf("open sign %s: %w", device, err)
		}
		return p, nil
	}
	rwc, err := o.Dial(context.Background())
	if err != nil {
		return nil, err
	}
	return New(rwc, &o)
}

// DialTCP connects to a sign behind a serial server (host:port). A dropped
// connection is redialled on the next play.
func DialTCP(ctx context.Context, addr string, opts *Opts) (*Sign, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial sign %s: %w", addr, err)
		}
		return c, nil
	}
	rwc, err := o.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return New(rwc, &o)
}

// Close closes the line and waits for its reader.
func (s *Sign) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.link == nil {
		return nil
	}
	err := s.link.close()
	s.link = nil
	return err
}

// Kind is protocol.OutputLED.
func (s *Sign) Kind() string { return protocol.OutputLED }

// Health reports whether the sign answered its last exchange.
func (s *Sign) Health() health.Health {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.health
}

func (s *Sign) setHealth(err error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.health.Checked = s.clk.Now()
	s.health.OK = err == nil
	if err != nil {
		s.health.LastError = err.Error()
	}
}

// Check asks the sign for its memory configuration (a read that shows
// nothing) and updates Health.
func (s *Sign) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sign closed")
	}
	_, err := s.readMemory(ctx)
	if ctx.Err() == nil {
		s.setHealth(err)
	}
	return err
}

// content is what one play puts on the sign.
type content struct {
	msg  []byte    // TEXT file message
	pics []Picture // pictures the message calls
}

// refusal is media the sign cannot show: a failed play, not an error.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }

func refuse(format string, a ...any) error { return refusal{fmt.Sprintf(format, a...)} }

// Play shows it on the sign, proves it by reading it back, and holds it
// for it.DurationMS. A sign that does not answer, or answers with other
// contents, is a failed play with that reason.
func (s *Sign) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	start := s.clk.Now()
	res := output.Result{Start: start}
	finish := func(reason string) (output.Result, error) {
		res.Played = reason == ""
		if res.Played && !s.opts.ReadBack {
			reason = output.Note(output.NoteUnconfirmed, "read-back is off for this sign")
		}
		res.Reason = reason
		res.End = s.clk.Now()
		res.Mono = s.clk.Since(start)
		return res, nil
	}
	c, err := s.prepare(it, path)
	var r refusal
	if errors.As(err, &r) {
		return finish(r.reason)
	}
	if err != nil {
		return res, err
	}
	shown, err := s.show(ctx, c)
	if ctx.Err() != nil {
		return finish("interrupted")
	}
	if err != nil {
		return finish(err.Error())
	}
	// The message has been on the sign since the TEXT file landed.
	select {
	case <-s.clk.After(time.Duration(it.DurationMS)*time.Millisecond - s.clk.Since(shown)):
		return finish("")
	case <-ctx.Done():
		return finish("interrupted")
	}
}

// prepare reads the media and turns it into a TEXT message and pictures.
func (s *Sign) prepare(it protocol.Item, path string) (content, error) {
	switch it.Kind {
	case "text", "image":
	default:
		return content{}, refuse("an LED sign cannot play %q items", it.Kind)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return content{}, fmt.Errorf("read media: %w", err)
	}
	if it.Kind == "image" {
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return content{}, refuse("image: %v", err)
		}
		return s.pictures(bitmapfont.FromImage(img, min(s.opts.Height, MaxDotsHeight)))
	}
	if !utf8.Valid(b) {
		return content{}, refuse("text is not UTF-8")
	}
	text := oneLine(string(b))
	if text == "" {
		return content{}, refuse("empty text")
	}
	if isASCII(text) {
		if len(text)+3 > s.opts.TextFileSize {
			return content{}, refuse("text is %d bytes, the sign's TEXT file holds %d", len(text), s.opts.TextFileSize-3)
		}
		return content{msg: []byte(text)}, nil
	}
	// Not ASCII: the sign has no glyphs for it, so it goes as dots.
	if s.opts.Height < 16 {
		return content{}, refuse("non-ASCII text needs a sign 16 dots high, this one is %d", s.opts.Height)
	}
	font := s.opts.Font
	if font == nil {
		font = bitmapfont.ForHeight(16)
	}
	if m := font.Missing(text); len(m) > 0 {
		return content{}, refuse("font %s has no glyphs for %q (install the unifont package)", font.Name(), string(m))
	}
	return s.pictures(font.Render(text))
}

// oneLine makes text one sign line: line breaks and tabs become spaces,
// other control characters (which the sign would take as commands) go.
func oneLine(text string) string {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	var sb strings.Builder
	for _, r := range text {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			sb.WriteByte(' ')
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0):
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// pictures cuts a bitmap into SMALL DOTS PICTUREs as wide as the sign and
// builds the TEXT message calling them in order. A bitmap narrower than
// the sign is centred in one picture; the last slice of a wider one is
// padded dark. Every picture has the allocated size.
func (s *Sign) pictures(bm *bitmapfont.Bitmap) (content, error) {
	pw, ph := s.pictureSize()
	if bm.W == 0 {
		return content{}, refuse("nothing to show")
	}
	if bm.H > ph {
		return content{}, refuse("picture is %d dots high, the sign's pictures are %d", bm.H, ph)
	}
	n := (bm.W + pw - 1) / pw
	if n > len(s.opts.PictureLabels) {
		return content{}, refuse("message is %d dots wide: %d pictures, the sign has %d", bm.W, n, len(s.opts.PictureLabels))
	}
	x0 := 0
	if n == 1 {
		x0 = -(pw - bm.W) / 2
	}
	y0 := -(ph - bm.H) / 2
	var c content
	for i := range n {
		p := Picture{Label: s.opts.PictureLabels[i]}
		for y := range ph {
			row := make([]byte, pw)
			for x := range pw {
				row[x] = byte(Off)
				if bm.At(x0+i*pw+x, y0+y) {
					row[x] = byte(s.opts.DotColor)
				}
			}
			p.Rows = append(p.Rows, row)
		}
		c.pics = append(c.pics, p)
		c.msg = append(c.msg, CallSmallDots, p.Label)
	}
	return c, nil
}

func (s *Sign) pictureSize() (w, h int) {
	return min(s.opts.Width, MaxDotsWidth), min(s.opts.Height, MaxDotsHeight)
}

// show puts c on the sign and proves it by reading every file back. It
// returns when the TEXT file was written.
func (s *Sign) show(ctx context.Context, c content) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return time.Time{}, errors.New("sign closed")
	}
	shown, err := s.exchange(ctx, c)
	if errors.Is(err, errLine) && s.opts.Dial != nil && ctx.Err() == nil {
		// A serial server may have dropped an idle connection: redial
		// once and try again.
		s.link.close()
		s.link = nil
		shown, err = s.exchange(ctx, c)
	}
	if ctx.Err() != nil {
		return shown, err
	}
	// A refusal found on the way (a sign without room) says nothing
	// about the link; anything else does.
	var r refusal
	if !errors.As(err, &r) {
		s.setHealth(err)
	}
	if err != nil {
		s.memOK = false // the sign may have been replaced or reset
	}
	return shown, err
}

func (s *Sign) exchange(ctx context.Context, c content) (time.Time, error) {
	if err := s.connect(ctx); err != nil {
		return time.Time{}, err
	}
	if len(c.pics) > 0 {
		if err := s.ensureMemory(ctx); err != nil {
			return time.Time{}, err
		}
		for _, p := range c.pics {
			cmd, err := WriteDots(p)
			if err != nil {
				return time.Time{}, refuse("%v", err)
			}
			if err := s.write(ctx, cmd); err != nil {
				return time.Time{}, err
			}
			if !s.opts.ReadBack {
				continue
			}
			ans, err := s.ask(ctx, ReadDots(p.Label), WriteSmallDots, p.Height()*(p.Width()+1))
			if err != nil {
				return time.Time{}, err
			}
			got, err := ParseDots(ans)
			if err != nil {
				return time.Time{}, fmt.Errorf("sign answer corrupt: %w", err)
			}
			if got.Label != p.Label || !equalRows(got.Rows, p.Rows) {
				return time.Time{}, fmt.Errorf("read-back mismatch: picture %q: wrote %dx%d dots, sign has %dx%d differing", p.Label, p.Width(), p.Height(), got.Width(), got.Height())
			}
		}
	}
	if err := s.write(ctx, TextFile(s.opts.Label, s.opts.Position, s.opts.Mode, c.msg)); err != nil {
		return time.Time{}, err
	}
	shown := s.clk.Now()
	if !s.opts.ReadBack {
		return shown, nil
	}
	ans, err := s.ask(ctx, ReadTextFile(s.opts.Label), WriteText, len(c.msg)+4)
	if err != nil {
		return shown, err
	}
	got, err := ParseText(ans)
	if err != nil {
		return shown, fmt.Errorf("sign answer corrupt: %w", err)
	}
	// Signs answer with the file as stored; if it keeps the ESC position
	// mode prefix, that must match too.
	if got.Label != s.opts.Label || !bytes.Equal(got.Message, c.msg) ||
		(got.Formatted && (got.Pos != s.opts.Position || got.Mode != s.opts.Mode)) {
		return shown, fmt.Errorf("read-back mismatch: wrote %s, sign has %s", quote(c.msg), quote(got.Message))
	}
	return shown, nil
}

func equalRows(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// quote shows sign bytes in a reason, shortened.
func quote(b []byte) string {
	const max = 60
	if len(b) > max {
		return fmt.Sprintf("%q…(%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// errLine marks a failed transport (write error, reader stopped): the line,
// not the sign, is at fault, and a dialled line is worth reopening.
var errLine = errors.New("sign line")

// lineFailed marks the link broken, so that the next exchange reopens it,
// and wraps err as a line failure.
func (s *Sign) lineFailed(err error) error {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		s.link.fail(err)
	}
	return fmt.Errorf("%w: %w", errLine, err)
}

// connect reopens a line that broke, where the sign was opened by path or
// address.
func (s *Sign) connect(ctx context.Context) error {
	if s.link != nil {
		err := s.link.broken()
		if err == nil {
			return nil
		}
		if s.opts.Dial == nil {
			return fmt.Errorf("%w closed: %w", errLine, err)
		}
		s.link.close()
		s.link = nil
	}
	if s.opts.Dial == nil {
		return errors.New("sign has no line")
	}
	rwc, err := s.opts.Dial(ctx)
	if err != nil {
		return err
	}
	s.link = newLink(rwc)
	return nil
}

func (s *Sign) packet(cmd Command) Packet {
	return Packet{Sync: s.opts.Sync, Type: s.opts.TypeCode, Address: s.opts.Address, Commands: []Command{cmd}}
}

// write sends one command and leaves the sign time to store it.
func (s *Sign) write(ctx context.Context, cmd Command) error {
	if err := s.link.send(ctx, s.packet(cmd), s.opts.DotsPause); err != nil {
		return s.lineFailed(err)
	}
	return sleep(ctx, s.opts.PacketGap)
}

// ask sends a read and returns the data of the sign's answer, which must
// be one command with code want. size estimates the answer's length, for
// the time it takes on the line.
func (s *Sign) ask(ctx context.Context, cmd Command, want byte, size int) ([]byte, error) {
	s.link.discard()
	if err := s.link.send(ctx, s.packet(cmd), 0); err != nil {
		return nil, s.lineFailed(err)
	}
	timeout := s.opts.ReadTimeout + time.Duration(size+32)*s.opts.Serial.charTime()
	p, err := s.link.receive(ctx, timeout)
	if err != nil {
		if errors.Is(err, errNoAnswer) || ctx.Err() != nil {
			return nil, err
		}
		if errors.Is(err, ErrChecksum) || errors.Is(err, ErrSyntax) || errors.Is(err, ErrTruncated) {
			return nil, fmt.Errorf("sign answer corrupt: %w", err)
		}
		return nil, s.lineFailed(err)
	}
	if p.Type != TypeResponse || len(p.Commands) != 1 || p.Commands[0].Code != want {
		return nil, fmt.Errorf("sign answer corrupt: want one %q command from type %q, got %d commands from type %q", want, TypeResponse, len(p.Commands), p.Type)
	}
	if err := sleep(ctx, s.opts.PacketGap); err != nil {
		return nil, err
	}
	return p.Commands[0].Data, nil
}

// memoryTable is the configuration the driver needs: its TEXT file and
// its pictures.
func (s *Sign) memoryTable() []MemEntry {
	w, h := s.pictureSize()
	t := []MemEntry{{Label: s.opts.Label, Type: FileText, Size: uint16(s.opts.TextFileSize), Q: AlwaysOn}}
	for i := 0; i < len(s.opts.PictureLabels); i++ {
		t = append(t, MemEntry{Label: s.opts.PictureLabels[i], Type: FileDots, Size: uint16(h<<8 | w), Q: s.opts.ColorDepth})
	}
	return t
}

func (s *Sign) readMemory(ctx context.Context) ([]MemEntry, error) {
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	ans, err := s.ask(ctx, ReadMemory(), WriteSpecial, 11*(1+len(s.opts.PictureLabels)))
	if err != nil {
		return nil, err
	}
	if len(ans) < 1 || ans[0] != '$' {
		return nil, fmt.Errorf("sign answer corrupt: memory configuration answer %s", quote(ans))
	}
	t, err := ParseMemory(ans[1:])
	if err != nil {
		return nil, fmt.Errorf("sign answer corrupt: %w", err)
	}
	return t, nil
}

// memoryHolds reports whether the sign's table has our files. The sign
// hands spare memory to the first file, so TEXT sizes are not compared.
func memoryHolds(have, want []MemEntry) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if h.Label == w.Label && h.Type == w.Type && (w.Type == FileText || h.Size == w.Size && h.Q == w.Q) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ensureMemory makes sure the sign has room for the driver's pictures.
// Writing a memory configuration erases the sign, so it is only written
// when the sign's table (read first) lacks them.
func (s *Sign) ensureMemory(ctx context.Context) error {
	if s.memOK {
		return nil
	}
	want := s.memoryTable()
	if !s.opts.ReadBack {
		// Nothing can be read: configure once per session and trust it.
		if err := s.write(ctx, SetMemory(want)); err != nil {
			return err
		}
		if err := sleep(ctx, s.opts.ConfigSettle); err != nil {
			return err
		}
		s.memOK = true
		return nil
	}
	have, err := s.readMemory(ctx)
	if err != nil {
		return err
	}
	if !memoryHolds(have, want) {
		if err := s.write(ctx, SetMemory(want)); err != nil {
			return err
		}
		if err := sleep(ctx, s.opts.ConfigSettle); err != nil {
			return err
		}
		if have, err = s.readMemory(ctx); err != nil {
			return err
		}
		if !memoryHolds(have, want) {
			return refuse("sign did not take the memory configuration for %d pictures (not enough memory?)", len(s.opts.PictureLabels))
		}
	}
	s.memOK = true
	return nil
}
