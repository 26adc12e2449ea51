// Package escpostest is a fake ESC/POS printer for tests: it listens on
// loopback TCP like a network printer's port 9100 (or serves any stream,
// such as a pty master standing in for a serial line), parses what it
// receives the way a printer would — text lines decoded from GB18030 in
// Chinese mode, raster image sizes, QR payloads, cuts — and answers the
// real-time status query DLE EOT n and GS r 1 from a State the test sets,
// including a state that changes after a number of bytes ("paper runs out
// mid-job").
package escpostest

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/printer/printertest"
)

// State is the condition the fake reports.
type State struct {
	PaperEnd        bool
	PaperNearEnd    bool
	CoverOpen       bool
	CutterError     bool
	Unrecoverable   bool
	AutoRecoverable bool
	FeedButton      bool // held down: offline while held
	// Silent printers read everything and answer nothing (a unidirectional
	// link, a printer hung in firmware).
	Silent bool
	// NoGSR is firmware without GS r (many Xprinter and Gprinter models):
	// it parses GS r and never answers it.
	NoGSR bool
}

// Offline reports whether a printer in s has stopped: it still answers
// DLE EOT (real-time) but processes nothing else, so GS r goes unanswered.
func (s State) Offline() bool {
	return s.PaperEnd || s.CoverOpen || s.CutterError || s.Unrecoverable || s.AutoRecoverable || s.FeedButton
}

// Answers returns the bytes a printer in s sends for DLE EOT 1, 2, 3, 4,
// as the Epson reference defines them (fixed bits 1 and 4 set).
func (s State) Answers() [4]byte {
	a := [4]byte{0x12, 0x12, 0x12, 0x12}
	set := func(i int, on bool, bit byte) {
		if on {
			a[i] |= bit
		}
	}
	set(0, s.Offline(), 0x08)
	set(0, s.FeedButton, 0x40)
	set(1, s.CoverOpen, 0x04)
	set(1, s.PaperEnd, 0x20)
	set(1, s.CutterError || s.Unrecoverable || s.AutoRecoverable, 0x40)
	set(2, s.CutterError, 0x08)
	set(2, s.Unrecoverable, 0x20)
	set(2, s.AutoRecoverable, 0x40)
	set(3, s.PaperNearEnd || s.PaperEnd, 0x0C)
	set(3, s.PaperEnd, 0x60)
	return a
}

// PaperAnswer is the answer to GS r 1: bits 0-1 near end, bits 2-3 end.
func (s State) PaperAnswer() byte {
	var b byte
	if s.PaperNearEnd || s.PaperEnd {
		b |= 0x03
	}
	if s.PaperEnd {
		b |= 0x0C
	}
	return b
}

// Record is what the fake has received since it started or was Reset.
type Record struct {
	Bytes        int64
	Inits        int      // ESC @
	Lines        []string // printed text lines, decoded
	Rasters      []Raster
	QRs          []string // QR payloads printed natively
	Cuts         []bool   // one per cut: true if partial
	Queries      []int    // DLE EOT n, in order
	PaperQueries int      // GS r
	Chinese      bool     // in Chinese mode at the end
	Unknown      []int    // unknown commands, first two bytes
	FirstByte    time.Time
	FirstInit    time.Time // when the first ESC @ arrived: the first byte of a job
}

// Printer is the fake.
type Printer struct {
	srv *printertest.Server

	mu     sync.Mutex
	state  State
	failAt int64 // switch to next after this many bytes in total; <0: never
	next   State
	rec    Record
}

// New returns a fake that serves nothing until Listen or Attach.
func New() *Printer {
	p := &Printer{failAt: -1}
	p.srv = printertest.NewServer(p.Serve)
	return p
}

// Listen returns a fake listening on 127.0.0.1 on a free port.
func Listen() (*Printer, error) {
	p := New()
	if err := p.srv.Listen(); err != nil {
		return nil, err
	}
	return p, nil
}

// Addr is the host:port the fake listens on.
func (p *Printer) Addr() string { return p.srv.Addr() }

// Attach serves rwc (a TCP connection, a pty master) until its reads fail;
// Close closes it. It returns false if the fake is already closed.
func (p *Printer) Attach(rwc io.ReadWriteCloser) bool { return p.srv.Attach(rwc) }

// Serve parses rw and answers on it until a read fails; it returns that
// error (io.EOF when the driver hung up).
func (p *Printer) Serve(rw io.ReadWriter) error {
	var out []byte
	pr := &Parser{On: func(e Event) { out = p.event(e, out) }}
	feed := func(b []byte) int {
		k, sw := p.take(len(b))
		_, _ = pr.Write(b[:k])
		p.mu.Lock()
		if sw {
			p.state, p.failAt = p.next, -1
		}
		p.rec.Chinese = pr.chinese
		p.srv.Notify()
		p.mu.Unlock()
		return k
	}
	reply := func() []byte {
		r := out
		out = out[:0]
		return r
	}
	return printertest.Pump(rw, feed, reply)
}

// take counts up to n received bytes, stopping where a FailAfter switch is
// due; sw says to switch once those bytes are parsed.
func (p *Printer) take(n int) (k int, sw bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec.FirstByte.IsZero() {
		p.rec.FirstByte = time.Now()
	}
	k = n
	if p.failAt >= 0 {
		switch left := p.failAt - p.rec.Bytes; {
		case left <= 0:
			p.state, p.failAt = p.next, -1
		case left <= int64(n):
			k, sw = int(left), true
		}
	}
	p.rec.Bytes += int64(k)
	return k, sw
}

// event records e and appends any answer to out.
func (p *Printer) event(e Event, out []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &p.rec
	switch e.Kind {
	case EvInit:
		r.Inits++
		if r.FirstInit.IsZero() {
			r.FirstInit = time.Now()
		}
	case EvText:
		r.Lines = append(r.Lines, e.Text)
	case EvRaster:
		r.Rasters = append(r.Rasters, e.Raster)
	case EvQR:
		r.QRs = append(r.QRs, e.Text)
	case EvCut:
		r.Cuts = append(r.Cuts, e.Partial)
	case EvUnknown:
		r.Unknown = append(r.Unknown, e.N)
	case EvQuery:
		r.Queries = append(r.Queries, e.N)
		if !p.state.Silent && e.N >= 1 && e.N <= 4 {
			out = append(out, p.state.Answers()[e.N-1])
		}
	case EvPaper:
		r.PaperQueries++
		if !p.state.Silent && !p.state.NoGSR && !p.state.Offline() && (e.N == 1 || e.N == 49) {
			out = append(out, p.state.PaperAnswer())
		}
	}
	return out
}

// SetState sets what the fake reports from now on.
func (p *Printer) SetState(s State) {
	p.mu.Lock()
	p.state, p.failAt = s, -1
	p.mu.Unlock()
}

// FailAfter switches the fake to s once n more bytes have arrived: the
// paper runs out in the middle of a job.
func (p *Printer) FailAfter(n int64, s State) {
	p.mu.Lock()
	p.failAt, p.next = p.rec.Bytes+n, s
	p.mu.Unlock()
}

// State is what the fake reports now.
func (p *Printer) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Record returns a copy of what was received.
func (p *Printer) Record() Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rec
	r.Lines = append([]string(nil), r.Lines...)
	r.Rasters = append([]Raster(nil), r.Rasters...)
	r.QRs = append([]string(nil), r.QRs...)
	r.Cuts = append([]bool(nil), r.Cuts...)
	r.Queries = append([]int(nil), r.Queries...)
	r.Unknown = append([]int(nil), r.Unknown...)
	return r
}

// Reset forgets what was received (not the state).
func (p *Printer) Reset() {
	p.mu.Lock()
	p.rec = Record{}
	p.failAt = -1
	p.mu.Unlock()
}

// Wait blocks until cond holds for the record or ctx ends.
func (p *Printer) Wait(ctx context.Context, cond func(Record) bool) error {
	if err := p.srv.Wait(ctx, func() bool { return cond(p.Record()) }); err != nil {
		return errors.New("escpostest: condition not met: " + err.Error())
	}
	return nil
}

// HangUp closes every open connection, as a network printer does with an
// idle one, and waits until they are served no more. Listening goes on.
func (p *Printer) HangUp() { p.srv.HangUp() }

// Close stops listening, closes every connection and waits for them.
func (p *Printer) Close() error { return p.srv.Close() }
