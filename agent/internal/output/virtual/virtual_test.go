package virtual

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPlayHoldsForDuration(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := New(protocol.OutputLED, clk, nil)
	it := protocol.Item{SHA256: "ab", DurationMS: 1500}
	path := filepath.Join(t.TempDir(), "clip")
	os.WriteFile(path, []byte("x"), 0o644)
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Play(context.Background(), it, path)
	}()
	clk.BlockUntil(done, 1)
	clk.Advance(1499 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("finished early")
	default:
	}
	clk.Advance(time.Millisecond)
	<-done
	h := o.History()
	if len(h) != 1 || !h[0].Result.Played || h[0].Result.Mono != 1500*time.Millisecond || h[0].Path != path {
		t.Fatalf("history %+v", h)
	}
}

func TestPlayInterruptedAndFailing(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := New(protocol.OutputPrinter, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, _ := o.Play(ctx, protocol.Item{DurationMS: 1000}, "")
	if r.Played || r.Reason != "interrupted" {
		t.Fatalf("interrupted play: %+v", r)
	}
	o.FailWith("paper out")
	r, _ = o.Play(context.Background(), protocol.Item{DurationMS: 1000}, "")
	if r.Played || r.Reason != "paper out" {
		t.Fatalf("failing play: %+v", r)
	}
}

func TestConformance(t *testing.T) {
	write := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "clip.txt")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var cur *Output
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputLED,
		New: func(t *testing.T) output.Output {
			cur = New(protocol.OutputLED, clock.Real{}, nil)
			return cur
		},
		Good: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Size: 5, Kind: "text", DurationMS: 20}, Path: write(t, "hello")}
		},
		Checked: func(t *testing.T, c outputtest.Case) {
			if h := cur.History(); len(h) != 1 || h[0].Path != c.Path {
				t.Fatalf("history %+v", h)
			}
		},
		Bad: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Size: 5, Kind: "text", DurationMS: 20}, Path: filepath.Join(t.TempDir(), "missing")}
		},
		Fail: func(t *testing.T) string { cur.FailWith("paper out"); return "paper out" },
		Long: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: protocol.Item{Size: 5, Kind: "text", DurationMS: 5000}, Path: write(t, "hello")}
		},
	})
}
