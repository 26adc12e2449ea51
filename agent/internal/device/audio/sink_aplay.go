//go:build !cgo || nooto

package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// Backend names the sound path this build uses.
const Backend = "aplay"

// aplaySink pipes each clip, as a 16-bit WAV, to `aplay -D Device -q -`.
// It is the path for builds without cgo (ARMv6 cross builds) or with the
// nooto tag.
type aplaySink struct{ o Opts }

func newSink(o Opts) sink { return &aplaySink{o: o} }

func (s *aplaySink) check(context.Context) error {
	if _, err := exec.LookPath(s.o.Aplay); err != nil {
		return fmt.Errorf("aplay not found (apt-get install alsa-utils): %w", err)
	}
	return nil
}

func (s *aplaySink) format(ctx context.Context) (int, int, error) {
	return s.o.SampleRate, s.o.Channels, s.check(ctx)
}

// wavHeader is a canonical 44-byte header for 16-bit PCM.
func wavHeader(rate, ch, frames int) []byte {
	var b bytes.Buffer
	data := uint32(frames * ch * 2)
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, 36+data)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(ch), uint32(rate), uint32(rate * ch * 2), uint16(ch * 2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, data)
	return b.Bytes()
}

func (s *aplaySink) play(ctx context.Context, p PCM, t0 time.Time) (written, error) {
	pcm := make([]byte, 2*len(p.Samples))
	for i, v := range p.Samples {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(v*32767)))
	}
	cmd := exec.Command(s.o.Aplay, "-D", s.o.Device, "-q", "-")
	// aplay's stderr goes to a file, not a pipe: children of aplay (an
	// ALSA pipe plugin) inherit it and may outlive aplay, and waiting for
	// a pipe to close would wait for them.
	errf, err := os.CreateTemp("", "guardcast-aplay-*.err")
	if err != nil {
		return written{}, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stderr = errf
	in, err := cmd.StdinPipe()
	if err != nil {
		return written{}, err
	}
	if err := cmd.Start(); err != nil {
		return written{}, fmt.Errorf("start aplay: %w", err)
	}
	var (
		sent  atomic.Int64 // PCM bytes aplay has read from its stdin
		first atomic.Int64 // ns from t0 to the first PCM write
	)
	fed := make(chan error, 1)
	go func() { // owned: play waits for fed on every path
		_, err := in.Write(wavHeader(p.Rate, p.Channels, p.Frames()))
		// Chunks of ~20 ms so the count follows what aplay took.
		chunk := max(p.Rate/50*p.Channels*2, 2*p.Channels)
		for off := 0; off < len(pcm) && err == nil; off += chunk {
			var n int
			n, err = in.Write(pcm[off:min(off+chunk, len(pcm))])
			if off == 0 && n > 0 {
				first.Store(int64(time.Since(t0)))
			}
			sent.Add(int64(n))
		}
		in.Close()
		fed <- err
	}()
	exited := make(chan error, 1)
	frameBytes := int64(2 * p.Channels)
	result := func() written {
		return written{frames: sent.Load() / frameBytes, first: time.Duration(first.Load())}
	}
	// stop kills aplay and collects both goroutines.
	stop := func(ferr error) {
		_ = cmd.Process.Kill()
		if ferr == nil {
			<-fed
		}
		_ = cmd.Wait()
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, lastMove := int64(0), time.Now()
	var werr error
	feeding := true
	for feeding {
		select {
		case werr = <-fed:
			feeding = false
		case <-ctx.Done():
			stop(nil)
			return result(), errInterrupted
		case <-tick.C:
			if n := sent.Load(); n != last {
				last, lastMove = n, time.Now()
			} else if time.Since(lastMove) > s.o.StallTimeout {
				stop(nil)
				return result(), errors.New("sound card stopped taking frames")
			}
		}
	}
	go func() { exited <- cmd.Wait() }() // owned: received below on every path
	var err2 error
	select {
	case err2 = <-exited:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return result(), errInterrupted
	case <-time.After(s.o.StallTimeout + time.Second):
		// aplay drains its buffer (about half a second) and exits; longer
		// means the card stopped taking frames.
		_ = cmd.Process.Kill()
		<-exited
		return result(), errors.New("sound card stopped taking frames (aplay did not finish)")
	}
	w := result()
	if err2 != nil {
		b, _ := os.ReadFile(errf.Name())
		msg := strings.TrimSpace(string(b[:min(len(b), 512)]))
		if msg == "" {
			msg = err2.Error()
		}
		return w, errors.New("aplay: " + msg)
	}
	if werr != nil {
		return w, fmt.Errorf("write to aplay: %w", werr)
	}
	return w, nil
}
