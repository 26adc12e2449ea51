// Package virtual is an output that shows nothing: it holds each item for
// its duration on the injected clock and records what it "played". It is
// the default output until real drivers exist, and what tests inspect.
package virtual

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Play is one entry of the history.
type Play struct {
	Item   protocol.Item
	Path   string
	Result output.Result
}

// Output is a virtual output of one kind.
type Output struct {
	kind string
	clk  clock.Clock
	log  *slog.Logger

	mu      sync.Mutex
	history []Play
	fail    string
}

var _ output.Output = (*Output)(nil)

// New returns a virtual output of kind using clk; a nil log discards.
func New(kind string, clk clock.Clock, log *slog.Logger) *Output {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Output{kind: kind, clk: clk, log: log.With("output", kind, "driver", "virtual")}
}

// Kind returns the output kind.
func (o *Output) Kind() string { return o.kind }

// FailWith makes every following play fail with reason ("" to stop),
// like a printer out of paper.
func (o *Output) FailWith(reason string) {
	o.mu.Lock()
	o.fail = reason
	o.mu.Unlock()
}

// Play holds the output for it.DurationMS on the clock, or until ctx ends.
func (o *Output) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	o.mu.Lock()
	fail := o.fail
	o.mu.Unlock()
	start := o.clk.Now()
	res := output.Result{Start: start}
	if fail == "" && path != "" {
		// A real driver reads the file; so does the virtual one, so that a
		// missing or empty cache entry is never reported as played.
		if fi, err := os.Stat(path); err != nil {
			fail = "media missing: " + err.Error()
		} else if !fi.Mode().IsRegular() || fi.Size() == 0 || (it.Size > 0 && fi.Size() != it.Size) {
			fail = fmt.Sprintf("media unusable: %s is %d bytes, want %d", filepath.Base(path), fi.Size(), it.Size)
		}
	}
	if fail != "" {
		res.Reason = fail
	} else {
		select {
		case <-o.clk.After(time.Duration(it.DurationMS) * time.Millisecond):
			res.Played = true
		case <-ctx.Done():
			res.Reason = "interrupted"
		}
	}
	res.End = o.clk.Now()
	res.Mono = o.clk.Since(start)
	o.log.Info("virtual play", "sha256", it.SHA256, "title", it.Title, "played", res.Played, "reason", res.Reason, "ms", res.Mono.Milliseconds())
	o.mu.Lock()
	o.history = append(o.history, Play{Item: it, Path: path, Result: res})
	o.mu.Unlock()
	return res, nil
}

// History returns a copy of everything played so far.
func (o *Output) History() []Play {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Play(nil), o.history...)
}
