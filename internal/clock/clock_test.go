package clock

import (
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func TestFakeAfterFiresOnlyWhenAdvancedPast(t *testing.T) {
	f := NewFake(epoch)
	ch := f.After(10 * time.Second)
	f.Advance(9 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-ch:
		if !got.Equal(epoch.Add(10 * time.Second)) {
			t.Fatalf("fired with %v", got)
		}
	default:
		t.Fatal("did not fire")
	}
	if f.Waiters() != 0 {
		t.Fatalf("waiters = %d", f.Waiters())
	}
}

func TestFakeZeroFiresAtOnce(t *testing.T) {
	f := NewFake(epoch)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire")
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(epoch)
	const n = 50
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-f.After(time.Duration(i+1) * time.Millisecond)
		}(i)
	}
	if !f.BlockUntil(done, n) {
		t.Fatal("BlockUntil gave up")
	}
	f.Advance(time.Second)
	wg.Wait()
	if got := f.Now(); !got.Equal(epoch.Add(time.Second)) {
		t.Fatalf("now = %v", got)
	}
}

func TestRealAfter(t *testing.T) {
	var c Clock = Real{}
	start := c.Now()
	<-c.After(time.Millisecond)
	if c.Since(start) < time.Millisecond {
		t.Fatal("real After returned early")
	}
}
