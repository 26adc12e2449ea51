//go:build cgo && !nooto

package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hajimehoshi/oto/v2"
)

// Backend names the sound path this build uses.
const Backend = "oto"

// shared is the process's one oto context. oto cannot open a second one,
// so it is created by the first Dev that needs it, in that Dev's format,
// and kept for the life of the process. It is suspended while no Dev
// plays: an idle context keeps writing silence, which on a sink without a
// clock (ALSA's null or file plugins) is a busy loop.
var shared struct {
	mu     sync.Mutex
	ctx    *oto.Context
	err    error
	rate   int
	ch     int
	active int
	want   chan bool // resumed or suspended: the latest wish, for run
}

func otoContext(ctx context.Context, o Opts) (*oto.Context, int, int, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ctx != nil || shared.err != nil {
		return shared.ctx, shared.rate, shared.ch, shared.err
	}
	c, ready, err := oto.NewContextWithOptions(&oto.NewContextOptions{
		SampleRate:   o.SampleRate,
		ChannelCount: o.Channels,
		Format:       oto.FormatFloat32LE,
		BufferSize:   o.BufferSize,
	})
	if err != nil {
		shared.err = fmt.Errorf("open ALSA default PCM: %w", err)
		return nil, 0, 0, shared.err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		// The open goes on in oto's goroutine; the next caller waits again.
		return nil, 0, 0, fmt.Errorf("open ALSA default PCM: %w", ctx.Err())
	}
	if err := c.Err(); err != nil {
		// oto cannot make a second context: the agent must restart to
		// retry (a card that appears later, a config fixed).
		shared.err = fmt.Errorf("open ALSA default PCM: %w", err)
		return nil, 0, 0, shared.err
	}
	if err := c.Suspend(); err != nil {
		shared.err = fmt.Errorf("suspend ALSA: %w", err)
		return nil, 0, 0, shared.err
	}
	shared.ctx, shared.rate, shared.ch = c, o.SampleRate, o.Channels
	shared.want = make(chan bool, 1)
	go runSuspender(c, shared.want, 2*o.BufferSize+50*time.Millisecond) // lives as long as the context: the process
	return c, shared.rate, shared.ch, nil
}

// runSuspender applies resume/suspend wishes. oto's Suspend and Resume
// wait for the ALSA write in progress, which never returns on a stuck
// card; doing them here keeps Play cancellable whatever the card does.
// A suspend waits for tail first: the end of the last clip is still in
// ALSA's buffer, and feeding silence behind it plays it out cleanly
// (no underrun click on a card, no lost tail in a pipe plugin).
func runSuspender(c *oto.Context, want <-chan bool, tail time.Duration) {
	for w := range want {
		for !w {
			select {
			case w = <-want:
				continue
			case <-time.After(tail):
			}
			break
		}
		if w {
			_ = c.Resume() // errors are the context's, seen through c.Err
		} else {
			_ = c.Suspend()
		}
	}
}

func wish(resume bool) {
	select {
	case <-shared.want: // replace an unapplied wish
	default:
	}
	shared.want <- resume
}

func acquire() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.active++
	if shared.active == 1 {
		wish(true)
	}
}

func release() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.active--
	if shared.active == 0 {
		wish(false)
	}
}

type otoSink struct{ o Opts }

func newSink(o Opts) sink { return &otoSink{o: o} }

func (s *otoSink) check(ctx context.Context) error {
	_, _, _, err := otoContext(ctx, s.o)
	return err
}

func (s *otoSink) format(ctx context.Context) (int, int, error) {
	_, rate, ch, err := otoContext(ctx, s.o)
	return rate, ch, err
}

// countingReader hands float32 LE bytes to oto and counts them.
type countingReader struct {
	b []byte
	n atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	off := r.n.Load()
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	k := copy(p, r.b[off:])
	r.n.Add(int64(k))
	return k, nil
}

// pollEvery is how often play looks at the player. oto has no callback
// for "buffer consumed", so this bounds how late the end is seen.
const pollEvery = 2 * time.Millisecond

func (s *otoSink) play(ctx context.Context, p PCM, t0 time.Time) (written, error) {
	c, _, ch, err := otoContext(ctx, s.o)
	if err != nil {
		return written{}, err
	}
	frameBytes := int64(4 * ch)
	buf := make([]byte, 4*len(p.Samples))
	for i, v := range p.Samples {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	r := &countingReader{b: buf}
	pl := c.NewPlayer(r)
	defer pl.Close()
	pl.Play() // fills the player's buffer from r before the card runs
	acquire()
	defer release()

	var w written
	// taken is how many bytes the card has pulled out of the player.
	taken := func() int64 { return r.n.Load() - int64(pl.UnplayedBufferSize()) }
	last, lastMove := int64(0), time.Now()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			pl.Pause() // no more frames leave the player's buffer after this
			w.frames = taken() / frameBytes
			if w.first == 0 && w.frames > 0 {
				w.first = time.Since(t0) // the card started since the last tick: late by < pollEvery
			}
			return w, errInterrupted
		case <-tick.C:
		}
		if err := c.Err(); err != nil {
			w.frames = taken() / frameBytes
			return w, err
		}
		if err := pl.Err(); err != nil {
			w.frames = taken() / frameBytes
			return w, err
		}
		if !pl.IsPlaying() {
			// oto pauses a player once its source hit EOF and its buffer
			// is empty: every byte went to the card (bar ALSA's own
			// buffer, a few tens of ms, which drains after).
			w.frames = taken() / frameBytes
			if w.first == 0 {
				w.first = time.Since(t0)
			}
			// The last frames are still in ALSA's buffer (BufferSize
			// long); the play is over when they have sounded. The
			// context keeps running meanwhile, pushing silence behind them.
			select {
			case <-time.After(2 * s.o.BufferSize):
			case <-ctx.Done():
			}
			return w, nil
		}
		n := taken()
		if n > last {
			if last == 0 {
				w.first = time.Since(t0)
			}
			last, lastMove = n, time.Now()
		} else if time.Since(lastMove) > s.o.StallTimeout {
			w.frames = n / frameBytes
			return w, errors.New("sound card stopped taking frames")
		}
	}
}
