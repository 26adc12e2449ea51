// Package output is the small interface every output driver implements:
// an LED sign, a hall TV, an ATM speaker, a printer. Playback drives
// outputs through it and turns each Result into a proof record. Lazy wraps
// a hardware driver so that missing hardware fails plays instead of the
// agent, and bounds every play by a deadline; notes.go holds the words a
// Result's reason is written in.
package output

import (
	"context"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Output plays one item at a time on one piece of hardware.
type Output interface {
	// Kind is the protocol output name (protocol.OutputLED, …).
	Kind() string
	// Play shows it (stored at path) and returns when it is over. A
	// failure the hardware reports (paper out, sign not answering) is a
	// Result with Played false and a Reason, not an error; an error means
	// the output could not even be tried.
	Play(ctx context.Context, it protocol.Item, path string) (Result, error)
}

// Result is what happened during one play.
type Result struct {
	Played bool
	Reason string // why not played (or why cut short)
	Start  time.Time
	End    time.Time
	Mono   time.Duration // monotonic duration, immune to wall-clock jumps
}
