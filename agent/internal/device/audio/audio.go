// Package audio is the ATM voice-prompt output: it decodes WAV, MP3 and
// Ogg Vorbis, converts the clip to the sound card's format (linear
// resampling, channel remix, volume), refuses to play during quiet hours,
// and plays it through ALSA.
//
// With cgo (the normal build) sound goes through github.com/hajimehoshi/oto/v2,
// which opens ALSA's "default" PCM as float32 little endian; oto allows one
// context per process, so every Dev in the process shares one lazily
// created context, suspended whenever nothing plays. Built with the nooto
// tag or with CGO_ENABLED=0 (ARMv6 cross builds), the same Dev pipes a
// 16-bit WAV to `aplay -D Device -q -` from alsa-utils instead.
//
// A play is proven by the frames the sound card took: Last().FramesWritten,
// and by the time it took: Result.Mono, the measured (monotonic) time, is at
// least the clip's length on a real card. A sink that takes a clip faster
// than its rate fails the play ("too short: …").
package audio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Opts configures a Dev. Zero fields take the DefaultOpts value, except
// Volume and MaxVolume, whose zero means muted (use DefaultOpts and change
// what you need).
type Opts struct {
	// SampleRate and Channels are the format everything is converted to
	// before it reaches ALSA. With oto the first Dev in the process fixes
	// the context's format and later ones follow it.
	SampleRate int
	Channels   int
	// Volume is 0–100 (linear amplitude); MaxVolume caps it (a profile's
	// limit for a quiet branch).
	Volume    int
	MaxVolume int
	// QuietHours is "HH:MM-HH:MM" in Location's time (it may wrap past
	// midnight, "22:00-07:00"); empty means never quiet. During quiet
	// hours a play fails with reason "quiet hours …".
	QuietHours string
	Location   *time.Location // nil: time.Local
	Clock      clock.Clock    // nil: the real clock
	// MaxDuration bounds a clip, so a hostile file cannot exhaust memory.
	MaxDuration time.Duration
	// Device is the ALSA PCM for the aplay fallback. oto always opens
	// ALSA's "default": point that at the card in /etc/asound.conf.
	Device string
	// Aplay is the aplay command for the fallback build.
	Aplay string
	// BufferSize is oto's device buffer (latency versus underruns).
	BufferSize time.Duration
	// StallTimeout fails a play whose sound card stops taking frames.
	StallTimeout time.Duration
	// Tolerance is how much sooner than the clip's length a play may end
	// and still be played: a sink that takes frames faster than its rate
	// (ALSA's null plugin, a misconfigured file or pipe PCM) has played
	// nothing anyone heard.
	Tolerance time.Duration
	// CardSpeed is how fast the sound card's clock runs against real
	// time: 1 for every real card. Only tests, whose fake card runs
	// faster, change it.
	CardSpeed float64
}

// DefaultOpts are the options of an ATM speaker.
var DefaultOpts = Opts{
	SampleRate:   48000,
	Channels:     2,
	Volume:       80,
	MaxVolume:    100,
	MaxDuration:  5 * time.Minute,
	Device:       "default",
	Aplay:        "aplay",
	BufferSize:   50 * time.Millisecond,
	StallTimeout: 3 * time.Second,
	Tolerance:    250 * time.Millisecond,
	CardSpeed:    1,
}

// Stats describes the last play.
type Stats struct {
	Format        string        // "wav", "mp3", "ogg"
	SampleRate    int           // rate the card was fed
	Channels      int           // channels the card was fed
	FramesDecoded int64         // frames of the clip after conversion
	FramesWritten int64         // frames the sound card took
	FirstFrame    time.Duration // from Play to the first frame taken by the card
}

// Dev is one speaker.
type Dev struct {
	o     Opts
	clk   clock.Clock
	quiet *window
	sink  sink

	playMu sync.Mutex // one play at a time
	mu     sync.Mutex
	last   Stats
	health health.Health
}

var (
	_ output.Output   = (*Dev)(nil)
	_ health.Reporter = (*Dev)(nil)
)

// New checks o and returns a speaker. It does not open the sound card:
// that happens on the first Play or Check.
func New(o Opts) (*Dev, error) {
	d := DefaultOpts
	if o.SampleRate != 0 {
		d.SampleRate = o.SampleRate
	}
	if o.Channels != 0 {
		d.Channels = o.Channels
	}
	d.Volume, d.MaxVolume = o.Volume, o.MaxVolume
	d.QuietHours, d.Location, d.Clock = o.QuietHours, o.Location, o.Clock
	if o.MaxDuration != 0 {
		d.MaxDuration = o.MaxDuration
	}
	if o.Device != "" {
		d.Device = o.Device
	}
	if o.Aplay != "" {
		d.Aplay = o.Aplay
	}
	if o.BufferSize != 0 {
		d.BufferSize = o.BufferSize
	}
	if o.StallTimeout != 0 {
		d.StallTimeout = o.StallTimeout
	}
	if o.Tolerance != 0 {
		d.Tolerance = o.Tolerance
	}
	if o.CardSpeed != 0 {
		d.CardSpeed = o.CardSpeed
	}
	if d.CardSpeed < 0 || d.Tolerance < 0 {
		return nil, fmt.Errorf("audio: card speed %v, tolerance %v", d.CardSpeed, d.Tolerance)
	}
	if d.SampleRate < 8000 || d.SampleRate > 192000 {
		return nil, fmt.Errorf("audio: sample rate %d Hz out of 8000–192000", d.SampleRate)
	}
	if d.Channels != 1 && d.Channels != 2 {
		return nil, fmt.Errorf("audio: %d channels (1 or 2)", d.Channels)
	}
	if d.Volume < 0 || d.Volume > 100 || d.MaxVolume < 0 || d.MaxVolume > 100 {
		return nil, fmt.Errorf("audio: volume %d / max %d out of 0–100", d.Volume, d.MaxVolume)
	}
	w, err := parseWindow(d.QuietHours)
	if err != nil {
		return nil, fmt.Errorf("audio: quiet hours: %w", err)
	}
	if d.Location == nil {
		d.Location = time.Local
	}
	dev := &Dev{o: d, clk: d.Clock, quiet: w}
	if dev.clk == nil {
		dev.clk = clock.Real{}
	}
	dev.sink = newSink(d)
	return dev, nil
}

// Kind returns protocol.OutputAudio.
func (d *Dev) Kind() string { return protocol.OutputAudio }

// Last returns the statistics of the last play.
func (d *Dev) Last() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Health reports whether the sound card opened and took frames at the
// last play or check.
func (d *Dev) Health() health.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.health
}

// Check opens the sound card if it is not open yet and updates Health.
func (d *Dev) Check(ctx context.Context) error {
	err := d.sink.check(ctx)
	d.setHealth(err)
	return err
}

func (d *Dev) setHealth(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.Checked = d.clk.Now()
	d.health.OK = err == nil
	if err != nil {
		d.health.LastError = err.Error()
	}
}

// Gain is the linear amplitude factor the options give.
func (o Opts) Gain() float32 {
	v := o.Volume
	if v > o.MaxVolume {
		v = o.MaxVolume
	}
	return float32(v) / 100
}

// Quiet reports whether t falls in the quiet hours.
func (d *Dev) Quiet(t time.Time) bool {
	return d.quiet.contains(t.In(d.o.Location))
}

// Play decodes the clip at path and plays it. Quiet hours, a muted
// volume, a file that is not audio and a sound card that fails are failed
// plays with a reason; a cancelled ctx stops the sound and reports
// "interrupted".
func (d *Dev) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	d.playMu.Lock()
	defer d.playMu.Unlock()
	t0 := time.Now()
	start := d.clk.Now()
	res := output.Result{Start: start}
	st := Stats{}
	fail := func(reason string) (output.Result, error) {
		res.Reason = reason
		res.End = d.clk.Now()
		res.Mono = time.Since(t0)
		d.mu.Lock()
		d.last = st
		d.mu.Unlock()
		return res, nil
	}
	if it.Kind != "" && it.Kind != "audio" {
		return fail(fmt.Sprintf("a %q item cannot play on a speaker", it.Kind))
	}
	if d.Quiet(start) {
		return fail("quiet hours " + d.o.QuietHours)
	}
	gain := d.o.Gain()
	if gain == 0 {
		return fail("muted: volume 0")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(fmt.Sprintf("read clip: %v", err))
	}
	st.Format = Sniff(data)
	p, err := Decode(data, int(d.o.MaxDuration.Seconds()*float64(d.o.SampleRate)))
	if err != nil {
		return fail(fmt.Sprintf("decode: %v", err))
	}
	rate, ch, err := d.sink.format(ctx)
	if err != nil {
		d.setHealth(err)
		return fail(fmt.Sprintf("audio device: %v", err))
	}
	p = Convert(p, rate, ch, gain)
	st.SampleRate, st.Channels, st.FramesDecoded = rate, ch, int64(p.Frames())
	w, err := d.sink.play(ctx, p, t0)
	st.FramesWritten, st.FirstFrame = w.frames, w.first
	switch {
	case errors.Is(err, errInterrupted):
		return fail("interrupted")
	case err != nil:
		d.setHealth(err)
		return fail(fmt.Sprintf("audio device: %v", err))
	case w.frames < st.FramesDecoded:
		err := fmt.Errorf("sound card took %d of %d frames", w.frames, st.FramesDecoded)
		d.setHealth(err)
		return fail(err.Error())
	}
	// Every frame went to the card: at the card's rate that takes the
	// clip's length, and a play that took less was not heard.
	clip := time.Duration(float64(st.FramesDecoded) / float64(rate) * float64(time.Second) / d.o.CardSpeed)
	if took := time.Since(t0); took < clip-d.o.Tolerance {
		why := output.Note(output.ReasonTooShort, "the sound card took a %v clip in %v: it does not play at its rate",
			clip.Round(time.Millisecond), took.Round(time.Millisecond))
		d.setHealth(errors.New(why))
		return fail(why)
	}
	d.setHealth(nil)
	res.Played = true
	return fail("")
}

var errInterrupted = errors.New("interrupted")

// written is what a sink reports for one play.
type written struct {
	frames int64
	first  time.Duration // from t0 to the first frame taken
}

// sink is the sound card behind a Dev: oto, or aplay in the fallback build.
type sink interface {
	// check opens the card if it is not open yet.
	check(ctx context.Context) error
	// format opens the card if needed and returns the format it is fed.
	format(ctx context.Context) (rate, channels int, err error)
	// play feeds p (already in that format) and returns when the card
	// has taken all of it, when it fails, or when ctx ends
	// (errInterrupted). t0 is when the play started, for first.
	play(ctx context.Context, p PCM, t0 time.Time) (written, error)
}

// window is a daily time window in minutes since midnight.
type window struct{ from, to int }

func parseWindow(s string) (*window, error) {
	if s == "" {
		return nil, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return nil, fmt.Errorf("%q is not HH:MM-HH:MM", s)
	}
	from, err := parseClock(a)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	to, err := parseClock(b)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if from == to {
		return nil, fmt.Errorf("%q is an empty window", s)
	}
	return &window{from, to}, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (w *window) contains(t time.Time) bool {
	if w == nil {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	if w.from < w.to {
		return m >= w.from && m < w.to
	}
	return m >= w.from || m < w.to
}

// QuietHours is the window in which the speaker refuses to play, and its
// zone, so the player can schedule nothing there.
func (d *Dev) QuietHours() (string, *time.Location) {
	if d.o.Location == nil {
		return d.o.QuietHours, time.Local
	}
	return d.o.QuietHours, d.o.Location
}
