// Package tspltest is a fake TSPL label printer for tests: it listens on
// loopback TCP like a printer's port 9100 (or serves any stream, such as
// a pty master), records the commands it receives — TEXT content decoded
// from GB18030, QR payloads, bitmap sizes, printed labels — and answers
// <ESC>!? with a status byte the test sets, including one that changes
// after a number of bytes (paper runs out mid-label). After each PRINT it
// reports "printing" for a few status queries, as a real printer does
// while the label feeds.
package tspltest

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/printer/printertest"
)

// Status bits of the <ESC>!? answer.
const (
	HeadOpen  byte = 0x01
	PaperJam  byte = 0x02
	PaperOut  byte = 0x04
	RibbonOut byte = 0x08
	Paused    byte = 0x10
	Printing  byte = 0x20
	CoverOpen byte = 0x40
)

// Label is one printed label.
type Label struct {
	Texts   []Event // EvText events
	QRs     []string
	Bitmaps []Event // EvBitmap events
	Copies  int
}

// Record is what the fake received since it started or was Reset.
type Record struct {
	Bytes     int64
	Commands  []string // command words in order (TEXT, PRINT, …)
	Setup     map[string]string
	Labels    []Label
	Queries   int
	FirstByte time.Time
	FirstJob  time.Time // when the first SIZE or CLS line arrived
}

// Printer is the fake.
type Printer struct {
	srv *printertest.Server

	mu       sync.Mutex
	status   byte
	silent   bool
	failAt   int64
	next     byte
	printFor int // status answers that report printing after a PRINT
	printing int
	rec      Record
	cur      Label
}

// New returns a fake that serves nothing until Listen or Attach.
func New() *Printer {
	p := &Printer{failAt: -1, printFor: 2, rec: Record{Setup: map[string]string{}}}
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

// Serve parses rw and answers on it until a read fails.
func (p *Printer) Serve(rw io.ReadWriter) error {
	var out []byte
	pr := &Parser{On: func(e Event) { out = p.event(e, out) }}
	feed := func(b []byte) int {
		k, sw := p.take(len(b))
		_, _ = pr.Write(b[:k])
		p.mu.Lock()
		if sw {
			p.status, p.failAt = p.next, -1
		}
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
			p.status, p.failAt = p.next, -1
		case left <= int64(n):
			k, sw = int(left), true
		}
	}
	p.rec.Bytes += int64(k)
	return k, sw
}

func (p *Printer) event(e Event, out []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &p.rec
	switch e.Kind {
	case EvStatus:
		r.Queries++
		if p.silent {
			return out
		}
		s := p.status
		if p.printing > 0 && s&^Printing == 0 {
			s |= Printing
			p.printing--
		}
		return append(out, s)
	case EvImmediate:
		return out
	}
	r.Commands = append(r.Commands, e.Name)
	switch e.Kind {
	case EvText:
		p.cur.Texts = append(p.cur.Texts, e)
	case EvQR:
		p.cur.QRs = append(p.cur.QRs, e.Content)
	case EvBitmap:
		p.cur.Bitmaps = append(p.cur.Bitmaps, e)
	case EvPrint:
		// A printer with a problem prints nothing.
		if p.status&^Printing == 0 {
			p.cur.Copies = e.Copies
			r.Labels = append(r.Labels, p.cur)
			p.printing = p.printFor
		}
		p.cur = Label{}
	case EvCommand:
		switch e.Name {
		case "SIZE", "GAP", "DIRECTION", "REFERENCE", "SPEED", "DENSITY", "CODEPAGE":
			r.Setup[e.Name] = e.Args
		case "CLS":
			p.cur = Label{}
		}
		if (e.Name == "SIZE" || e.Name == "CLS") && r.FirstJob.IsZero() {
			r.FirstJob = time.Now()
		}
	}
	return out
}

// SetStatus sets the byte <ESC>!? answers (0: ready).
func (p *Printer) SetStatus(b byte) {
	p.mu.Lock()
	p.status, p.failAt = b, -1
	p.mu.Unlock()
}

// SetSilent makes the fake read everything and answer nothing.
func (p *Printer) SetSilent(on bool) {
	p.mu.Lock()
	p.silent = on
	p.mu.Unlock()
}

// SetPrintFor sets how many status answers report "printing" after each
// printed label (default 2).
func (p *Printer) SetPrintFor(n int) {
	p.mu.Lock()
	p.printFor = n
	p.mu.Unlock()
}

// FailAfter switches the status to b once n more bytes have arrived.
func (p *Printer) FailAfter(n int64, b byte) {
	p.mu.Lock()
	p.failAt, p.next = p.rec.Bytes+n, b
	p.mu.Unlock()
}

// Record returns a copy of what was received.
func (p *Printer) Record() Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rec
	r.Commands = append([]string(nil), r.Commands...)
	r.Labels = append([]Label(nil), r.Labels...)
	r.Setup = map[string]string{}
	for k, v := range p.rec.Setup {
		r.Setup[k] = v
	}
	return r
}

// Reset forgets what was received (not the status).
func (p *Printer) Reset() {
	p.mu.Lock()
	p.rec = Record{Setup: map[string]string{}}
	p.cur = Label{}
	p.failAt = -1
	p.mu.Unlock()
}

// Wait blocks until cond holds for the record or ctx ends.
func (p *Printer) Wait(ctx context.Context, cond func(Record) bool) error {
	if err := p.srv.Wait(ctx, func() bool { return cond(p.Record()) }); err != nil {
		return errors.New("tspltest: condition not met: " + err.Error())
	}
	return nil
}

// HangUp closes every open connection, as a network printer does with an
// idle one, and waits until they are served no more. Listening goes on.
func (p *Printer) HangUp() { p.srv.HangUp() }

// Close stops listening, closes every connection and waits for them.
func (p *Printer) Close() error { return p.srv.Close() }
