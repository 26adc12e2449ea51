package mpv_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/cec"
	"github.com/guardcast/guardcast/agent/internal/device/cec/cectest"
	"github.com/guardcast/guardcast/agent/internal/device/mpv"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

const media = "../../../../media/"

// Every mpv supervisor and IPC reader must be gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func needMPV(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("mpv"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mpv not installed (apt-get install -y mpv)")
		}
		t.Skip("mpv not installed (apt-get install -y mpv)")
	}
}

// open starts a headless mpv (--vo=null --ao=null) for the test.
func open(t testing.TB, mod func(*mpv.Opts)) *mpv.Dev {
	t.Helper()
	needMPV(t)
	o := mpv.DefaultOpts
	o.VO, o.AO = "null", "null"
	o.Socket = filepath.Join(t.TempDir(), "mpv.sock")
	o.MinBackoff = 50 * time.Millisecond
	if mod != nil {
		mod(&o)
	}
	d, err := mpv.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func video(ms int64) protocol.Item {
	return protocol.Item{SHA256: strings.Repeat("b", 64), Kind: "video", Title: "test", DurationMS: ms}
}

func testsrc(sec string) string { return "av://lavfi:testsrc=duration=" + sec }

func TestPlays(t *testing.T) {
	t.Parallel()
	d := open(t, nil)
	for _, tt := range []struct {
		name string
		it   protocol.Item
		path string
		min  time.Duration
	}{
		{"testsrc", video(1000), testsrc("1"), 900 * time.Millisecond},
		{"mp4", video(3000), media + "warning.mp4", 2500 * time.Millisecond},
		{"png", protocol.Item{Kind: "image", DurationMS: 700}, media + "poster.png", 600 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Play(context.Background(), tt.it, tt.path)
			if err != nil || !res.Played || res.Reason != "" {
				t.Fatalf("Play: %+v %v", res, err)
			}
			st := d.Last()
			t.Logf("%s: Play → file-loaded %v, whole play %v", tt.name, st.Loaded, res.Mono)
			if res.Mono < tt.min || st.Loaded <= 0 || st.Loaded > res.Mono {
				t.Fatalf("Mono %v (want ≥ %v), loaded after %v", res.Mono, tt.min, st.Loaded)
			}
		})
	}
	if h := d.Health(); !h.OK {
		t.Fatalf("health %+v", h)
	}
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	d := open(t, nil)
	res, err := d.Play(context.Background(), video(1000), filepath.Join(t.TempDir(), "gone.mp4"))
	if err != nil || res.Played || !strings.Contains(res.Reason, "loading failed") {
		t.Fatalf("Play: %+v %v", res, err)
	}
	// mpv is fine; the next item plays.
	if res, _ := d.Play(context.Background(), video(1000), testsrc("0.3")); !res.Played {
		t.Fatalf("after a missing file: %+v", res)
	}
	if h := d.Health(); !h.OK || !strings.Contains(h.LastError, "loading failed") {
		t.Fatalf("health %+v", h)
	}
}

func TestTruncatedAtSlot(t *testing.T) {
	t.Parallel()
	d := open(t, func(o *mpv.Opts) { o.SlotGrace = 200 * time.Millisecond })
	res, err := d.Play(context.Background(), video(500), testsrc("10"))
	if err != nil || !res.Played || !strings.Contains(res.Reason, "truncated") || res.Mono > 5*time.Second {
		t.Fatalf("Play: %+v %v", res, err)
	}
	if res, _ := d.Play(context.Background(), video(1000), testsrc("0.3")); !res.Played || res.Reason != "" {
		t.Fatalf("after a truncated play: %+v", res)
	}
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	d := open(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := d.Play(ctx, video(10000), testsrc("10"))
	if err != nil || res.Played || res.Reason != "interrupted" || res.Mono > 2*time.Second {
		t.Fatalf("Play: %+v %v", res, err)
	}
	// The stopped file's late end-file does not end the next play.
	res, _ = d.Play(context.Background(), video(1000), testsrc("1"))
	if !res.Played || res.Mono < 900*time.Millisecond {
		t.Fatalf("after an interrupted play: %+v", res)
	}
}

// watch connects a second IPC client to mpv (mpv sends events to every
// client) and reports when it sees event.
func watch(t *testing.T, sock, event string) <-chan struct{} {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(c)
		once := false
		for sc.Scan() {
			if m, err := mpv.ParseMessage(sc.Bytes()); err == nil && m.Event == event && !once {
				once = true
				close(seen)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return seen
}

func TestRestartAfterKill(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "mpv.sock")
	d := open(t, func(o *mpv.Opts) { o.Socket = sock })
	pid := d.PID()
	loaded := watch(t, sock, "file-loaded")
	type out struct {
		res output.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := d.Play(context.Background(), video(10000), testsrc("10"))
		done <- out{res, err}
	}()
	select {
	case <-loaded:
	case <-time.After(15 * time.Second):
		t.Fatal("mpv did not load testsrc in 15 s")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.res.Played || o.res.Reason != "player exited" {
		t.Fatalf("play with mpv killed: %+v %v", o.res, o.err)
	}
	res, err := d.Play(context.Background(), video(1000), testsrc("0.5"))
	if err != nil || !res.Played {
		t.Fatalf("play after restart: %+v %v (health %+v)", res, err, d.Health())
	}
	if d.PID() == pid || d.Last().Restarts != 1 {
		t.Fatalf("pid %d → %d, restarts %d", pid, d.PID(), d.Last().Restarts)
	}
	// The supervisor ("mpv exited: …") and the interrupted play ("player
	// exited") both record the death; which lands last is a race.
	if h := d.Health(); !h.OK || !strings.Contains(h.LastError, "exited") {
		t.Fatalf("health %+v", h)
	}
}

func TestOpenFails(t *testing.T) {
	needMPV(t)
	o := mpv.DefaultOpts
	o.VO, o.AO = "null", "null"
	o.ExtraArgs = []string{"--no-such-option"}
	o.StartTimeout = 5 * time.Second
	if d, err := mpv.Open(o); err == nil {
		d.Close()
		t.Fatal("mpv with a bad option opened")
	} else {
		t.Log(err)
	}
	o.Command = "/nonexistent/mpv"
	if _, err := mpv.Open(o); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Open: %v", err)
	}
}

func TestTVPower(t *testing.T) {
	t.Parallel()
	f := cectest.New(t, cectest.Standby)
	tv := cec.New(cec.Opts{Command: f.Command})
	d := open(t, func(o *mpv.Opts) { o.Power = tv })
	res, _ := d.Play(context.Background(), video(300), testsrc("0.3"))
	if !res.Played || d.PowerState() != "on" {
		t.Fatalf("Play: %+v, power %q", res, d.PowerState())
	}
	calls := strings.Join(f.Calls(t), "\n")
	if !strings.Contains(calls, "--image-view-on") || !strings.Contains(calls, "--active-source phys-addr=1.0.0.0") {
		t.Fatalf("the TV was not woken:\n%s", calls)
	}
	for _, tt := range []struct{ state, says string }{
		{cectest.StuckStandby, "TV off (power state standby)"},
		{cectest.NoReply, "TV off: TV did not answer"},
	} {
		f.Set(t, tt.state)
		res, _ := d.Play(context.Background(), video(300), testsrc("0.3"))
		if res.Played || !strings.Contains(res.Reason, tt.says) {
			t.Fatalf("%s: %+v", tt.state, res)
		}
		if h := d.Health(); h.OK {
			t.Fatalf("%s: health %+v", tt.state, h)
		}
	}
}

func TestConformance(t *testing.T) {
	needMPV(t)
	var (
		mu   sync.Mutex
		last *mpv.Dev
		fake *cectest.Fake
	)
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputTV,
		New: func(t *testing.T) output.Output {
			f := cectest.New(t, cectest.Standby)
			d := open(t, func(o *mpv.Opts) { o.Power = cec.New(cec.Opts{Command: f.Command}) })
			mu.Lock()
			last, fake = d, f
			mu.Unlock()
			return d
		},
		Good: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: video(1000), Path: testsrc("1")}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			mu.Lock()
			defer mu.Unlock()
			if st := last.Last(); st.Loaded <= 0 || st.EntryID == 0 {
				t.Fatalf("mpv did not report loading %s: %+v", c.Path, st)
			}
			if !strings.Contains(strings.Join(fake.Calls(t), "\n"), "--image-view-on") {
				t.Fatal("the TV was not powered on before content")
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			p := filepath.Join(t.TempDir(), "corrupt.mp4")
			if err := os.WriteFile(p, []byte("this is not a video"), 0o644); err != nil {
				t.Fatal(err)
			}
			return outputtest.Case{Item: video(1000), Path: p}
		},
		Fail: func(t *testing.T) string {
			mu.Lock()
			defer mu.Unlock()
			fake.Set(t, cectest.StuckStandby)
			return "TV off"
		},
		Long: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: video(5000), Path: testsrc("5")}
		},
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"data":{"playlist_entry_id":1},"request_id":1,"error":"success"}`,
		`{"event":"end-file","reason":"error","playlist_entry_id":1,"file_error":"loading failed"}`,
		`{"event":"file-loaded"}`,
		`{"request_id":2,"error":"invalid parameter"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := mpv.ParseMessage(b)
		if err != nil {
			return
		}
		if m.Event == "" && !m.IsReply() {
			t.Fatalf("accepted a message that is neither: %q", b)
		}
	})
}

// BenchmarkFileLoaded measures Play → mpv's file-loaded for a short
// generated clip (the time before the screen changes).
func BenchmarkFileLoaded(b *testing.B) {
	d := open(b, nil)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		res, err := d.Play(context.Background(), video(100), testsrc("0.1"))
		if err != nil || !res.Played {
			b.Fatalf("%+v %v", res, err)
		}
		total += d.Last().Loaded
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "file-loaded-ms")
}

// TestStalledPlayerRestarted: mpv stopped (SIGSTOP) mid-play makes the play
// fail as "player stalled" at its deadline (duration + margin, on a fake
// clock), mpv is killed and respawned, health is not OK meanwhile, and the
// next item plays on the new mpv.
func TestStalledPlayerRestarted(t *testing.T) {
	needMPV(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	var (
		mu   sync.Mutex
		devs []*mpv.Dev
	)
	sock := filepath.Join(t.TempDir(), "mpv.sock")
	l := output.NewLazy(output.LazyOpts{
		Kind: protocol.OutputTV, Absent: output.ReasonTVAbsent, Clock: clk, Margin: 10 * time.Second,
		Open: func(ctx context.Context) (output.Opened, error) {
			o := mpv.DefaultOpts
			o.VO, o.AO, o.Socket = "null", "null", sock
			d, err := mpv.Open(o)
			if err != nil {
				return output.Opened{}, err
			}
			mu.Lock()
			devs = append(devs, d)
			mu.Unlock()
			return output.Opened{Output: d, Health: d, Close: d.Close}, nil
		},
	})
	defer l.Close()
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := devs[0]
	mu.Unlock()
	pid := first.PID()
	poster := protocol.Item{Kind: "image", DurationMS: 4000}
	done := make(chan output.Result, 1)
	go func() {
		res, _ := l.Play(context.Background(), poster, media+"poster.png")
		done <- res
	}()
	if !clk.BlockUntil(nil, 1) { // the play has started and its deadline is set
		t.Fatal("no deadline")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	clk.Advance(14 * time.Second) // 4 s + 10 s margin
	var res output.Result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the play did not end at its deadline")
	}
	if res.Played || !strings.HasPrefix(res.Reason, output.ReasonStalled+": ") {
		t.Fatalf("stalled play: %+v", res)
	}
	if h := l.Health(); h.OK || !strings.HasPrefix(h.LastError, output.ReasonStalled) {
		t.Fatalf("health while stalled: %+v", h)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("stopped mpv %d still there", pid)
	}
	res, err := l.Play(context.Background(), protocol.Item{Kind: "image", DurationMS: 500}, media+"poster.png")
	if err != nil || !res.Played || res.Mono < 500*time.Millisecond-mpv.ImageTolerance {
		t.Fatalf("play on the respawned mpv: %+v %v", res, err)
	}
	mu.Lock()
	n := len(devs)
	second := devs[n-1]
	mu.Unlock()
	if n != 2 || second.PID() == pid || second.PID() == 0 {
		t.Fatalf("%d mpv opened, pid %d → %d", n, pid, second.PID())
	}
	if h := l.Health(); !h.OK {
		t.Fatalf("health after the restart: %+v", h)
	}
}
