// Package clocksync tells the agent whether its wall clock may be
// trusted to pick dated schedule entries. On an untrusted clock the agent
// plays only each output's safe loop and marks its proofs
// clock_synced=false (package internal/plan, rule 3).
//
// Trust comes from the kernel: adjtimex(2), read-only, says whether NTP
// (systemd-timesyncd, chrony, ntpd) has synchronised the clock. A Pi has
// no battery-backed clock, so it boots with a wrong time until NTP syncs;
// a Monitor re-reads the kernel every minute, so such a Pi goes over to
// the schedule without a restart. A device with an RTC or GPS clock that
// NTP does not discipline can be told to trust its clock (Opts.Forced,
// the agent's --clock-trusted).
package clocksync

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Kernel reads the kernel's clock synchronisation state. Adjtimex is the
// real one; tests fake it.
type Kernel interface {
	Synced() (bool, error)
}

// ErrUnsupported is returned by Adjtimex where the kernel cannot be asked
// (not Linux): the clock is then untrusted unless forced.
var ErrUnsupported = errors.New("clocksync: the kernel's sync state cannot be read on this system")

// Adjtimex reads the sync state with adjtimex(2), changing nothing.
type Adjtimex struct{}

var _ Kernel = Adjtimex{}

// DefaultEvery is how often a Monitor re-reads the kernel.
const DefaultEvery = time.Minute

// Opts configure a Monitor. Zero values take the defaults.
type Opts struct {
	Kernel Kernel        // default Adjtimex{}
	Clock  clock.Clock   // default clock.Real{}
	Every  time.Duration // default DefaultEvery
	// Forced trusts the clock whatever the kernel says (an RTC or GPS
	// clock); the kernel is not read.
	Forced bool
	// OnChange, when set, is called from Run with the new state each
	// time it changes.
	OnChange func(State)
}

// State is the clock's trust as last read.
type State struct {
	Synced bool
	Source string // protocol.ClockKernel or protocol.ClockForced
	Err    error  // the kernel could not be read (Synced is false)
}

// Monitor holds the clock's trust state and keeps it current.
type Monitor struct {
	o  Opts
	mu sync.Mutex
	st State
}

// New reads the state once, so that the agent's first plays and status
// already go by it, and returns a Monitor; Run keeps it current.
func New(o Opts) *Monitor {
	if o.Kernel == nil {
		o.Kernel = Adjtimex{}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	m := &Monitor{o: o}
	m.st = m.read()
	return m
}

func (m *Monitor) read() State {
	if m.o.Forced {
		return State{Synced: true, Source: protocol.ClockForced}
	}
	ok, err := m.o.Kernel.Synced()
	return State{Synced: ok && err == nil, Source: protocol.ClockKernel, Err: err}
}

// State is the state as last read.
func (m *Monitor) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// Synced reports whether the clock is trusted, as last read.
func (m *Monitor) Synced() bool { return m.State().Synced }

// Run re-reads the kernel every Opts.Every until ctx ends. A forced
// monitor has nothing to re-read and returns at once.
func (m *Monitor) Run(ctx context.Context) error {
	if m.o.Forced {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.o.Clock.After(m.o.Every):
		}
		st := m.read()
		m.mu.Lock()
		old := m.st
		m.st = st
		m.mu.Unlock()
		if m.o.OnChange != nil && (old.Synced != st.Synced || errText(old.Err) != errText(st.Err)) {
			m.o.OnChange(st)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
