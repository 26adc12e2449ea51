// Package printer is what the byte-protocol printer drivers (escpos, tspl)
// share besides their protocol: Port, the bounded-read byte link; Conn,
// that link opened lazily and reopened after it fails, the lock that
// lets one job use it at a time and the health found at the last status
// check; the openers for a device file, a serial port and a TCP port; and
// Play, which turns a driver's job into an output.Result and holds it for
// the item's duration.
package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
)

// Opener opens a printer's link; it is called when the link is first
// needed and again after it fails (a USB printer unplugged and plugged
// back, a TCP connection the printer dropped).
type Opener func(ctx context.Context) (io.ReadWriteCloser, error)

// OpenFile opens a device file, usually /dev/usb/lp0 (the usblp driver;
// the user needs group lp).
func OpenFile(path string) Opener {
	return func(context.Context) (io.ReadWriteCloser, error) {
		return os.OpenFile(path, os.O_RDWR, 0)
	}
}

// OpenSerial opens a serial port (group dialout).
func OpenSerial(name string, mode serial.Mode) Opener {
	return func(context.Context) (io.ReadWriteCloser, error) {
		return serial.Open(name, &mode)
	}
}

// DialTCP dials a network printer's raw port, usually host:9100, giving up
// after timeout.
func DialTCP(addr string, timeout time.Duration) Opener {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		nd := net.Dialer{Timeout: timeout}
		return nd.DialContext(ctx, "tcp", addr)
	}
}

// IsLinkErr reports whether err means the link is gone (and is worth
// reopening), as opposed to a printer that did not answer in time or a
// job that was cancelled.
func IsLinkErr(err error) bool {
	return err != nil && !errors.Is(err, ErrNoAnswer) && !errors.Is(err, ErrNoReads) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Status is a driver's decoded printer status.
type Status interface {
	// Problem says why the printer cannot print now, "" if it can.
	Problem() string
}

// Conn is a driver's link to its printer and what it last learnt from it.
// S is the driver's decoded status.
//
// The job lock (Lock, Unlock) guards the link: Link, Drop and Check are
// called with it held. Health, LastStatus, SetHealth and SetLast have a
// lock of their own and may be called at any time.
type Conn[S Status] struct {
	open         Opener // nil: fixed link
	writeTimeout time.Duration

	mu   sync.Mutex // one job at a time; guards port
	port *Port

	hmu    sync.Mutex
	health health.Health
	last   S
}

// NewConn returns a Conn on an open link. The link is used until it fails
// and is not reopened.
func NewConn[S Status](rw io.ReadWriter, writeTimeout time.Duration) *Conn[S] {
	return &Conn[S]{writeTimeout: writeTimeout, port: NewPort(rw, writeTimeout)}
}

// NewOpenerConn returns a Conn that opens its link with open when it is
// first needed and again after it fails.
func NewOpenerConn[S Status](open Opener, writeTimeout time.Duration) *Conn[S] {
	return &Conn[S]{open: open, writeTimeout: writeTimeout}
}

// Lock takes the job lock.
func (c *Conn[S]) Lock() { c.mu.Lock() }

// Unlock releases the job lock.
func (c *Conn[S]) Unlock() { c.mu.Unlock() }

// Health is the state found at the last status check.
func (c *Conn[S]) Health() health.Health {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.health
}

// LastStatus is the status decoded at the last check.
func (c *Conn[S]) LastStatus() S {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.last
}

// SetLast records a decoded status.
func (c *Conn[S]) SetLast(s S) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.last = s
}

// SetHealth records the outcome of a check; msg, if not empty, replaces
// the last error (which is kept after recovery until replaced).
func (c *Conn[S]) SetHealth(ok bool, msg string) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.health.OK = ok
	c.health.Checked = time.Now()
	if msg != "" {
		c.health.LastError = msg
	}
}

// Close closes the link; an opener link is opened again when next needed.
func (c *Conn[S]) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Drop()
}

// Drop closes the link. The job lock is held.
func (c *Conn[S]) Drop() error {
	if c.port == nil {
		return nil
	}
	err := c.port.Close()
	c.port = nil
	return err
}

// Link returns the port, opening it if needed; fresh says it was just
// opened. The job lock is held.
func (c *Conn[S]) Link(ctx context.Context) (p *Port, fresh bool, err error) {
	if c.port != nil && (c.open == nil || c.port.Alive()) {
		return c.port, false, nil
	}
	_ = c.Drop()
	if c.open == nil {
		return nil, false, errors.New("link closed")
	}
	rwc, err := c.open(ctx)
	if err != nil {
		return nil, false, err
	}
	c.port = NewPort(rwc, c.writeTimeout)
	return c.port, true, nil
}

// Check asks for the status with query on a drained link and returns
// what it found. When query fails with an error isLinkErr says means the
// link is gone (the printer closed an idle connection), the link is
// dropped and, unless it was opened just now, reopened and asked once
// more. The job lock is held.
func (c *Conn[S]) Check(ctx context.Context, query func(context.Context, *Port) (S, error), isLinkErr func(error) bool) (S, error) {
	for attempt := 0; ; attempt++ {
		p, fresh, err := c.Link(ctx)
		if err != nil {
			err = fmt.Errorf("printer not connected: %w", err)
			c.SetHealth(false, err.Error())
			var zero S
			return zero, err
		}
		p.Drain()
		st, err := query(ctx, p)
		if err != nil && isLinkErr(err) && c.open != nil {
			_ = c.Drop()
			if !fresh && attempt == 0 {
				continue
			}
		}
		return st, err
	}
}

// Record keeps st as the last status and sets Health from it: not OK
// with its problem, or OK with warning (if not empty) as the last error.
func (c *Conn[S]) Record(st S, warning string) {
	c.SetLast(st)
	if pr := st.Problem(); pr != "" {
		c.SetHealth(false, pr)
	} else {
		c.SetHealth(true, warning)
	}
}

// ReadFailed turns a failed read of a status answer into the error the
// query returns, and records it in Health unless ctx ended: a link that
// cannot be read says to set NoStatus, silence is said as notAnswering
// ("printer not answering (…)"), anything else is the link's failure.
func (c *Conn[S]) ReadFailed(ctx context.Context, err error, notAnswering string) error {
	msg := "printer link: " + err.Error()
	if errors.Is(err, ErrNoReads) {
		err = fmt.Errorf("printer cannot report status over this link (set NoStatus for it): %w", err)
		msg = err.Error()
	}
	if errors.Is(err, ErrNoAnswer) {
		err = fmt.Errorf("%s: %w", notAnswering, err)
		msg = err.Error()
	}
	if ctx.Err() == nil {
		c.SetHealth(false, msg)
	}
	return err
}

// Send starts a job, the job lock held: unless noStatus, it asks for the
// status with check and refuses the job on a problem; then it writes
// job. It returns the port to follow the job on, or nil and why the job
// failed: "" if it was written on a link with no status, which is all
// that can be known of it.
func (c *Conn[S]) Send(ctx context.Context, job []byte, noStatus bool, check func(context.Context) (S, error)) (*Port, string) {
	if !noStatus {
		st, err := check(ctx)
		if err != nil {
			return nil, err.Error()
		}
		if pr := st.Problem(); pr != "" {
			return nil, pr
		}
	}
	p, _, err := c.Link(ctx)
	if err != nil {
		c.SetHealth(false, "printer not connected: "+err.Error())
		return nil, "printer not connected: " + err.Error()
	}
	if err := p.Write(ctx, job); err != nil {
		if ctx.Err() == nil {
			c.SetHealth(false, "printer link: "+err.Error())
			_ = c.Drop()
		}
		return nil, "printer link: " + err.Error()
	}
	if noStatus {
		c.SetHealth(true, "no status channel: plays are not confirmed by the printer")
		return nil, ""
	}
	return p, ""
}

// Poll asks for the status with query while a job is under way, the job
// lock held. It returns the status and why the job failed: the query's
// error (the link dropped if isLinkErr says it is gone) or the status's
// problem; "" if neither.
func (c *Conn[S]) Poll(ctx context.Context, p *Port, query func(context.Context, *Port) (S, error), isLinkErr func(error) bool) (S, string) {
	st, err := query(ctx, p)
	if err != nil {
		if isLinkErr(err) {
			_ = c.Drop()
		}
		return st, err.Error()
	}
	return st, st.Problem()
}

// Play runs one printed item as an output play: build renders the job
// (start is what templates are filled with; an error means the item
// cannot be printed at all) and send, run with the job lock held, prints
// it and says why the printer did not ("" if it did). A printed item is
// held until hold has passed since start; a failure while ctx ended is
// reported as "interrupted". With noStatus a printed item is reported
// unconfirmed.
func (c *Conn[S]) Play(ctx context.Context, clk clock.Clock, hold time.Duration, noStatus bool,
	build func(start time.Time) ([]byte, error), send func(context.Context, []byte) string) (output.Result, error) {
	start := clk.Now()
	res := output.Result{Start: start}
	job, err := build(start)
	if err != nil {
		return res, err
	}
	c.mu.Lock()
	reason := send(ctx, job)
	c.mu.Unlock()
	if reason == "" {
		res.Played = true
		if rest := hold - clk.Since(start); rest > 0 {
			select {
			case <-clk.After(rest):
			case <-ctx.Done():
				// The paper is out of the printer: it was played, only the
				// hold was cut short.
			}
		}
	} else if ctx.Err() != nil {
		reason = "interrupted: " + reason
	}
	if res.Played && noStatus {
		reason = output.Note(output.NoteUnconfirmed, "the printer cannot report status on this link")
	}
	res.Reason = reason
	res.End = clk.Now()
	res.Mono = clk.Since(start)
	return res, nil
}
