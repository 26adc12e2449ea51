package clocksync_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/clocksync"
	"github.com/guardcast/guardcast/agent/internal/clocksync/clocksynctest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// run starts m.Run and returns a stop that waits for it.
func run(t *testing.T, m *clocksync.Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// park waits until the monitor waits on the fake clock.
func park(t *testing.T, clk *clock.Fake) {
	t.Helper()
	timeout := make(chan struct{})
	tm := time.AfterFunc(10*time.Second, func() { close(timeout) })
	defer tm.Stop()
	if !clk.BlockUntil(timeout, 1) {
		t.Fatal("monitor not waiting on the clock")
	}
}

// TestMonitorFollowsKernel: a Pi boots unsynchronised, NTP syncs later,
// and the monitor goes over to trusted at its next read without a
// restart; losing sync goes back.
func TestMonitorFollowsKernel(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	k := clocksynctest.New(false)
	changes := make(chan clocksync.State, 4)
	m := clocksync.New(clocksync.Opts{Kernel: k, Clock: clk, OnChange: func(s clocksync.State) { changes <- s }})
	if st := m.State(); st.Synced || st.Source != protocol.ClockKernel || st.Err != nil {
		t.Fatalf("at start %+v, want untrusted from the kernel", st)
	}
	run(t, m)

	park(t, clk)
	k.Set(true, nil)
	clk.Advance(clocksync.DefaultEvery - time.Second)
	if m.Synced() {
		t.Fatal("trusted before the next read")
	}
	clk.Advance(time.Second)
	if st := <-changes; !st.Synced || st.Source != protocol.ClockKernel {
		t.Fatalf("after sync %+v", st)
	}
	if !m.Synced() {
		t.Fatal("Synced false after the change was reported")
	}

	park(t, clk)
	clk.Advance(clocksync.DefaultEvery) // no change: no report
	park(t, clk)
	boom := errors.New("adjtimex: operation not permitted")
	k.Set(true, boom)
	clk.Advance(clocksync.DefaultEvery)
	if st := <-changes; st.Synced || !errors.Is(st.Err, boom) {
		t.Fatalf("after a failed read %+v, want untrusted with the error", st)
	}
	select {
	case st := <-changes:
		t.Fatalf("unexpected change %+v", st)
	default:
	}
	if n := k.Reads(); n != 4 {
		t.Fatalf("%d kernel reads, want 4 (New and three minutes)", n)
	}
}

func TestMonitorForced(t *testing.T) {
	k := clocksynctest.New(false)
	m := clocksync.New(clocksync.Opts{Kernel: k, Forced: true})
	if st := m.State(); !st.Synced || st.Source != protocol.ClockForced {
		t.Fatalf("forced %+v", st)
	}
	if err := m.Run(context.Background()); err != nil { // returns at once
		t.Fatal(err)
	}
	if k.Reads() != 0 {
		t.Fatal("a forced monitor read the kernel")
	}
}
