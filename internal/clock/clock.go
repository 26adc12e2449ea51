// Package clock brings time in through an interface so that schedules can
// be tested with a Fake that is advanced explicitly: no test sleeps to wait
// for a schedule.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock is what time-dependent code takes instead of calling time directly.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the clock's time once d has
	// passed. The channel is buffered: nobody has to read it.
	After(d time.Duration) <-chan time.Time
	// Since is Now().Sub(t), using the monotonic reading where there is one.
	Since(t time.Time) time.Duration
}

// Real is the system clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now.
func (Real) Now() time.Time { return time.Now() }

// After returns time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Since returns time.Since.
func (Real) Since(t time.Time) time.Duration { return time.Since(t) }

// Fake is a clock that only moves when Advance or Set is called. It is safe
// for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

var _ Clock = (*Fake)(nil)

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the fake time elapsed since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// After returns a channel that fires once the fake clock has been advanced
// by at least d. A non-positive d fires at once.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, &waiter{at: f.now.Add(d), ch: ch})
	f.notifyLocked()
	return ch
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Advance moves the clock forward by d, firing every waiter whose time has
// come, in order of their deadlines.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the clock to t (which may be in the past: wall clocks jump).
// Waiters are measured against the new reading.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(t)
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	kept := f.waiters[:0]
	fired := false
	for _, w := range f.waiters {
		if !w.at.After(t) {
			w.ch <- t
			fired = true
			continue
		}
		kept = append(kept, w)
	}
	for i := len(kept); i < len(f.waiters); i++ {
		f.waiters[i] = nil
	}
	f.waiters = kept
	if fired {
		f.notifyLocked()
	}
}

// Waiters reports how many After channels are pending.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil returns once at least n After channels are pending, or when
// done is closed (it then reports false). Tests use it to know a goroutine
// has reached its wait before advancing the clock.
func (f *Fake) BlockUntil(done <-chan struct{}, n int) bool {
	for {
		f.mu.Lock()
		if len(f.waiters) >= n {
			f.mu.Unlock()
			return true
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}
