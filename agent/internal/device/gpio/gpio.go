// Package gpio turns GPIO inputs into local triggers: the counter's
// "large transfer" button, an ATM presence sensor (PIR), the front desk's
// keycard-issued signal. Each input is debounced and reported as a
// Trigger that the playback layer binds to an output ("play the
// large-transfer warning on the counter speaker").
//
// Pins come from periph.io (gpioreg.ByName("GPIO17") after host.Init).
// The input listens to both edges and reports a level only once it has
// been stable for Debounce, so contact bounce on press and on release
// never makes a second trigger.
package gpio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/guardcast/guardcast/agent/internal/device/health"
)

// Trigger is one debounced activation of an input.
type Trigger struct {
	Name   string    // the input's name from its profile ("large-transfer")
	Pin    string    // "GPIO17"
	At     time.Time // the first edge of the activation, before debouncing
	Active bool      // true: activated; false: released (only with Opts.Releases)
}

// Opts configures an input.
type Opts struct {
	Name string
	Pin  string // periph name: "GPIO17"
	// Pull is the internal resistor; Active is the level that means
	// "triggered". A button to ground: PullUp, Low. A PIR sensor's
	// push-pull output: PullNoChange or PullDown, High.
	Pull   gpio.Pull
	Active gpio.Level
	// Debounce is how long the level must hold before it counts.
	Debounce time.Duration
	// Poll bounds each wait for an edge, so Run sees its ctx end.
	Poll time.Duration
	// Releases also reports the return to the inactive level.
	Releases bool
}

// DefaultOpts are for a push button between GPIO17 and ground.
var DefaultOpts = Opts{
	Name:     "button",
	Pin:      "GPIO17",
	Pull:     gpio.PullUp,
	Active:   gpio.Low,
	Debounce: 20 * time.Millisecond,
	Poll:     100 * time.Millisecond,
}

// Input is one debounced GPIO input.
type Input struct {
	o Opts
	p gpio.PinIn

	mu      sync.Mutex
	running bool
	lastErr string
	checked time.Time
	count   int
}

var _ health.Reporter = (*Input)(nil)

// Open initialises periph's host drivers, finds o.Pin and configures it.
func Open(o Opts) (*Input, error) {
	o = fill(o)
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("gpio: periph host init: %w", err)
	}
	p := gpioreg.ByName(o.Pin)
	if p == nil {
		return nil, fmt.Errorf("gpio: %s not found: is this a Raspberry Pi, and is the agent user in group gpio?", o.Pin)
	}
	return New(p, o)
}

// New configures p as a pulled, both-edges input.
func New(p gpio.PinIn, o Opts) (*Input, error) {
	o = fill(o)
	if o.Pin == "" {
		o.Pin = p.Name()
	}
	if err := p.In(o.Pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("gpio: %s as input with edge detection (is the agent user in group gpio?): %w", o.Pin, err)
	}
	return &Input{o: o, p: p}, nil
}

func fill(o Opts) Opts {
	if o.Debounce <= 0 {
		o.Debounce = DefaultOpts.Debounce
	}
	if o.Poll <= 0 {
		o.Poll = DefaultOpts.Poll
	}
	if o.Name == "" {
		o.Name = o.Pin
	}
	return o
}

// Count is how many activations Run has reported.
func (in *Input) Count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.count
}

// Health is OK while Run watches the pin.
func (in *Input) Health() health.Health {
	in.mu.Lock()
	defer in.mu.Unlock()
	return health.Health{OK: in.running, LastError: in.lastErr, Checked: in.checked}
}

// Run watches the pin until ctx ends, calling fn for each debounced
// activation (and release, with Opts.Releases). fn runs on Run's
// goroutine: it must hand long work (a play) to another goroutine. Run
// returns nil when ctx ends.
func (in *Input) Run(ctx context.Context, fn func(Trigger)) error {
	if fn == nil {
		return errors.New("gpio: Run needs a callback")
	}
	in.mu.Lock()
	in.running, in.checked = true, time.Now()
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.running, in.checked = false, time.Now()
		in.mu.Unlock()
	}()
	stable := in.p.Read() // a button held at start is not a trigger
	var (
		pending bool      // an edge came and the level has not held for Debounce yet
		first   time.Time // the burst's first edge
		last    time.Time // the burst's latest edge
	)
	for ctx.Err() == nil {
		wait := in.o.Poll
		if pending {
			wait = max(in.o.Debounce-time.Since(last), time.Millisecond)
		}
		if in.p.WaitForEdge(wait) {
			now := time.Now()
			if !pending {
				pending, first = true, now
			}
			last = now
			continue
		}
		if !pending || time.Since(last) < in.o.Debounce {
			continue
		}
		pending = false
		lvl := in.p.Read()
		if lvl == stable {
			continue // bounced back: nothing happened
		}
		stable = lvl
		active := lvl == in.o.Active
		if active {
			in.mu.Lock()
			in.count++
			in.checked = time.Now()
			in.mu.Unlock()
		}
		if active || in.o.Releases {
			fn(Trigger{Name: in.o.Name, Pin: in.o.Pin, At: first, Active: active})
		}
	}
	return nil
}

// Halt stops the pin's edge detection.
func (in *Input) Halt() error {
	if h, ok := in.p.(interface{ Halt() error }); ok {
		return h.Halt()
	}
	return nil
}
