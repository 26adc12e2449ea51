// Package outputtest is the conformance check every output driver runs,
// against its wire fake in tests and against real hardware by hand: the
// same expectations for an LED sign, a TV, a speaker or a printer.
package outputtest

import (
	"context"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Case is one item to play and the file holding it.
type Case struct {
	Item protocol.Item
	Path string
}

// Harness describes a driver under test.
type Harness struct {
	// Kind is the protocol output name the driver must report.
	Kind string
	// New returns a fresh driver wired to its fake (or real) wire.
	New func(t *testing.T) output.Output
	// Good is an item the driver must play; Checked, if set, is called
	// after it played and must confirm the wire saw that content (bytes
	// on the pty, frames in the captured PCM, the file mpv loaded…).
	Good    func(t *testing.T) Case
	Checked func(t *testing.T, c Case)
	// Bad is an item the driver must not claim to have played (a missing
	// or corrupt file).
	Bad func(t *testing.T) Case
	// Fail, if set, makes the wire fail (paper out, sign silent, TV off)
	// and returns the substring the Result.Reason must carry.
	Fail func(t *testing.T) string
	// Long is an item that plays long enough to be interrupted (≥ 2 s).
	Long func(t *testing.T) Case
}

// Run runs the conformance checks as subtests.
func Run(t *testing.T, h Harness) {
	t.Helper()
	t.Run("kind", func(t *testing.T) {
		if got := h.New(t).Kind(); got != h.Kind {
			t.Fatalf("Kind() = %q, want %q", got, h.Kind)
		}
	})
	t.Run("plays", func(t *testing.T) {
		o := h.New(t)
		c := h.Good(t)
		res, err := o.Play(context.Background(), c.Item, c.Path)
		if err != nil {
			t.Fatalf("Play: %v", err)
		}
		if !res.Played {
			t.Fatalf("Play did not play: %q", res.Reason)
		}
		checkTimes(t, res)
		if h.Checked != nil {
			h.Checked(t, c)
		}
	})
	if h.Bad != nil {
		t.Run("refuses bad media", func(t *testing.T) {
			o := h.New(t)
			c := h.Bad(t)
			res, err := o.Play(context.Background(), c.Item, c.Path)
			if err == nil && res.Played {
				t.Fatal("a missing or corrupt file was reported as played")
			}
			if err == nil && res.Reason == "" {
				t.Fatal("failed play without a reason")
			}
		})
	}
	if h.Fail != nil {
		t.Run("reports hardware failure", func(t *testing.T) {
			o := h.New(t)
			want := h.Fail(t)
			c := h.Good(t)
			res, err := o.Play(context.Background(), c.Item, c.Path)
			if err != nil {
				return // could not even be tried: also not a success
			}
			if res.Played {
				t.Fatal("hardware failure reported as a successful play")
			}
			if want != "" && !contains(res.Reason, want) {
				t.Fatalf("reason %q does not say %q", res.Reason, want)
			}
		})
	}
	if h.Long != nil {
		t.Run("interruptible", func(t *testing.T) {
			o := h.New(t)
			c := h.Long(t)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := o.Play(ctx, c.Item, c.Path)
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("Play took %v after its context was cancelled", took)
			}
			if err == nil && res.Played && res.Mono >= time.Duration(c.Item.DurationMS)*time.Millisecond {
				t.Fatal("an interrupted play reported as complete")
			}
		})
	}
}

func checkTimes(t *testing.T, r output.Result) {
	t.Helper()
	if r.Start.IsZero() || r.End.Before(r.Start) || r.Mono < 0 {
		t.Fatalf("bad times: start %v end %v mono %v", r.Start, r.End, r.Mono)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
