package schedule

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// PreviewPlay is one play a preview foresees.
type PreviewPlay struct {
	Start      time.Time `json:"start"` // in the schedule's zone
	End        time.Time `json:"end"`
	Output     string    `json:"output"`
	Title      string    `json:"title,omitempty"`
	SHA256     string    `json:"sha256"`
	Kind       string    `json:"kind"`
	DurationMS int64     `json:"duration_ms"`
	Entry      string    `json:"entry,omitempty"`
	Campaign   string    `json:"campaign,omitempty"`
	Safe       bool      `json:"safe,omitempty"` // from the output's safe loop
}

// PreviewMiss is a quota the schedule cannot meet in the span.
type PreviewMiss struct {
	Output   string    `json:"output"`
	Entry    string    `json:"entry"`
	Campaign string    `json:"campaign,omitempty"`
	At       time.Time `json:"at"`
	Detail   string    `json:"detail"`
}

// PreviewResult is what a device will play between From and To.
type PreviewResult struct {
	Device  string        `json:"device"`
	Version uint64        `json:"version"` // the document version the preview is of
	TZ      string        `json:"tz"`
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Plays   []PreviewPlay `json:"plays"`
	Misses  []PreviewMiss `json:"misses"`
	// Triggers are entries that play only on a local trigger (the
	// large-transfer button), which a preview cannot foresee.
	Triggers []string `json:"triggers,omitempty"`
	// Alerts in force preempt their outputs until they expire; a preview
	// shows the schedule underneath them.
	Alerts []protocol.Alert `json:"alerts,omitempty"`
}

// MaxPreviewSpan bounds a preview.
const MaxPreviewSpan = 31 * 24 * time.Hour

// Preview compiles device's desired state exactly as the fleet would
// (without signing or storing a version) and runs the agent's own
// evaluator (plan.Preview) over it for output ("" for every output).
func Preview(ctx context.Context, c *Compiler, device, output string, from, to time.Time) (*PreviewResult, error) {
	if !to.After(from) || to.Sub(from) > MaxPreviewSpan {
		return nil, store.Invalid(fmt.Errorf("preview span %v..%v: to must be after from, at most %v", from, to, MaxPreviewSpan))
	}
	if output != "" && !protocol.ValidOutput(output) {
		return nil, store.Invalid(fmt.Errorf("output %q: want led, tv, audio or printer", output))
	}
	ds, err := c.Desired(ctx, device)
	if err != nil {
		return nil, err
	}
	return PreviewState(ds, output, from, to)
}

// PreviewState runs the evaluator over an already compiled desired state.
func PreviewState(ds *protocol.DesiredState, output string, from, to time.Time) (*PreviewResult, error) {
	res := &PreviewResult{Device: ds.Device, Version: ds.Version, TZ: DefaultTZ, Plays: []PreviewPlay{}, Misses: []PreviewMiss{}, Alerts: ds.Alerts}
	var outputs []string
	if ds.Schedule != nil {
		res.TZ = ds.Schedule.TZ
		for _, o := range ds.Schedule.Outputs {
			outputs = append(outputs, o.Output)
			for _, e := range o.Entries {
				if e.Trigger != "" {
					res.Triggers = append(res.Triggers, fmt.Sprintf("%s on %s: plays on trigger %q", e.ID, o.Output, e.Trigger))
				}
			}
		}
	} else {
		for _, p := range ds.Playlists {
			outputs = append(outputs, p.Output)
		}
	}
	loc, err := time.LoadLocation(res.TZ)
	if err != nil {
		return nil, err
	}
	res.From, res.To = from.In(loc), to.In(loc)
	for _, o := range outputs {
		if output != "" && o != output {
			continue
		}
		plays, misses, err := plan.Preview(ds.Schedule, o, ds.Playlists, from, to)
		if err != nil {
			return nil, fmt.Errorf("preview %s of %s: %w", o, ds.Device, err)
		}
		for _, p := range plays {
			res.Plays = append(res.Plays, PreviewPlay{Start: p.Start.In(loc), End: p.End.In(loc), Output: o, Title: p.Item.Title,
				SHA256: p.Item.SHA256, Kind: p.Item.Kind, DurationMS: p.Item.DurationMS, Entry: p.EntryID, Campaign: p.Campaign, Safe: p.Safe})
		}
		for _, m := range misses {
			res.Misses = append(res.Misses, PreviewMiss{Output: o, Entry: m.EntryID, Campaign: m.Campaign, At: m.At.In(loc), Detail: m.Detail})
		}
	}
	sort.SliceStable(res.Plays, func(i, j int) bool {
		if !res.Plays[i].Start.Equal(res.Plays[j].Start) {
			return res.Plays[i].Start.Before(res.Plays[j].Start)
		}
		return res.Plays[i].Output < res.Plays[j].Output
	})
	sort.SliceStable(res.Misses, func(i, j int) bool { return res.Misses[i].At.Before(res.Misses[j].At) })
	return res, nil
}
