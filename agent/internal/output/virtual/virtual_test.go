package virtual

import (
	"context"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPlayHoldsForDuration(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	o := New(protocol.OutputLED, clk, nil)
	it := protocol.Item{SHA256: "ab", DurationMS: 1500}
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Play(context.Background(), it, "/x")
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
	if len(h) != 1 || !h[0].Result.Played || h[0].Result.Mono != 1500*time.Millisecond || h[0].Path != "/x" {
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
