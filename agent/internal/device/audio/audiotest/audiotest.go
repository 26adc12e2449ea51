// Package audiotest is a sound card for tests: an ALSA configuration whose
// default PCM is the file plugin piping into a paced sink, so that a test
// process (oto, aplay, anything using ALSA's "default") plays into a file
// that the test then reads.
//
// The sink is the test binary itself, re-executed by ALSA's file plugin:
// call Serve at the top of TestMain. It reads the stream at the rate a real
// card would take it (times a speed factor), so the writer sees a clock,
// writes it to the capture file, records when the first non-silent sample
// arrived, and can be told to stop reading (a stuck card).
//
// ALSA reads its configuration once per process and oto opens one context
// per process, so tests that play run in a child process: Child re-executes
// the test binary for one test with ALSA_CONFIG_PATH pointing at the
// configuration made here.
package audiotest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	envOut   = "GUARDCAST_AUDIOTEST_SINK"  // capture file: this process is the sink
	envBPS   = "GUARDCAST_AUDIOTEST_BPS"   // bytes per second it takes
	envChild = "GUARDCAST_AUDIOTEST_CHILD" // set in child test processes
)

// Serve turns this process into the sink when ALSA started it for one, and
// exits; otherwise it returns at once. Call it first in TestMain.
func Serve() {
	out := os.Getenv(envOut)
	if out == "" {
		return
	}
	// The sink inherits the player's stdout and stderr (popen): let go of
	// them, or whoever waits on the player's output waits for the sink.
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		_ = syscall.Dup3(int(null.Fd()), 1, 0)
		_ = syscall.Dup3(int(null.Fd()), 2, 0)
	}
	// A card's buffer is tens of ms; a 64 KiB pipe at 384 kB/s would add
	// 170 ms of latency that no card has; 16 KiB is 43 ms at 48 kHz stereo.
	_, _ = unix.FcntlInt(0, unix.F_SETPIPE_SZ, 16384)
	bps, _ := strconv.Atoi(os.Getenv(envBPS))
	if err := serve(os.Stdin, out, bps); err != nil {
		_ = os.WriteFile(out+".err", []byte(err.Error()), 0o644)
		os.Exit(1)
	}
	os.Exit(0)
}

func serve(in io.Reader, out string, bps int) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	// 5 ms chunks, 4-byte aligned.
	chunk := min(max(bps/200/8*8, 64), 4096)
	buf := make([]byte, chunk)
	start := time.Now()
	var total int64
	first := false
	for {
		for fileExists(out + ".stall") {
			time.Sleep(5 * time.Millisecond) // a stuck card: the writer blocks
			start = time.Now().Add(-time.Duration(float64(total) / float64(bps) * float64(time.Second)))
		}
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if !first && !silent(buf[:n]) {
				first = true
				_ = os.WriteFile(out+".first", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644)
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
			total += int64(n)
			if bps > 0 {
				due := start.Add(time.Duration(float64(total) / float64(bps) * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					time.Sleep(d) // the card's clock
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(out+".done", nil, 0o644)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func silent(b []byte) bool {
	for i := 0; i+4 <= len(b); i += 4 {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(b[i:])); v > 1e-4 || v < -1e-4 {
			return false
		}
	}
	return true
}

// Card is one fake sound card: an ALSA config and the files its sink writes.
type Card struct {
	Dir     string
	Conf    string // for ALSA_CONFIG_PATH
	Capture string // raw float32 LE, interleaved, as written
	Rate    int
	Ch      int
}

// New makes a card in a temp dir whose sink takes rate×ch float32 frames
// per second times speed (speed 0: as fast as they come, no clock, like
// ALSA's null plugin).
func New(t testing.TB, rate, ch int, speed float64) *Card {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &Card{Dir: dir, Conf: filepath.Join(dir, "asound.conf"), Capture: filepath.Join(dir, "capture.raw"), Rate: rate, Ch: ch}
	bps := int(float64(rate*ch*4) * speed)
	// GORACE: a race-enabled test binary sleeps 1 s at exit by default,
	// and a player that closes the card (aplay) waits for the sink's exit.
	// plug makes the card take float32 LE at rate×ch whatever the player
	// sends (oto sends that; aplay sends 16-bit), so the capture has one
	// format.
	conf := fmt.Sprintf(`</usr/share/alsa/alsa.conf>
pcm.!default {
	type plug
	slave {
		pcm "guardcast_card"
		format FLOAT_LE
		rate %d
		channels %d
	}
}
pcm.guardcast_card {
	type file
	slave.pcm "null"
	file "|GORACE=atexit_sleep_ms=0 %s=%s %s=%d %s"
	format "raw"
}
`, rate, ch, envOut, c.Capture, envBPS, bps, exe)
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// Available skips t (or, with CI set, fails it) when ALSA's config is not
// installed (Debian: libasound2-data, pulled in by alsa-utils and
// libasound2-dev).
func Available(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/usr/share/alsa/alsa.conf"); err != nil {
		msg := "ALSA not installed (apt-get install -y libasound2-dev alsa-utils)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// Stall makes the card stop (true) or resume (false) taking frames.
func (c *Card) Stall(t testing.TB, on bool) {
	t.Helper()
	var err error
	if on {
		err = os.WriteFile(c.Capture+".stall", nil, 0o644)
	} else {
		err = os.Remove(c.Capture + ".stall")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// InChild reports whether this process is a child started by Child.
func InChild() bool { return os.Getenv(envChild) != "" }

// Child runs the test binary again for the single test named test, with
// ALSA's config pointing at c and extra env, and fails t if it fails.
func (c *Card) Child(t testing.TB, test string, env ...string) {
	t.Helper()
	out := c.Run(t, []string{"-test.run", "^" + test + "$", "-test.v", "-test.count=1"}, env...)
	if !strings.Contains(out, "--- PASS: "+test) {
		t.Fatalf("child %s did not pass:\n%s", test, out)
	}
	t.Logf("child %s:\n%s", test, out)
}

// Run runs the test binary again with args (a benchmark, say), with
// ALSA's config pointing at c, and returns its output; it fails t if the
// child fails or takes over a minute.
func (c *Card) Run(t testing.TB, args []string, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "ALSA_CONFIG_PATH="+c.Conf, envChild+"=1", "GUARDCAST_AUDIOTEST_DIR="+c.Dir)
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// ChildDir is the card's directory, as seen from a child.
func ChildDir() string { return os.Getenv("GUARDCAST_AUDIOTEST_DIR") }

// Samples waits (bounded) for the sink to finish, after the child that
// played has exited, and returns the captured samples.
func (c *Card) Samples(t testing.TB) []float32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fileExists(c.Capture + ".done") {
		if time.Now().After(deadline) {
			t.Fatal("the sink did not finish within 10 s of the player exiting")
		}
		time.Sleep(10 * time.Millisecond) // bounded wait on the sink process
	}
	s, err := ReadRaw(c.Capture)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ReadRaw reads a float32 LE capture.
func ReadRaw(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := make([]float32, len(b)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return s, nil
}

// FirstSound returns when the sink saw its first non-silent sample.
func FirstSound(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, "capture.raw.first"))
	if err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return time.Time{}, errors.New("bad first-sound stamp")
	}
	return time.Unix(0, ns), nil
}

// Envelope is the RMS of mono-mixed s over windows of win frames.
func Envelope(s []float32, ch, win int) []float64 {
	frames := len(s) / ch
	var env []float64
	for f := 0; f+win <= frames; f += win {
		var sum float64
		for i := f; i < f+win; i++ {
			var m float64
			for c := 0; c < ch; c++ {
				m += float64(s[i*ch+c])
			}
			m /= float64(ch)
			sum += m * m
		}
		env = append(env, math.Sqrt(sum/float64(win)))
	}
	return env
}

// Span returns the first and last frame whose mono level exceeds thr.
func Span(s []float32, ch int, thr float32) (first, last int) {
	first, last = -1, -1
	for f := 0; f < len(s)/ch; f++ {
		for c := 0; c < ch; c++ {
			if v := s[f*ch+c]; v > thr || v < -thr {
				if first < 0 {
					first = f
				}
				last = f
				break
			}
		}
	}
	return first, last
}

// Correlation is Pearson's r of a and b over their common length.
func Correlation(a, b []float64) float64 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	var ma, mb float64
	for i := 0; i < n; i++ {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(n)
	mb /= float64(n)
	var sab, saa, sbb float64
	for i := 0; i < n; i++ {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// WaitIdle waits (bounded by limit) until the card in dir has taken
// nothing for quiet: the silence a player writes when it opens the card
// has drained, as it has on an agent that has been up for a while.
func WaitIdle(dir string, quiet, limit time.Duration) error {
	capture := filepath.Join(dir, "capture.raw")
	deadline := time.Now().Add(limit)
	var size int64 = -1
	since := time.Now()
	for time.Now().Before(deadline) {
		var cur int64 // no file yet: the card was never opened (aplay opens it per play)
		if st, err := os.Stat(capture); err == nil {
			cur = st.Size()
		} else if !os.IsNotExist(err) {
			return err
		}
		if cur != size {
			size, since = cur, time.Now()
		} else if time.Since(since) >= quiet {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // bounded wait on the sink process
	}
	return fmt.Errorf("the card in %s kept taking frames for %v", dir, limit)
}
