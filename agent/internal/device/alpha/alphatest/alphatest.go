// Package alphatest is a fake Alpha sign that speaks the wire: it reads
// transmissions from a pty, a TCP connection or any stream, checks their
// sync and checksums, keeps TEXT files, SMALL DOTS PICTUREs and the memory
// configuration as a sign does, and answers reads in the protocol's
// response frames. It can be told to fall silent or to corrupt its answers.
package alphatest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/creack/pty"

	"github.com/guardcast/guardcast/agent/internal/device/alpha"
)

// Corruption is how the fake spoils its answers.
type Corruption int

// Corruptions.
const (
	CorruptNone     Corruption = iota
	CorruptChecksum            // right contents, wrong checksum
	CorruptContent             // a valid frame with one character changed
)

// Options configure the fake.
type Options struct {
	Address string // the sign's address, "00" if empty
	MinSync int    // NULs required before SOH, 5 if zero
	// Memory is the factory table; nil is one 256-byte TEXT file "A",
	// which is what a new sign has.
	Memory []alpha.MemEntry
	// Echo sends every byte received straight back first, as an RS-485
	// adapter that hears its own transmitter does.
	Echo bool
}

// Sign is a fake sign. Its methods are safe for concurrent use.
type Sign struct {
	opts Options
	wg   sync.WaitGroup

	mu      sync.Mutex
	mem     []alpha.MemEntry
	texts   map[byte][]byte
	dots    map[byte]alpha.Picture
	silent  bool
	corrupt Corruption
	packets []alpha.Packet
	errs    []error
	closers []io.Closer
	conns   []io.Closer // streams served, for Hangup
	closed  bool
	reads   int
}

// New returns a fake sign with an empty memory.
func New(opts Options) *Sign {
	if opts.Address == "" {
		opts.Address = "00"
	}
	if opts.MinSync == 0 {
		opts.MinSync = 5
	}
	if opts.Memory == nil {
		opts.Memory = []alpha.MemEntry{{Label: 'A', Type: alpha.FileText, Size: 256, Q: alpha.AlwaysOn}}
	}
	s := &Sign{opts: opts}
	s.resetLocked(opts.Memory)
	return s
}

func (s *Sign) resetLocked(mem []alpha.MemEntry) {
	s.mem = append([]alpha.MemEntry(nil), mem...)
	s.texts = map[byte][]byte{}
	s.dots = map[byte]alpha.Picture{}
}

// SetSilent makes the sign stop answering reads (it still stores writes).
func (s *Sign) SetSilent(on bool) {
	s.mu.Lock()
	s.silent = on
	s.mu.Unlock()
}

// SetCorrupt makes the sign spoil its answers.
func (s *Sign) SetCorrupt(c Corruption) {
	s.mu.Lock()
	s.corrupt = c
	s.mu.Unlock()
}

// Text returns TEXT file label's data as stored (ESC, position, mode,
// message), and whether it was ever written.
func (s *Sign) Text(label byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.texts[label]
	return append([]byte(nil), t...), ok
}

// Picture returns a stored SMALL DOTS PICTURE.
func (s *Sign) Picture(label byte) (alpha.Picture, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.dots[label]
	return p, ok
}

// Memory returns the memory configuration.
func (s *Sign) Memory() []alpha.MemEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alpha.MemEntry(nil), s.mem...)
}

// Packets returns every well-formed transmission received, in order.
func (s *Sign) Packets() []alpha.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alpha.Packet(nil), s.packets...)
}

// Errors returns what was wrong with what was received: bad sync, bad
// checksums, writes a real sign would refuse. A correct driver leaves it
// empty.
func (s *Sign) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// Reads counts the reads answered.
func (s *Sign) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *Sign) fault(format string, a ...any) {
	s.errs = append(s.errs, fmt.Errorf(format, a...))
}

// Serve reads transmissions from rw and answers on it until reading
// fails; it returns nil at EOF or when the stream is closed.
func (s *Sign) Serve(rw io.ReadWriter) error {
	var pending []byte
	b := make([]byte, 4096)
	for {
		n, err := rw.Read(b)
		if n > 0 && s.opts.Echo {
			if _, err := rw.Write(b[:n]); err != nil {
				return fmt.Errorf("alphatest: echo: %w", err)
			}
		}
		pending = append(pending, b[:n]...)
		for {
			eot := bytes.IndexByte(pending, alpha.EOT)
			if eot < 0 {
				break
			}
			frame := pending[:eot+1]
			pending = pending[eot+1:]
			if ans := s.handle(frame); ans != nil {
				if _, err := rw.Write(ans); err != nil {
					return fmt.Errorf("alphatest: answer: %w", err)
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || isPTYHangup(err) {
				return nil
			}
			return fmt.Errorf("alphatest: read: %w", err)
		}
	}
}

// Attach serves rwc in a goroutine that Close stops and waits for.
func (s *Sign) Attach(rwc io.ReadWriteCloser) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rwc.Close()
		return
	}
	s.closers = append(s.closers, rwc)
	s.conns = append(s.conns, rwc)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.Serve(rwc); err != nil {
			s.mu.Lock()
			s.fault("%v", err)
			s.mu.Unlock()
		}
	}()
}

// OpenPTY opens a pseudo-terminal pair, serves its master side and returns
// the path of the other side, which a driver opens as its serial port.
func (s *Sign) OpenPTY() (string, error) {
	m, t, err := pty.Open()
	if err != nil {
		return "", fmt.Errorf("alphatest: pty: %w", err)
	}
	name := t.Name()
	if err := makeRaw(t); err != nil {
		m.Close()
		t.Close()
		return "", err
	}
	// Keep the terminal side open too, so the master does not see a
	// hang-up between the driver's reopenings.
	s.mu.Lock()
	s.closers = append(s.closers, t)
	s.mu.Unlock()
	s.Attach(m)
	return name, nil
}

// Listen accepts TCP connections on a loopback port, as a serial server
// would, and serves each. It returns the address.
func (s *Sign) Listen() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("alphatest: %w", err)
	}
	s.mu.Lock()
	s.closers = append(s.closers, l)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.Attach(c)
		}
	}()
	return l.Addr().String(), nil
}

// Hangup drops every connection being served (a serial server losing its
// client, a cable pulled) but keeps listening.
func (s *Sign) Hangup() {
	s.mu.Lock()
	cs := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// Close stops serving and waits for every goroutine.
func (s *Sign) Close() error {
	s.mu.Lock()
	cs := s.closers
	s.closers = nil
	s.closed = true
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	s.wg.Wait()
	return nil
}

// handle processes one transmission and returns the answer, if any.
func (s *Sign) handle(frame []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := alpha.Decode(frame)
	if err != nil {
		s.fault("bad transmission %q: %v", frame, err)
		return nil
	}
	if p.Sync < s.opts.MinSync {
		s.fault("transmission with %d sync NULs, want at least %d", p.Sync, s.opts.MinSync)
		return nil
	}
	if p.Type == alpha.TypeResponse || !s.addressed(p.Address) {
		return nil
	}
	s.packets = append(s.packets, p)
	var out []alpha.Command
	for _, c := range p.Commands {
		if c.NoChecksum {
			s.fault("command %q sent without a checksum", c.Code)
		}
		if a, ok := s.command(c); ok {
			out = append(out, a)
		}
	}
	if len(out) == 0 || s.silent {
		return nil
	}
	s.reads++
	ans := alpha.Encode(alpha.Packet{Sync: 20, Type: alpha.TypeResponse, Address: "00", Commands: out})
	switch s.corrupt {
	case CorruptChecksum:
		ans[len(ans)-2] ^= 0x01 // last checksum digit: '0'↔'1', 'A'↔'@'…
	case CorruptContent:
		// Change the last data byte before ETX and fix up the checksum.
		c := &out[len(out)-1]
		if len(c.Data) > 1 {
			c.Data[len(c.Data)-1] ^= 0x01
		}
		ans = alpha.Encode(alpha.Packet{Sync: 20, Type: alpha.TypeResponse, Address: "00", Commands: out})
	}
	return ans
}

func (s *Sign) addressed(a string) bool {
	if a == "00" {
		return true
	}
	for i := 0; i < 2; i++ {
		if a[i] != '?' && a[i] != s.opts.Address[i] {
			return false
		}
	}
	return true
}

func (s *Sign) lookup(label byte) (alpha.MemEntry, bool) {
	for _, e := range s.mem {
		if e.Label == label {
			return e, true
		}
	}
	return alpha.MemEntry{}, false
}

// command applies one command and returns the answer to a read.
func (s *Sign) command(c alpha.Command) (alpha.Command, bool) {
	switch c.Code {
	case alpha.WriteText:
		t, err := alpha.ParseText(c.Data)
		if err != nil {
			s.fault("write TEXT: %v", err)
			return alpha.Command{}, false
		}
		if t.Label == '0' { // the priority file always exists
			s.texts['0'] = c.Data[1:]
			return alpha.Command{}, false
		}
		e, ok := s.lookup(t.Label)
		switch {
		case !ok || e.Type != alpha.FileText:
			s.fault("write TEXT %q: no such TEXT file in memory", t.Label)
		case len(c.Data)-1 > int(e.Size):
			s.fault("write TEXT %q: %d bytes into %d", t.Label, len(c.Data)-1, e.Size)
		default:
			s.texts[t.Label] = append([]byte(nil), c.Data[1:]...)
		}
	case alpha.ReadText:
		if len(c.Data) != 1 {
			s.fault("read TEXT: %d bytes of label", len(c.Data))
			return alpha.Command{}, false
		}
		return alpha.Command{Code: alpha.WriteText, Data: append([]byte{c.Data[0]}, s.texts[c.Data[0]]...)}, true
	case alpha.WriteSmallDots:
		p, err := alpha.ParseDots(c.Data)
		if err != nil {
			s.fault("write DOTS: %v", err)
			return alpha.Command{}, false
		}
		e, ok := s.lookup(p.Label)
		switch {
		case !ok || e.Type != alpha.FileDots:
			s.fault("write DOTS %q: no such DOTS file in memory", p.Label)
		case p.Height() > int(e.Size>>8) || p.Width() > int(e.Size&0xFF):
			s.fault("write DOTS %q: %dx%d into %dx%d", p.Label, p.Width(), p.Height(), e.Size&0xFF, e.Size>>8)
		default:
			for _, r := range p.Rows {
				for _, d := range r {
					if d < '0' || d > '8' {
						s.fault("write DOTS %q: dot code %q", p.Label, d)
						return alpha.Command{}, false
					}
				}
			}
			s.dots[p.Label] = p
		}
	case alpha.ReadSmallDots:
		if len(c.Data) != 1 {
			s.fault("read DOTS: %d bytes of label", len(c.Data))
			return alpha.Command{}, false
		}
		p, ok := s.dots[c.Data[0]]
		if !ok {
			return alpha.Command{Code: alpha.WriteSmallDots, Data: append([]byte{c.Data[0]}, "0000"...)}, true
		}
		w, err := alpha.WriteDots(p)
		if err != nil {
			s.fault("read DOTS: %v", err)
			return alpha.Command{}, false
		}
		w.Pause = 0
		return w, true
	case alpha.WriteSpecial:
		if len(c.Data) > 0 && c.Data[0] == '$' {
			t, err := alpha.ParseMemory(c.Data[1:])
			if err != nil {
				s.fault("set memory: %v", err)
				return alpha.Command{}, false
			}
			if len(t) == 0 {
				t = s.opts.Memory // a bare E$ clears to the factory table
			}
			s.resetLocked(t)
		}
		// Other special functions (time, speaker, run sequence) are
		// accepted and ignored.
	case alpha.ReadSpecial:
		if len(c.Data) == 1 && c.Data[0] == '$' {
			cmd := alpha.SetMemory(s.mem)
			return cmd, true
		}
	default:
		s.fault("unsupported command %q", c.Code)
	}
	return alpha.Command{}, false
}
