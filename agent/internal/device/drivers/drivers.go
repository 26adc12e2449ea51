// Package drivers turns an agent's firmware profiles into running drivers:
// one explicit switch on the profile kind, no registry. It owns the opened
// devices (closing them on shutdown), runs GPIO inputs that raise local
// triggers, polls drivers that can check their hardware, and collects
// every driver's health for the agent's status.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"

	"go.bug.st/serial"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/guardcast/guardcast/agent/internal/device/alpha"
	"github.com/guardcast/guardcast/agent/internal/device/audio"
	"github.com/guardcast/guardcast/agent/internal/device/cec"
	"github.com/guardcast/guardcast/agent/internal/device/cups"
	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	gcgpio "github.com/guardcast/guardcast/agent/internal/device/gpio"
	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/device/max7219led"
	"github.com/guardcast/guardcast/agent/internal/device/mpv"
	"github.com/guardcast/guardcast/agent/internal/device/printer"
	"github.com/guardcast/guardcast/agent/internal/device/tspl"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/virtual"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/profile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Env is what drivers need from the agent besides their profile.
type Env struct {
	Clock   clock.Clock
	Log     *slog.Logger
	Site    string // printed on reminders
	Hotline string // printed on reminders; default 96110
	// MinBackoff and MaxBackoff space attempts to open missing hardware
	// (default output.DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
}

// Set is an agent's opened hardware.
type Set struct {
	env        Env
	outputs    map[string]*bound
	inputs     []*input
	allVirtual string // profile ID when every output is virtual

	mu sync.Mutex // guards outputs once Open has returned (virtual ones are made on demand)
}

type bound struct {
	out     output.Output
	profile string
	health  health.Reporter
	check   func(context.Context) error // nil: the driver cannot be polled
	poll    time.Duration
	close   func() error
}

type input struct {
	trigger string
	profile string
	dev     *gcgpio.Input
}

// Open resolves the config's profiles in set and opens every driver: the
// config's Profile for its own output, Outputs for the others, Inputs for
// triggers. Any failure closes what was opened and names the profile.
func Open(ctx context.Context, set *profile.Set, cfg *protocol.AgentConfig, env Env) (*Set, error) {
	if env.Clock == nil {
		env.Clock = clock.Real{}
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if env.Hotline == "" {
		env.Hotline = "96110"
	}
	s := &Set{env: env, outputs: map[string]*bound{}}
	want := map[string]string{} // output → profile ID
	main, err := set.Get(cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("config profile: %w", err)
	}
	switch {
	case main.Kind == profile.KindGPIOInput:
		return nil, fmt.Errorf("config profile %s is a gpio input, not an output: list it under \"inputs\"", main.ID)
	case main.Kind == profile.KindVirtual && main.Output == "":
		s.allVirtual = main.ID
	case main.Kind == profile.KindVirtual:
		want[main.Output] = main.ID
	default:
		want[main.Kind.Output()] = main.ID
	}
	for out, id := range cfg.Outputs {
		if prev, ok := want[out]; ok && prev != id {
			return nil, fmt.Errorf("output %s given two profiles: %s and %s", out, prev, id)
		}
		want[out] = id
	}
	outs := make([]string, 0, len(want))
	for out := range want {
		outs = append(outs, out)
	}
	sort.Strings(outs)
	for _, out := range outs {
		p, err := set.Get(want[out])
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("output %s: %w", out, err)
		}
		served := p.Kind.Output()
		if p.Kind == profile.KindVirtual {
			served = p.Output
			if served == "" {
				served = out
			}
		}
		if served != out {
			s.Close()
			return nil, fmt.Errorf("output %s: profile %s (%s) drives %q, not %q", out, p.ID, p.Kind, served, out)
		}
		b, err := s.openOutput(ctx, p, out)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("output %s, profile %s: %w", out, p.ID, err)
		}
		s.outputs[out] = b
	}
	names := make([]string, 0, len(cfg.Inputs))
	for name := range cfg.Inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p, err := set.Get(cfg.Inputs[name])
		if err == nil && p.Kind != profile.KindGPIOInput {
			err = fmt.Errorf("profile %s is %s, not gpio-input", p.ID, p.Kind)
		}
		var in *gcgpio.Input
		if err == nil {
			in, err = openInput(name, p)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		s.inputs = append(s.inputs, &input{trigger: name, profile: p.ID, dev: in})
	}
	return s, nil
}

// openOutput binds an output to its profile's driver. Hardware is opened
// lazily (output.Lazy): a device missing at start-up is tried now, and
// again with backoff, while every play on it fails saying why; the agent
// and its other outputs run on.
func (s *Set) openOutput(ctx context.Context, p *profile.Profile, out string) (*bound, error) {
	b := &bound{profile: p.ID}
	if p.Status != nil {
		b.poll = p.Status.Poll()
	}
	if p.Kind == profile.KindVirtual {
		b.out = virtual.New(out, s.env.Clock, s.env.Log)
		return b, nil
	}
	if p.Kind.Output() == "" {
		return nil, fmt.Errorf("kind %s does not drive an output", p.Kind)
	}
	lo := output.LazyOpts{
		Kind: out, Absent: absentReason(out), Margin: p.PlayMargin(),
		Clock: s.env.Clock, Log: s.env.Log.With("profile", p.ID),
		MinBackoff: s.env.MinBackoff, MaxBackoff: s.env.MaxBackoff,
		Open: func(ctx context.Context) (output.Opened, error) { return s.openDriver(ctx, p) },
	}
	if p.Kind == profile.KindAudioALSA && p.Limits != nil {
		// The speaker refuses to play in these hours (audio.Opts); the
		// schedule leaves them empty instead (the Pi's local time).
		lo.QuietHours, lo.QuietLoc = p.Limits.QuietHours, time.Local
	}
	l := output.NewLazy(lo)
	_ = l.Start(ctx) // a failure is logged and retried by Lazy
	b.out, b.health, b.check, b.close = l, l, l.Check, l.Close
	return b, nil
}

// absentReason is the word a play's reason starts with while out's
// hardware cannot be opened.
func absentReason(out string) string {
	switch out {
	case protocol.OutputLED:
		return output.ReasonSignSilent
	case protocol.OutputTV:
		return output.ReasonTVAbsent
	case protocol.OutputAudio:
		return output.ReasonAudioAbsent
	case protocol.OutputPrinter:
		return output.ReasonPrinterGone
	}
	return output.ReasonOutputAbsent
}

// openDriver is the one place a profile kind becomes a driver.
func (s *Set) openDriver(ctx context.Context, p *profile.Profile) (output.Opened, error) {
	switch p.Kind {
	case profile.KindLEDAlpha:
		o := alpha.DefaultOpts
		o.Width, o.Height = p.Geometry.PixelsX, p.Geometry.PixelsY
		o.Address = p.Alpha.SignAddress
		if len(p.Alpha.FileLabel) == 1 {
			o.Label = p.Alpha.FileLabel[0]
		}
		o.ReadBack = p.Alpha.ReadBack
		o.Clock = s.env.Clock
		var (
			dev *alpha.Sign
			err error
		)
		switch p.Transport.Type {
		case profile.TransportSerial:
			o.Serial = alpha.SerialOpts{Baud: p.Transport.Baud, DataBits: p.Transport.DataBits,
				Parity: parityByte(p.Transport.Parity), StopBits: p.Transport.StopBits}
			dev, err = alpha.OpenSerial(p.Transport.Device, &o)
		case profile.TransportTCP:
			dev, err = alpha.DialTCP(ctx, p.Transport.Address, &o)
		default:
			err = fmt.Errorf("transport %s", p.Transport.Type)
		}
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev, Close: dev.Close, Check: dev.Check}, nil
	case profile.KindLEDMAX7219:
		o := max7219led.DefaultOpts
		o.Modules = p.Geometry.PixelsX / 8
		o.Rows = p.Geometry.PixelsY / 8
		o.Speed = physic.Frequency(p.Transport.SPIHz) * physic.Hertz
		o.Intensity = min(p.Limits.DefaultBrightness, p.Limits.MaxBrightness)
		o.ScrollMS = p.Text.ScrollMS
		o.Rotate180 = p.Geometry.Rotate == 180
		o.Clock = s.env.Clock
		dev, err := max7219led.OpenSPI(p.Transport.SPIPort, &o)
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev, Close: dev.Close}, nil
	case profile.KindTVMPV:
		o := mpv.DefaultOpts
		if len(p.Transport.Command) > 0 {
			o.Command = p.Transport.Command[0]
			o.ExtraArgs = append(o.ExtraArgs, p.Transport.Command[1:]...)
		}
		o.VO = p.Player.VO
		o.Log = s.env.Log.With("driver", "mpv")
		if p.Player.CEC {
			co := cec.DefaultOpts
			co.Device = p.Player.CECDevice
			o.Power = cec.New(co)
		}
		dev, err := mpv.Open(o)
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev, Close: dev.Close}, nil
	case profile.KindAudioALSA:
		o := audio.DefaultOpts
		o.Device = p.Transport.ALSADevice
		o.Volume, o.MaxVolume = p.Limits.DefaultVolume, p.Limits.MaxVolume
		o.QuietHours = p.Limits.QuietHours
		o.Clock = s.env.Clock
		dev, err := audio.New(o)
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev, Check: dev.Check}, nil
	case profile.KindPrinterESCPOS:
		o := escpos.DefaultOpts
		o.PaperDots = p.Paper.PrintableDots
		o.CodePage = p.Text.CodePage
		o.Replace = p.Text.CodePage != profile.CodePageGB18030
		switch p.Paper.Cut {
		case profile.CutFull:
			o.Cut = escpos.CutFull
		case profile.CutNone:
			o.Cut = escpos.CutNone
		default:
			o.Cut = escpos.CutPartial
		}
		o.NoStatus = !p.Status.Realtime
		switch p.Status.Confirm {
		case profile.ConfirmDLEEOT:
			o.Confirm = escpos.ConfirmDLEEOT
		case profile.ConfirmNone:
			o.Confirm = escpos.ConfirmNone
		default:
			o.Confirm = escpos.ConfirmGSR
		}
		o.Site, o.Hotline, o.Clock = s.env.Site, s.env.Hotline, s.env.Clock
		name, open, err := printerLink(p.Transport, o.DialTimeout)
		if err != nil {
			return output.Opened{}, err
		}
		dev, err := escpos.NewOpener(name, open, o)
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev, Close: dev.Close,
			Check: func(ctx context.Context) error { _, err := dev.Check(ctx); return err }}, nil
	case profile.KindPrinterTSPL:
		o := tspl.DefaultOpts
		o.WidthMM, o.HeightMM, o.GapMM = p.Paper.LabelWidthMM, p.Paper.LabelHeightMM, p.Paper.GapMM
		o.DotsPerMM = p.Paper.DotsPerMM
		o.CodePage = p.Text.CodePage
		o.NoStatus = !p.Status.Realtime
		o.Site, o.Hotline, o.Clock = s.env.Site, s.env.Hotline, s.env.Clock
		_, open, err := printerLink(p.Transport, o.DialTimeout)
		if err != nil {
			return output.Opened{}, err
		}
		dev, err := tspl.NewOpener(open, o)
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev, Close: dev.Close,
			Check: func(ctx context.Context) error { _, err := dev.Check(ctx); return err }}, nil
	case profile.KindPrinterCUPS:
		o := cups.DefaultOpts
		o.Queue = p.Transport.Queue
		o.Site, o.Hotline, o.Clock = s.env.Site, s.env.Hotline, s.env.Clock
		dev, err := cups.New(o)
		if err != nil {
			return output.Opened{}, err
		}
		return output.Opened{Output: dev, Health: dev,
			Check: func(ctx context.Context) error { _, err := dev.Check(ctx); return err }}, nil
	}
	return output.Opened{}, fmt.Errorf("kind %s does not drive an output", p.Kind)
}

// printerLink is the byte link of an ESC/POS or TSPL printer: a USB
// printer's device file, a serial port or a raw TCP port. It is opened
// when first needed and reopened after it fails.
func printerLink(t *profile.Transport, dialTimeout time.Duration) (name string, open printer.Opener, err error) {
	switch t.Type {
	case profile.TransportUSBLP:
		return t.Device, printer.OpenFile(t.Device), nil
	case profile.TransportSerial:
		return t.Device, printer.OpenSerial(t.Device, serialMode(t)), nil
	case profile.TransportTCP:
		return t.Address, printer.DialTCP(t.Address, dialTimeout), nil
	}
	return "", nil, fmt.Errorf("transport %s", t.Type)
}

func openInput(name string, p *profile.Profile) (*gcgpio.Input, error) {
	o := gcgpio.DefaultOpts
	o.Name = name
	o.Pin = p.Transport.Pin
	o.Debounce = p.Transport.Debounce()
	switch p.Transport.Pull {
	case profile.PullUp:
		o.Pull = gpio.PullUp
	case profile.PullDown:
		o.Pull = gpio.PullDown
	default:
		o.Pull = gpio.Float
	}
	// A button pulls its line low when pressed; a PIR drives it high.
	switch p.Transport.Edge {
	case profile.EdgeFalling:
		o.Active = gpio.Low
	case profile.EdgeRising:
		o.Active = gpio.High
	case profile.EdgeBoth:
		o.Active = gpio.High
		o.Releases = true
	}
	return gcgpio.Open(o)
}

func parityByte(p profile.Parity) byte {
	switch p {
	case profile.ParityEven:
		return 'E'
	case profile.ParityOdd:
		return 'O'
	}
	return 'N'
}

func serialMode(t *profile.Transport) serial.Mode {
	m := serial.Mode{BaudRate: t.Baud, DataBits: t.DataBits}
	switch t.Parity {
	case profile.ParityEven:
		m.Parity = serial.EvenParity
	case profile.ParityOdd:
		m.Parity = serial.OddParity
	default:
		m.Parity = serial.NoParity
	}
	if t.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

// ErrNoOutput is the reason a play fails on an output this device has no
// profile for: a scheduling mistake the supervisor should see, not a
// silent success.
var ErrNoOutput = errors.New("no driver configured for this output")

// Output returns the driver for an output kind. An output the device has
// no profile for gets a driver whose every play fails, naming the gap.
func (s *Set) Output(kind string) (output.Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.outputs[kind]; ok {
		return b.out, nil
	}
	if s.allVirtual != "" {
		b := &bound{profile: s.allVirtual, out: virtual.New(kind, s.env.Clock, s.env.Log)}
		s.outputs[kind] = b
		return b.out, nil
	}
	return unconfigured{kind: kind, clk: s.env.Clock}, nil
}

type unconfigured struct {
	kind string
	clk  clock.Clock
}

func (u unconfigured) Kind() string { return u.kind }

func (u unconfigured) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	now := u.clk.Now()
	return output.Result{Start: now, End: now, Reason: fmt.Sprintf("%v: %s (add it to the agent config's profile or outputs)", ErrNoOutput, u.kind)}, nil
}

// Health reports every driver and input.
func (s *Set) Health() []protocol.OutputHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.OutputHealth
	kinds := make([]string, 0, len(s.outputs))
	for k := range s.outputs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		b := s.outputs[k]
		h := protocol.OutputHealth{Output: k, Profile: b.profile, OK: true}
		if b.health != nil {
			hh := b.health.Health()
			h.OK, h.LastError = hh.OK, hh.LastError
			if !hh.Checked.IsZero() {
				h.Checked = hh.Checked.Unix()
			}
		}
		out = append(out, h)
	}
	for _, in := range s.inputs {
		hh := in.dev.Health()
		h := protocol.OutputHealth{Output: "input:" + in.trigger, Profile: in.profile, OK: hh.OK, LastError: hh.LastError}
		if !hh.Checked.IsZero() {
			h.Checked = hh.Checked.Unix()
		}
		out = append(out, h)
	}
	return out
}

// Run raises triggers from the GPIO inputs (fire must not block) and polls
// drivers that can check their hardware, until ctx ends.
func (s *Set) Run(ctx context.Context, fire func(name string) bool) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(s.inputs))
	for _, in := range s.inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := in.dev.Run(ctx, func(t gcgpio.Trigger) {
				if !fire(in.trigger) {
					s.env.Log.Warn("trigger raised but nothing is bound to it", "trigger", in.trigger, "pin", t.Pin)
				}
			})
			if err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("input %s: %w", in.trigger, err)
			}
		}()
	}
	s.mu.Lock()
	polled := maps.Clone(s.outputs)
	s.mu.Unlock()
	for kind, b := range polled {
		if b.check == nil || b.poll <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.env.Clock.After(b.poll):
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				// Missing hardware is logged by its Lazy, once, not every poll.
				if err := b.check(cctx); err != nil && ctx.Err() == nil && !errors.Is(err, output.ErrAbsent) {
					s.env.Log.Warn("device check failed", "output", kind, "profile", b.profile, "err", err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close closes every opened device.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, b := range s.outputs {
		if b.close != nil {
			errs = append(errs, b.close())
		}
	}
	for _, in := range s.inputs {
		errs = append(errs, in.dev.Halt())
	}
	return errors.Join(errs...)
}
