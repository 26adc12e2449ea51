package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// clockState is a sign whose schedule shows the town hotline by daypart
// and whose safe loop is one 10-second message.
func clockState() *protocol.DesiredState {
	safe := protocol.Item{SHA256: fmt.Sprintf("%064x", 10), Kind: "text", Title: "safe", Size: 5, DurationMS: 10_000}
	hot := protocol.Item{SHA256: fmt.Sprintf("%064x", 11), Kind: "text", Title: "town hotline", Size: 5, DurationMS: 20_000}
	return &protocol.DesiredState{V: protocol.Version, Device: "sign-1", Version: 7, Schedule: &protocol.Schedule{
		TZ: "UTC", Outputs: []protocol.OutputPlan{{Output: "led", Safe: []protocol.Item{safe}, Entries: []protocol.Entry{
			{ID: "town/hotline", Dayparts: []protocol.Daypart{{Days: "daily", Start: "00:00", End: "24:00"}},
				Items: []protocol.EntryItem{{Item: hot}}},
		}}},
	}}
}

func TestPreviewClock(t *testing.T) {
	from := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	tests := []struct {
		name      string
		synced    bool
		wantSafe  int
		wantTitle string
	}{
		{"trusted clock plays the schedule", true, 0, "town hotline"},
		{"untrusted clock plays the safe loop", false, 360, "safe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := PreviewStateClock(clockState(), "", from, to, tt.synced)
			if err != nil {
				t.Fatal(err)
			}
			if res.ClockUntrusted == tt.synced {
				t.Errorf("ClockUntrusted %v with synced %v", res.ClockUntrusted, tt.synced)
			}
			safe := 0
			for _, p := range res.Plays {
				if p.Title != tt.wantTitle {
					t.Fatalf("play %+v, want only %q", p, tt.wantTitle)
				}
				if p.Safe {
					safe++
				}
			}
			if safe != tt.wantSafe || len(res.Plays) == 0 {
				t.Errorf("%d plays, %d of the safe loop; want %d safe", len(res.Plays), safe, tt.wantSafe)
			}
		})
	}
	// PreviewState is the trusted case.
	a, err := PreviewState(clockState(), "", from, to)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PreviewStateClock(clockState(), "", from, to, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.PlayCount != b.PlayCount || a.ClockUntrusted {
		t.Errorf("PreviewState %d plays (untrusted %v), PreviewStateClock(true) %d", a.PlayCount, a.ClockUntrusted, b.PlayCount)
	}
}
