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

// Conn is a driver's link to its printer and what it last learnt from it.
// S is the driver's decoded status.
//
// The job lock (Lock, Unlock) guards the link: Link, Drop and Check are
// called with it held. Health, LastStatus, SetHealth and SetLast have a
// lock of their own and may be called at any time.
type Conn[S any] struct {
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
func NewConn[S any](rw io.ReadWriter, writeTimeout time.Duration) *Conn[S] {
	return &Conn[S]{writeTimeout: writeTimeout, port: NewPort(rw, writeTimeout)}
}

// NewOpenerConn returns a Conn that opens its link with open when it is
// first needed and again after it fails.
func NewOpenerConn[S any](open Opener, writeTimeout time.Duration) *Conn[S] {
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

// Play runs one printed item as an output play: print builds the job
// (the item's start time is what templates are filled with) and sends it,
// returning why the printer did not print it ("" if it did) or an error
// if the item cannot be printed at all. A printed item is held until
// hold has passed since start; a failure while ctx ended is reported as
// "interrupted". With noStatus a printed item is reported unconfirmed.
func Play(ctx context.Context, clk clock.Clock, hold time.Duration, noStatus bool, print func(start time.Time) (reason string, err error)) (output.Result, error) {
	start := clk.Now()
	res := output.Result{Start: start}
	reason, err := print(start)
	if err != nil {
		return res, err
	}
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
		reason = "unconfirmed: the printer cannot report status on this link"
	}
	res.Reason = reason
	res.End = clk.Now()
	res.Mono = clk.Since(start)
	return res, nil
}
