package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"
)

var (
	// ErrNoAnswer is returned when the printer sent nothing within the
	// time allowed.
	ErrNoAnswer = errors.New("no answer")
	// ErrNoReads is returned by Next on a link that cannot be read at all:
	// Linux usblp fails reads with EINVAL when the printer has no
	// bidirectional interface. Writes still work; the link is still up.
	ErrNoReads = errors.New("link cannot be read (usblp printer without a bidirectional interface?)")
)

// Port is the byte link to a printer (a usblp device file, a serial port,
// a TCP connection) with reads that are bounded and cancellable whatever
// the transport. One goroutine, owned by the Port and ended by Close,
// reads everything the printer sends; Next takes from it with a
// timeout.
type Port struct {
	rw           io.ReadWriter
	writeTimeout time.Duration

	in   chan []byte
	done chan struct{}
	wg   sync.WaitGroup
	rerr error // why the reader stopped; set before in is closed

	pending []byte // received, not yet taken; used by one caller at a time
	close   sync.Once
	cerr    error
}

// NewPort starts reading rw. Writes taking longer than writeTimeout (0:
// no limit beyond the context) fail where rw has SetWriteDeadline
// (net.Conn, pollable files); elsewhere a write is cut into 4 KiB pieces
// and the context is checked between them. Close closes rw if it is an
// io.Closer; if it is not, Close waits until rw's Read returns.
func NewPort(rw io.ReadWriter, writeTimeout time.Duration) *Port {
	p := &Port{rw: rw, writeTimeout: writeTimeout, in: make(chan []byte, 64), done: make(chan struct{})}
	p.wg.Add(1)
	go p.pump()
	return p
}

func (p *Port) pump() {
	defer p.wg.Done()
	defer close(p.in)
	idle := 0
	for {
		buf := make([]byte, 512)
		n, err := p.rw.Read(buf)
		if n > 0 {
			idle = 0
			select {
			case p.in <- buf[:n]:
			case <-p.done:
				p.rerr = errors.New("port closed")
				return
			}
		}
		if err != nil {
			if errors.Is(err, syscall.EINVAL) {
				err = fmt.Errorf("%w: %v", ErrNoReads, err)
			}
			p.rerr = err
			return
		}
		if n == 0 {
			// A reader with a read timeout (a serial port) returns 0, nil
			// when nothing came; one that always does is broken.
			if idle++; idle > 1000 {
				p.rerr = io.ErrNoProgress
				return
			}
			select {
			case <-p.done:
				p.rerr = errors.New("port closed")
				return
			default:
			}
		}
	}
}

// Next returns the next byte from the printer, waiting at most
// timeout. It returns ErrNoAnswer on timeout, the context's error if it
// ends first, and the read error once the link is gone.
func (p *Port) Next(ctx context.Context, timeout time.Duration) (byte, error) {
	if len(p.pending) > 0 {
		b := p.pending[0]
		p.pending = p.pending[1:]
		return b, nil
	}
	if timeout <= 0 {
		return 0, ErrNoAnswer
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case buf, ok := <-p.in:
		if !ok {
			return 0, fmt.Errorf("read: %w", p.rerr)
		}
		p.pending = buf[1:]
		return buf[0], nil
	case <-t.C:
		return 0, ErrNoAnswer
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Drain discards whatever the printer has sent and nobody has read (a
// late answer to an earlier query). It does not wait.
func (p *Port) Drain() {
	p.pending = nil
	for {
		select {
		case _, ok := <-p.in:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// Alive reports whether the link is up as far as reads can tell: the
// reader is running, or the link was never readable (ErrNoReads).
func (p *Port) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
	}
	// A closed in channel with nothing pending means the reader ended.
	if len(p.pending) > 0 {
		return true
	}
	select {
	case buf, ok := <-p.in:
		if !ok {
			// A link that cannot be read is still up for writing.
			return errors.Is(p.rerr, ErrNoReads)
		}
		p.pending = buf
		return true
	default:
		return true
	}
}

type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// Write sends b, giving up when ctx ends or the write timeout passes.
func (p *Port) Write(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if wd, ok := p.rw.(writeDeadliner); ok {
		dl := time.Time{}
		if p.writeTimeout > 0 {
			dl = time.Now().Add(p.writeTimeout)
		}
		if d, ok := ctx.Deadline(); ok && (dl.IsZero() || d.Before(dl)) {
			dl = d
		}
		if err := wd.SetWriteDeadline(dl); err == nil {
			stop := context.AfterFunc(ctx, func() { _ = wd.SetWriteDeadline(time.Unix(1, 0)) })
			_, err := p.rw.Write(b)
			stop()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("write: %w", err)
			}
			return nil
		}
	}
	for len(b) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(b), 4096)
		if _, err := p.rw.Write(b[:n]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// Close stops the reader and closes the link; it waits for the reader.
func (p *Port) Close() error {
	p.close.Do(func() {
		close(p.done)
		if c, ok := p.rw.(io.Closer); ok {
			p.cerr = c.Close()
		}
		p.wg.Wait()
	})
	return p.cerr
}
