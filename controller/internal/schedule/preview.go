package schedule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/profile"
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

	// PlayCount is every play foreseen in the span. Plays lists at most
	// MaxPreviewPlays of them, the earliest: when Truncated, Plays holds
	// every play starting before ListedUntil and Daily counts them all.
	PlayCount   int        `json:"play_count"`
	Truncated   bool       `json:"truncated,omitempty"`
	ListedUntil *time.Time `json:"listed_until,omitempty"`
	// MissCount is every quota miss found; Misses lists at most
	// MaxPreviewMisses, the earliest.
	MissCount int `json:"miss_count"`
	// Daily is the whole span summarised: plays per local day, output and
	// item, in day order.
	Daily []PreviewDay `json:"daily"`
	// ClockUntrusted: the preview is of a device whose clock is not
	// trusted (its last status said so), which plays what the agent
	// plays then: the safe loop, else date-free entries only, no quotas.
	ClockUntrusted bool `json:"clock_untrusted,omitempty"`
	// Quiet says whose quiet hours the preview keeps on each output, as
	// the agent does: the org's (in the document) and the device's
	// firmware profile's (its audio driver refuses to sound then), and
	// which it could not know.
	Quiet []string `json:"quiet,omitempty"`
}

// PreviewDay counts one item's plays on one output on one local day.
type PreviewDay struct {
	Day      string `json:"day"` // 2006-01-02 in the schedule's zone
	Output   string `json:"output"`
	SHA256   string `json:"sha256"`
	Title    string `json:"title,omitempty"`
	Entry    string `json:"entry,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Safe     bool   `json:"safe,omitempty"`
	Plays    int    `json:"plays"`
	PlayMS   int64  `json:"play_ms"` // the plays' total length
}

// MaxPreviewSpan bounds a preview.
const MaxPreviewSpan = 31 * 24 * time.Hour

// Bounds on what a preview holds, so that its memory does not grow with
// the number of plays: a 2-second loop over 31 days is 1.3 million plays,
// which listed one by one took 1.9 GB to compute and 2.5 GB to encode.
const (
	MaxPreviewPlays  = 5000 // plays listed; the rest are counted in Daily
	MaxPreviewMisses = 1000 // misses listed; the rest are counted in MissCount
	// maxPreviewSteps stops an evaluation that cannot advance (it would
	// be a bug in a schedule or the evaluator, not a long span).
	maxPreviewSteps = 20_000_000
)

// ErrPreviewTooLong is returned when the evaluator takes more than
// maxPreviewSteps steps over the span.
var ErrPreviewTooLong = errors.New("preview: the evaluator did not get through the span")

// previewSlots bounds concurrent Preview calls (each is a CPU-bound
// evaluator run of up to a few seconds).
var previewSlots = make(chan struct{}, 2)

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
	select {
	case previewSlots <- struct{}{}:
		defer func() { <-previewSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ds, err := c.Desired(ctx, device)
	if err != nil {
		return nil, err
	}
	outs, err := c.st.DeviceOutputs(ctx, device)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// A device whose last status says its clock is not synchronised plays
	// its safe loop; preview what it will really play.
	synced := true
	if d, err := c.st.Device(ctx, device); err == nil && d.Status != "" {
		var st protocol.Status
		if json.Unmarshal([]byte(d.Status), &st) == nil && st.ClockSource != "" && !st.ClockSynced {
			synced = false
		}
	}
	return previewClock(ctx, ds, output, from, to, synced, profileQuiet(outs))
}

var builtinProfiles = sync.OnceValues(func() (*profile.Set, error) {
	return profile.Load(firmwareprofiles.FS, "")
})

// deviceQuiet is what the controller knows of a device's own quiet hours,
// by output: its profile's limits.quiet_hours ("" none), or unknown for a
// profile that is not built in (a site's own, from the agent's --profiles
// directory).
type deviceQuiet map[string]struct {
	profile, hours string
	known          bool
}

func profileQuiet(outputs map[string]string) deviceQuiet {
	dq := deviceQuiet{}
	set, err := builtinProfiles()
	for out, id := range outputs {
		v := dq[out]
		v.profile = id
		if err == nil {
			if p, perr := set.Get(id); perr == nil {
				v.known = true
				if p.Limits != nil {
					v.hours = p.Limits.QuietHours
				}
			}
		}
		dq[out] = v
	}
	return dq
}

// PreviewState runs the evaluator over an already compiled desired state.
func PreviewState(ds *protocol.DesiredState, output string, from, to time.Time) (*PreviewResult, error) {
	return previewState(context.Background(), ds, output, from, to)
}

// PreviewStateClock is PreviewState for a device whose clock is trusted
// (synced) or not: the evaluator is given the same trust state the agent
// gives it, so an untrusted device is previewed playing its safe loop.
func PreviewStateClock(ds *protocol.DesiredState, output string, from, to time.Time, synced bool) (*PreviewResult, error) {
	return previewClock(context.Background(), ds, output, from, to, synced, nil)
}

// PreviewStateOutputs is PreviewStateClock for a device whose recorded
// outputs are known (output → profile ID, store.DeviceOutputs): the
// built-in profiles' quiet hours are kept on them, as the agent keeps
// them.
func PreviewStateOutputs(ds *protocol.DesiredState, output string, from, to time.Time, synced bool, outputs map[string]string) (*PreviewResult, error) {
	return previewClock(context.Background(), ds, output, from, to, synced, profileQuiet(outputs))
}

func previewState(ctx context.Context, ds *protocol.DesiredState, output string, from, to time.Time) (*PreviewResult, error) {
	return previewClock(ctx, ds, output, from, to, true, nil)
}

// previewClock previews ds; dq is the device's own quiet hours by output
// (nil: not known, as for a document previewed without its device).
func previewClock(ctx context.Context, ds *protocol.DesiredState, output string, from, to time.Time, synced bool, dq deviceQuiet) (*PreviewResult, error) {
	if !to.After(from) || to.Sub(from) > MaxPreviewSpan {
		return nil, store.Invalid(fmt.Errorf("preview span %v..%v: to must be after from, at most %v", from, to, MaxPreviewSpan))
	}
	res := &PreviewResult{Device: ds.Device, Version: ds.Version, TZ: DefaultTZ, Plays: []PreviewPlay{}, Misses: []PreviewMiss{},
		Alerts: ds.Alerts, Daily: []PreviewDay{}, ClockUntrusted: !synced}
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
	daily := map[dayKey]*PreviewDay{}
	for _, o := range outputs {
		if output != "" && o != output {
			continue
		}
		// Each output keeps only its earliest MaxPreviewPlays (and misses):
		// no later play can be among the earliest MaxPreviewPlays overall.
		var plays []PreviewPlay
		var misses []PreviewMiss
		po, note := dq.options(ds, o)
		if note != "" {
			res.Quiet = append(res.Quiet, note)
		}
		err := previewOutput(ctx, ds, o, from, to, synced, po, func(p plan.Planned) {
			res.PlayCount++
			start := p.Start.In(loc)
			k := dayKey{start.Format(time.DateOnly), o, p.Item.SHA256, p.EntryID, p.Campaign, p.Safe}
			d := daily[k]
			if d == nil {
				d = &PreviewDay{Day: k.day, Output: o, SHA256: p.Item.SHA256, Title: p.Item.Title, Entry: p.EntryID, Campaign: p.Campaign, Safe: p.Safe}
				daily[k] = d
			}
			d.Plays++
			d.PlayMS += p.End.Sub(p.Start).Milliseconds()
			if len(plays) < MaxPreviewPlays {
				plays = append(plays, PreviewPlay{Start: start, End: p.End.In(loc), Output: o, Title: p.Item.Title,
					SHA256: p.Item.SHA256, Kind: p.Item.Kind, DurationMS: p.Item.DurationMS, Entry: p.EntryID, Campaign: p.Campaign, Safe: p.Safe})
			}
		}, func(m plan.Miss) {
			res.MissCount++
			if len(misses) < MaxPreviewMisses {
				misses = append(misses, PreviewMiss{Output: o, Entry: m.EntryID, Campaign: m.Campaign, At: m.At.In(loc), Detail: m.Detail})
			}
		})
		if err != nil {
			return nil, fmt.Errorf("preview %s of %s: %w", o, ds.Device, err)
		}
		res.Plays = append(res.Plays, plays...)
		res.Misses = append(res.Misses, misses...)
	}
	sort.SliceStable(res.Plays, func(i, j int) bool {
		if !res.Plays[i].Start.Equal(res.Plays[j].Start) {
			return res.Plays[i].Start.Before(res.Plays[j].Start)
		}
		return res.Plays[i].Output < res.Plays[j].Output
	})
	sort.SliceStable(res.Misses, func(i, j int) bool { return res.Misses[i].At.Before(res.Misses[j].At) })
	if len(res.Plays) < res.PlayCount || len(res.Plays) > MaxPreviewPlays {
		// Cut so that the listing has no holes: every play starting
		// before ListedUntil is in it. An output that hit its cap is
		// complete only before its last listed play.
		var until time.Time
		for _, o := range outputs {
			if countOutput(res.Plays, o) == MaxPreviewPlays {
				if last := lastOfOutput(res.Plays, o); until.IsZero() || last.Before(until) {
					until = last
				}
			}
		}
		cut := len(res.Plays)
		if !until.IsZero() {
			cut = sort.Search(len(res.Plays), func(i int) bool { return !res.Plays[i].Start.Before(until) })
		}
		if cut > MaxPreviewPlays {
			cut = MaxPreviewPlays
			until = res.Plays[cut].Start
			for cut > 0 && !res.Plays[cut-1].Start.Before(until) { // ties at the cut go too
				cut--
			}
		}
		res.Plays = res.Plays[:cut:cut]
		res.Truncated, res.ListedUntil = true, &until
	}
	if len(res.Misses) > MaxPreviewMisses {
		res.Misses = res.Misses[:MaxPreviewMisses:MaxPreviewMisses]
	}
	for _, d := range daily {
		res.Daily = append(res.Daily, *d)
	}
	sort.Slice(res.Daily, func(i, j int) bool {
		a, b := res.Daily[i], res.Daily[j]
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Output, b.Output), cmp.Compare(a.Entry, b.Entry),
			cmp.Compare(a.SHA256, b.SHA256), cmp.Compare(a.Campaign, b.Campaign), boolCmp(a.Safe, b.Safe)) < 0
	})
	return res, nil
}

type dayKey struct {
	day, output, sha, entry, campaign string
	safe                              bool
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func countOutput(plays []PreviewPlay, o string) int {
	n := 0
	for _, p := range plays {
		if p.Output == o {
			n++
		}
	}
	return n
}

func lastOfOutput(plays []PreviewPlay, o string) time.Time {
	for i := len(plays) - 1; i >= 0; i-- {
		if plays[i].Output == o {
			return plays[i].Start
		}
	}
	return time.Time{}
}

// previewOutput is plan.Preview streamed: the same evaluator loop (every
// item lasting exactly its DurationMS, the clock trusted as synced says,
// everything cached), handing each play and miss to a callback instead of
// collecting them, so memory stays flat however many plays the span holds.
func previewOutput(ctx context.Context, ds *protocol.DesiredState, output string, from, to time.Time, synced bool, po plan.Options,
	play func(plan.Planned), miss func(plan.Miss)) error {
	ev, err := plan.NewWith(ds.Schedule, output, ds.Playlists, po)
	if err != nil {
		return err
	}
	steps := 0
	for t := from; t.Before(to); steps++ {
		if steps%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if steps >= maxPreviewSteps {
			return ErrPreviewTooLong
		}
		p := ev.Next(plan.Env{Now: t, Synced: synced})
		for _, m := range ev.Misses() {
			miss(m)
		}
		if p.Item.SHA256 == "" {
			t = t.Add(max(p.Wait, time.Millisecond))
			continue
		}
		end := t.Add(time.Duration(p.Item.DurationMS) * time.Millisecond)
		play(plan.Planned{Start: t, End: end, Item: p.Item, EntryID: p.EntryID, Campaign: p.Campaign, Safe: p.Safe})
		ev.Played(p, t, end)
		t = end
	}
	return nil
}

// options are the evaluator options the agent gives output's evaluator,
// as far as the controller knows them, and a note saying whose quiet
// hours the preview keeps there ("" none). The profile's hours are kept
// in the schedule's zone: the agent keeps them in the device's local
// zone, which should be the site's.
func (dq deviceQuiet) options(ds *protocol.DesiredState, output string) (plan.Options, string) {
	var parts []string
	if ds.Schedule != nil {
		for _, op := range ds.Schedule.Outputs {
			if op.Output == output {
				for _, q := range op.Quiet {
					parts = append(parts, fmt.Sprintf("the org's %s %s-%s", q.Days, q.Start, q.End))
				}
			}
		}
	}
	var po plan.Options
	v, ok := dq[output]
	switch {
	case dq == nil:
		if output == protocol.OutputAudio {
			parts = append(parts, "not the device's profile's (not known here)")
		}
	case !ok:
	case v.profile == "":
		parts = append(parts, "not the device's profile's (none recorded)")
	case !v.known:
		parts = append(parts, fmt.Sprintf("not profile %s's (not a built-in profile: its quiet hours are not known here)", v.profile))
	case v.hours != "":
		q, err := plan.ProfileQuiet(v.hours)
		if err != nil {
			parts = append(parts, fmt.Sprintf("not profile %s's (%v)", v.profile, err))
			break
		}
		po.Quiet = q
		parts = append(parts, fmt.Sprintf("profile %s's daily %s (in the schedule's zone)", v.profile, v.hours))
	}
	if len(parts) == 0 {
		return po, ""
	}
	return po, fmt.Sprintf("%s: quiet hours kept: %s", output, strings.Join(parts, "; "))
}
