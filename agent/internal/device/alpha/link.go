package alpha

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// errNoAnswer is a read that timed out with no complete transmission.
var errNoAnswer = errors.New("sign did not answer")

// maxPending bounds what a chatty or noisy line can pile up unread.
const maxPending = 64 << 10

// link owns one open transport and the goroutine reading it. Reads are
// collected continuously so that an answer can be waited for with a
// timeout on any transport, and a late answer is dropped (discard) before
// the next question instead of being taken for its answer.
type link struct {
	rwc  io.ReadWriteCloser
	wake chan struct{} // a byte arrived or reading stopped
	done chan struct{} // the reader has returned

	mu  sync.Mutex
	buf []byte
	err error // why reading stopped
}

func newLink(rwc io.ReadWriteCloser) *link {
	l := &link{rwc: rwc, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.readLoop()
	return l
}

func (l *link) readLoop() {
	defer close(l.done)
	b := make([]byte, 4096)
	for {
		n, err := l.rwc.Read(b)
		l.mu.Lock()
		l.buf = append(l.buf, b[:n]...)
		if len(l.buf) > maxPending {
			l.buf = append(l.buf[:0], l.buf[len(l.buf)-maxPending:]...)
		}
		if err == nil && n == 0 {
			err = io.ErrNoProgress
		}
		if err != nil {
			l.err = err
		}
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// close closes the transport, which ends the reader, and waits for it.
func (l *link) close() error {
	err := l.rwc.Close()
	<-l.done
	return err
}

// broken reports why reading stopped, or nil.
func (l *link) broken() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// fail marks the link broken (a write failed) if reading has not already.
func (l *link) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// discard drops whatever has arrived unasked.
func (l *link) discard() {
	l.mu.Lock()
	l.buf = l.buf[:0]
	l.mu.Unlock()
}

// drainer is a transport that can wait until its output has left the wire
// (a serial port); pauses the protocol asks for are timed from then.
type drainer interface{ Drain() error }

// send writes p, pausing where its commands ask to.
func (l *link) send(ctx context.Context, p Packet, pause time.Duration) error {
	chunks := p.chunks()
	for i, c := range chunks {
		if _, err := l.rwc.Write(c); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if i == len(chunks)-1 {
			break
		}
		if d, ok := l.rwc.(drainer); ok {
			if err := d.Drain(); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
	}
	return nil
}

// receive waits up to timeout for the sign's answer (SOH … EOT) and
// decodes it. Leading NULs and noise before SOH are skipped, and so are
// well-formed transmissions that are not answers: the echo of our own
// question from an RS-485 adapter that hears itself.
func (l *link) receive(ctx context.Context, timeout time.Duration) (Packet, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		l.mu.Lock()
		if soh := bytes.IndexByte(l.buf, SOH); soh >= 0 {
			if eot := bytes.IndexByte(l.buf[soh:], EOT); eot >= 0 {
				frame := append([]byte(nil), l.buf[soh:soh+eot+1]...)
				l.buf = append(l.buf[:0], l.buf[soh+eot+1:]...)
				l.mu.Unlock()
				p, err := Decode(frame)
				if err == nil && p.Type != TypeResponse {
					continue // an echo
				}
				return p, err
			}
		}
		err := l.err
		l.mu.Unlock()
		if err != nil {
			return Packet{}, fmt.Errorf("read: %w", err)
		}
		select {
		case <-l.wake:
		case <-t.C:
			return Packet{}, errNoAnswer
		case <-ctx.Done():
			return Packet{}, context.Cause(ctx)
		}
	}
}

// sleep waits d of real time (pacing a real wire), or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
