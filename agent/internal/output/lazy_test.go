package output_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// fakeDriver plays instantly, or until its context ends when hang is set.
type fakeDriver struct {
	clk    clock.Clock
	hang   bool
	closed chan struct{}
}

func (f *fakeDriver) Kind() string { return protocol.OutputLED }

func (f *fakeDriver) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	start := f.clk.Now()
	if f.hang {
		<-ctx.Done()
		return output.Result{Start: start, End: f.clk.Now(), Reason: "interrupted"}, nil
	}
	return output.Result{Played: true, Start: start, End: f.clk.Now()}, nil
}

// records counts log records by message.
type records struct {
	mu  sync.Mutex
	msg map[string]int
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msg[rec.Message]++
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }
func (r *records) count(m string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg[m]
}

var item = protocol.Item{SHA256: strings.Repeat("ab", 32), Kind: "text", DurationMS: 4000}

// TestLazyAbsentThenPresent: hardware missing at start fails each play at
// once with a reason, is retried with bounded backoff (not at every play),
// and plays once it is there; the first failure and the recovery are
// logged, the retries are not.
func TestLazyAbsentThenPresent(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	logs := &records{msg: map[string]int{}}
	var mu sync.Mutex
	present := false
	l := output.NewLazy(output.LazyOpts{
		Kind: protocol.OutputLED, Absent: output.ReasonSignSilent, Clock: clk, Log: slog.New(logs),
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second,
		Open: func(ctx context.Context) (output.Opened, error) {
			mu.Lock()
			defer mu.Unlock()
			if !present {
				return output.Opened{}, errors.New("dial sign 127.0.0.1:9: connection refused")
			}
			return output.Opened{Output: &fakeDriver{clk: clk}}, nil
		},
	})
	defer l.Close()
	if err := l.Start(context.Background()); !errors.Is(err, output.ErrAbsent) {
		t.Fatalf("Start: %v", err)
	}
	play := func() output.Result {
		t.Helper()
		res, err := l.Play(context.Background(), item, "")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := play()
	if res.Played || res.Reason != "sign_silent: dial sign 127.0.0.1:9: connection refused" {
		t.Fatalf("absent sign: %+v", res)
	}
	if h := l.Health(); h.OK || !strings.Contains(h.LastError, "connection refused") {
		t.Fatalf("health %+v", h)
	}
	if n := l.Attempts(); n != 1 {
		t.Fatalf("retried before the backoff passed: %d attempts", n)
	}
	// Backoff 1 s, 2 s, 4 s, 4 s: bounded.
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		clk.Advance(wait - time.Millisecond)
		play()
		if n := l.Attempts(); n != i+1 {
			t.Fatalf("step %d: attempted %d times before the backoff of %v", i, n, wait)
		}
		clk.Advance(time.Millisecond)
		play()
		if n := l.Attempts(); n != i+2 {
			t.Fatalf("step %d: %d attempts after the backoff of %v", i, n, wait)
		}
	}
	mu.Lock()
	present = true
	mu.Unlock()
	clk.Advance(4 * time.Second)
	if res := play(); !res.Played {
		t.Fatalf("sign back: %+v", res)
	}
	if h := l.Health(); !h.OK {
		t.Fatalf("health after recovery %+v", h)
	}
	if w, i := logs.count("output unavailable; retrying with backoff"), logs.count("output recovered"); w != 1 || i != 1 {
		t.Fatalf("logged %d failures and %d recoveries, want 1 and 1", w, i)
	}
}

// TestLazyStall: a play that runs past its duration plus the margin fails
// as "player stalled", the driver is closed and the next play opens a
// fresh one; health is not OK in between.
func TestLazyStall(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	var (
		mu     sync.Mutex
		opened []*fakeDriver
	)
	l := output.NewLazy(output.LazyOpts{
		Kind: protocol.OutputLED, Clock: clk, Margin: 10 * time.Second,
		Open: func(ctx context.Context) (output.Opened, error) {
			mu.Lock()
			defer mu.Unlock()
			d := &fakeDriver{clk: clk, hang: len(opened) == 0, closed: make(chan struct{})}
			opened = append(opened, d)
			return output.Opened{Output: d, Close: func() error { close(d.closed); return nil }}, nil
		},
	})
	defer l.Close()
	done := make(chan output.Result, 1)
	go func() {
		res, _ := l.Play(context.Background(), item, "")
		done <- res
	}()
	if !clk.BlockUntil(nil, 1) {
		t.Fatal("no deadline set")
	}
	clk.Advance(14*time.Second - time.Millisecond)
	select {
	case res := <-done:
		t.Fatalf("ended before its deadline: %+v", res)
	default:
	}
	clk.Advance(time.Millisecond)
	res := <-done
	if res.Played || !strings.HasPrefix(res.Reason, output.ReasonStalled+": ") {
		t.Fatalf("stalled play: %+v", res)
	}
	mu.Lock()
	first := opened[0]
	mu.Unlock()
	select {
	case <-first.closed:
	default:
		t.Fatal("stalled driver not closed")
	}
	if h := l.Health(); h.OK || !strings.HasPrefix(h.LastError, output.ReasonStalled) {
		t.Fatalf("health while stalled %+v", h)
	}
	if res, _ := l.Play(context.Background(), item, ""); !res.Played {
		t.Fatalf("play after restart: %+v", res)
	}
	mu.Lock()
	n := len(opened)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("opened %d drivers, want 2", n)
	}
	if h := l.Health(); !h.OK {
		t.Fatalf("health after restart %+v", h)
	}
}

// TestLazyInterruptedIsNotStall: a play its caller cancels is not a stall.
func TestLazyInterruptedIsNotStall(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	closed := 0
	l := output.NewLazy(output.LazyOpts{
		Kind: protocol.OutputLED, Clock: clk, Margin: time.Second,
		Open: func(ctx context.Context) (output.Opened, error) {
			return output.Opened{Output: &fakeDriver{clk: clk, hang: true}, Close: func() error { closed++; return nil }}, nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, _ := l.Play(ctx, item, "")
	if res.Played || strings.Contains(res.Reason, output.ReasonStalled) || closed != 0 {
		t.Fatalf("cancelled play: %+v, closed %d", res, closed)
	}
	l.Close()
	if closed != 1 {
		t.Fatalf("Close closed the driver %d times", closed)
	}
	if res, _ := l.Play(context.Background(), item, ""); res.Played {
		t.Fatal("played after Close")
	}
}
