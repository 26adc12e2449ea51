package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Opened is a driver as Lazy opened it.
type Opened struct {
	Output
	// Health, if set, is the driver's own view once it is open; nil: OK
	// while open.
	Health health.Reporter
	// Check, if set, asks the hardware how it is (a health poll).
	Check func(context.Context) error
	// Close, if set, releases the driver (and stops a player process).
	Close func() error
}

// LazyOpts configures a Lazy.
type LazyOpts struct {
	// Kind is the protocol output served.
	Kind string
	// Absent is the word a play's reason starts with while the hardware
	// cannot be opened (ReasonSignSilent, ReasonTVAbsent, …).
	Absent string
	// Open opens the driver. It is called when a play or a check first
	// needs it, again after a failure once the backoff has passed, and
	// after a stalled play.
	Open func(ctx context.Context) (Opened, error)
	// Margin is how long past the item's duration a play may run before
	// it is failed as ReasonStalled and the driver restarted; 0: no
	// deadline.
	Margin time.Duration
	// OpenTimeout bounds one attempt to open (a TCP sign whose host is
	// gone would otherwise hold a play for minutes). Default 15 s.
	OpenTimeout time.Duration
	// MinBackoff and MaxBackoff space the attempts to open hardware that
	// keeps failing: from MinBackoff, doubling, capped at MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	Clock                  clock.Clock  // nil: the system clock
	Log                    *slog.Logger // first failure, stall and recovery; nil discards
	// QuietHours ("HH:MM-HH:MM" in QuietLoc, nil: time.Local) is the
	// profile's window in which the output refuses to play; the player
	// asks for it (QuietHours) before the hardware is ever opened, so it
	// schedules nothing there instead of failing every play.
	QuietHours string
	QuietLoc   *time.Location
}

// Defaults of LazyOpts.
const (
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultOpenTimeout = 15 * time.Second
)

// ErrAbsent marks the error of an output whose hardware could not be
// opened; Lazy has logged it (once), so callers need not.
var ErrAbsent = errors.New("hardware not available")

type absentError struct{ err error }

func (e absentError) Error() string   { return e.err.Error() }
func (e absentError) Unwrap() []error { return []error{e.err, ErrAbsent} }

// ErrStalled is the cause a play is cancelled with at its deadline.
var ErrStalled = errors.New(ReasonStalled)

// ErrClosed is returned by a Lazy used after Close.
var ErrClosed = errors.New("output closed")

// Lazy is an output whose hardware may be missing. It opens its driver
// when first needed instead of at start-up, so that an unplugged sign
// does not stop the agent or its other outputs; while the hardware cannot
// be opened every play fails at once with a reason ("sign_silent: dial
// sign …: connection refused") and Health is not OK, and it is tried
// again with backoff. It bounds every play by the item's duration plus
// Margin: a play still running then is failed as ReasonStalled and the
// driver closed, to be opened afresh (mpv killed and respawned) by the
// next play.
type Lazy struct {
	o   LazyOpts
	clk clock.Clock
	log *slog.Logger

	openMu sync.Mutex // one open at a time

	mu       sync.Mutex
	drv      *Opened
	err      error     // why the last open failed; nil once open
	failing  bool      // the hardware is missing or stalled (logged once)
	stalled  string    // why the last play stalled, until the driver reopens
	retryAt  time.Time // no open before this
	backoff  time.Duration
	checked  time.Time
	closed   bool
	attempts int
}

var (
	_ Output          = (*Lazy)(nil)
	_ health.Reporter = (*Lazy)(nil)
)

// NewLazy returns a Lazy; nothing is opened yet.
func NewLazy(o LazyOpts) *Lazy {
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.Absent == "" {
		o.Absent = ReasonOutputAbsent
	}
	l := &Lazy{o: o, clk: o.Clock, log: o.Log, backoff: o.MinBackoff}
	if l.clk == nil {
		l.clk = clock.Real{}
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("output", o.Kind)
	return l
}

// Kind is the output served.
func (l *Lazy) Kind() string { return l.o.Kind }

// Attempts is how many times the driver has been opened or tried.
func (l *Lazy) Attempts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts
}

// get returns the open driver, opening it if the backoff allows.
func (l *Lazy) get(ctx context.Context) (*Opened, error) {
	l.openMu.Lock()
	defer l.openMu.Unlock()
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case l.drv != nil:
		d := l.drv
		l.mu.Unlock()
		return d, nil
	case l.err != nil && l.clk.Now().Before(l.retryAt):
		err := l.err
		l.mu.Unlock()
		return nil, err
	}
	l.attempts++
	l.mu.Unlock()

	octx, cancel := context.WithTimeout(ctx, l.o.OpenTimeout)
	d, err := l.o.Open(octx)
	cancel()
	if err == nil && d.Output == nil {
		err = errors.New("driver opened nothing")
	}
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checked = now
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, err // the caller gave up, not the hardware: try again next time
		}
		err = absentError{err}
		if !l.failing {
			l.log.Warn("output unavailable; retrying with backoff", "err", err, "retry_in", l.backoff)
		}
		l.failing, l.err = true, err
		l.retryAt = now.Add(l.backoff)
		l.backoff = min(2*l.backoff, l.o.MaxBackoff)
		return nil, err
	}
	if l.closed {
		if d.Close != nil {
			_ = d.Close()
		}
		return nil, ErrClosed
	}
	if l.failing {
		l.log.Info("output recovered", "after", l.attempts)
	}
	l.drv, l.err, l.failing, l.stalled = &d, nil, false, ""
	l.backoff = l.o.MinBackoff
	return l.drv, nil
}

// Start tries to open the driver now (at start-up, so that health is
// true from the first status); a failure is only reported, and retried.
func (l *Lazy) Start(ctx context.Context) error {
	_, err := l.get(ctx)
	return err
}

// Play plays it on the driver, opening it first if needed, within the
// item's duration plus Margin.
func (l *Lazy) Play(ctx context.Context, it protocol.Item, path string) (Result, error) {
	d, err := l.get(ctx)
	if err != nil {
		now := l.clk.Now()
		reason := l.o.Absent + ": " + err.Error()
		if ctx.Err() != nil {
			reason = "interrupted"
		}
		return Result{Start: now, End: now, Reason: reason}, nil
	}
	if l.o.Margin <= 0 {
		return d.Play(ctx, it, path)
	}
	limit := time.Duration(it.DurationMS)*time.Millisecond + l.o.Margin
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-l.clk.After(limit):
			cancel(ErrStalled)
		case <-quit:
		}
	}()
	res, err := d.Play(pctx, it, path)
	close(quit)
	<-done
	if ctx.Err() != nil || !errors.Is(context.Cause(pctx), ErrStalled) {
		return res, err
	}
	why := fmt.Sprintf("%s: no end %v after the start (duration %v + margin %v)",
		ReasonStalled, limit, time.Duration(it.DurationMS)*time.Millisecond, l.o.Margin)
	res.Played, res.Reason = false, why
	if res.Start.IsZero() {
		res.Start = l.clk.Now()
	}
	res.End = l.clk.Now()
	if res.Mono <= 0 {
		res.Mono = res.End.Sub(res.Start)
	}
	l.restart(d, why)
	return res, nil
}

// restart closes a driver that stalled; the next play opens it again.
func (l *Lazy) restart(d *Opened, why string) {
	l.mu.Lock()
	if l.drv == d {
		l.drv = nil
	}
	l.stalled, l.checked = why, l.clk.Now()
	if !l.failing {
		l.log.Warn("play stalled; restarting the player", "reason", why)
	}
	l.failing = true
	l.mu.Unlock()
	if d.Close != nil {
		if err := d.Close(); err != nil {
			l.log.Warn("closing a stalled player", "err", err)
		}
	}
}

// Check opens the driver if the backoff allows and asks it how the
// hardware is.
func (l *Lazy) Check(ctx context.Context) error {
	d, err := l.get(ctx)
	if err != nil {
		return err
	}
	if d.Check == nil {
		return nil
	}
	return d.Check(ctx)
}

// Health is not OK while the hardware cannot be opened or a play has
// stalled; once open it is the driver's.
func (l *Lazy) Health() health.Health {
	l.mu.Lock()
	d, err, stalled, checked := l.drv, l.err, l.stalled, l.checked
	l.mu.Unlock()
	switch {
	case stalled != "" && d == nil:
		return health.Health{LastError: stalled, Checked: checked}
	case d == nil && err != nil:
		return health.Health{LastError: l.o.Absent + ": " + err.Error(), Checked: checked}
	case d == nil:
		return health.Health{LastError: "not opened yet", Checked: checked}
	case d.Health != nil:
		return d.Health.Health()
	}
	return health.Health{OK: true, Checked: checked}
}

// Close closes the driver, if open; the Lazy opens nothing after it.
func (l *Lazy) Close() error {
	l.openMu.Lock()
	defer l.openMu.Unlock()
	l.mu.Lock()
	d := l.drv
	l.drv, l.closed = nil, true
	l.mu.Unlock()
	if d != nil && d.Close != nil {
		return d.Close()
	}
	return nil
}

// QuietHours is the profile's quiet window and its zone ("" for none).
func (l *Lazy) QuietHours() (string, *time.Location) {
	loc := l.o.QuietLoc
	if loc == nil {
		loc = time.Local
	}
	return l.o.QuietHours, loc
}
