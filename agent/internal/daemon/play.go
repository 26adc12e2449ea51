package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/scheduler"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// interrupt is why a play was cut short; its text is the proof's reason.
type interrupt string

func (i interrupt) Error() string { return string(i) }

const (
	errScheduleChanged = interrupt("interrupted: schedule changed")
	errAlert           = interrupt("interrupted: urgent alert")
	errAlertExpired    = interrupt("interrupted: alert expired")
)

func errTriggered(name string) error { return interrupt("interrupted: trigger " + name) }

// quietKeeper is an output that keeps quiet hours of its own: the audio
// driver refuses to sound during its firmware profile's
// limits.quiet_hours ("22:00-07:00", in the driver's zone loc). The
// player gives them to its evaluator, so that nothing is scheduled then
// instead of one failed play per clip all night.
type quietKeeper interface {
	QuietHours() (hours string, loc *time.Location)
}

// reasonQuietHours starts the reason of the one record a stretch of
// quiet hours writes (the output's reason-word form, "word: detail").
const reasonQuietHours = "quiet_hours"

// playing is what a player has on its output.
type playing int

const (
	idle playing = iota
	normal
	alerting
)

// player plays one output of one held document. Its evaluator is shared
// with Fire (triggers), under mu.
type player struct {
	d    *Daemon
	doc  *protocol.DesiredState
	name string
	out  output.Output
	log  *slog.Logger
	wake chan struct{} // cap 1: a trigger was queued
	// quiet describes the output's quiet hours for the record;
	// quietNoted is the end of the stretch of quiet hours already
	// recorded, kept by the supervisor across documents so that a new
	// document in the night does not write a second record.
	quiet      string
	quietNoted *time.Time

	mu     sync.Mutex
	ev     *plan.Evaluator
	state  playing
	cancel context.CancelCauseFunc // the current play
}

// superviseOutputs runs one player per output the held document uses and
// replaces them all when the document changes. A new alert on an output
// interrupts its current play at once.
func (d *Daemon) superviseOutputs(ctx context.Context) {
	quietNoted := map[string]*time.Time{} // output → stretch recorded; each player touches only its own
	for {
		doc, changed := d.snapshot()
		now := d.clk.Now()
		var players []*player
		var wg sync.WaitGroup
		cancels := map[string]context.CancelCauseFunc{}
		for _, name := range scheduler.Outputs(doc, d.device, now) {
			out, err := d.output(name)
			if err != nil {
				d.log.Error("output unavailable", "output", name, "err", err)
				continue
			}
			var hours string
			var hoursLoc *time.Location
			if k, ok := out.(quietKeeper); ok {
				hours, hoursLoc = k.QuietHours()
			}
			ev, err := scheduler.ForQuiet(doc, name, hours, hoursLoc)
			if err != nil {
				// The document verified and validated, and the profile
				// at start-up; this is a bug.
				d.log.Error("cannot evaluate schedule", "output", name, "err", err)
				ev, _ = plan.New(nil, name, nil)
			}
			if quietNoted[name] == nil {
				quietNoted[name] = new(time.Time)
			}
			p := &player{d: d, doc: doc, name: name, out: out, ev: ev, wake: make(chan struct{}, 1),
				quiet: describeQuiet(doc, name, hours), quietNoted: quietNoted[name],
				log: d.log.With("output", name, "version", doc.Version)}
			pctx, cancel := context.WithCancelCause(ctx)
			cancels[name] = cancel
			players = append(players, p)
			wg.Go(func() { p.run(pctx) })
		}
		d.mu.Lock()
		d.players = players
		d.mu.Unlock()

		select {
		case <-ctx.Done():
		case <-changed:
		}
		next, _ := d.snapshot()
		for name, cancel := range cancels {
			if ctx.Err() != nil {
				cancel(nil)
			} else if newAlert(doc, next, d.device, name, d.clk.Now()) {
				cancel(errAlert)
			} else {
				cancel(errScheduleChanged)
			}
		}
		wg.Wait()
		d.mu.Lock()
		d.players = nil
		clear(d.current)
		d.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// newAlert reports whether next carries an active alert on output that
// old did not.
func newAlert(old, next *protocol.DesiredState, device, output string, now time.Time) bool {
	was := map[string]bool{}
	for _, a := range scheduler.Alerts(old, device, now) {
		was[a.ID] = true
	}
	for _, a := range scheduler.Alerts(next, device, now) {
		if !was[a.ID] && slices.Contains(a.Outputs, output) {
			return true
		}
	}
	return false
}

// Fire routes a local trigger to every output with an entry bound to it:
// the play is queued first in line, and a normal play on that output is
// interrupted so the triggered one starts at once. An alert playing is
// not interrupted. It reports whether anything is bound to name; it
// implements trigger.Firer.
func (d *Daemon) Fire(name string) bool {
	now := d.clk.Now()
	d.mu.Lock()
	players := slices.Clone(d.players)
	d.mu.Unlock()
	bound := false
	for _, p := range players {
		p.mu.Lock()
		ok := p.ev.Trigger(name, now)
		if ok && p.state == normal {
			p.cancel(errTriggered(name))
		}
		p.mu.Unlock()
		if ok {
			bound = true
			notify(p.wake)
			p.log.Info("trigger", "name", name)
		}
	}
	return bound
}

func (d *Daemon) output(kind string) (output.Output, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.outputs[kind]; ok {
		return o, nil
	}
	o, err := d.o.NewOutput(kind)
	if err != nil {
		return nil, err
	}
	d.outputs[kind] = o
	return o, nil
}

func (d *Daemon) setCurrent(out string, np *protocol.NowPlaying) {
	d.mu.Lock()
	old, had := d.current[out]
	var changed bool
	if np == nil {
		delete(d.current, out)
		changed = had
	} else {
		d.current[out] = *np
		changed = !had || old != *np
	}
	d.mu.Unlock()
	if changed {
		notify(d.statusDirty)
	}
}

// run plays the output until ctx ends: alerts first, then what the
// evaluator picks. Every play, including one cut short, becomes a proof
// record before the next one starts.
func (p *player) run(ctx context.Context) {
	d := p.d
	for ctx.Err() == nil {
		cached := d.cacheWatch()
		now := d.clk.Now()
		p.mu.Lock()
		quietEnd, quiet := p.ev.QuietUntil(now)
		p.mu.Unlock()
		var alertAt time.Time
		if !quiet {
			ad, next, ok := d.dueAlert(p.doc, p.name, now)
			if ok {
				p.playAlert(ctx, ad)
				continue
			}
			alertAt = next
		}
		synced := d.o.ClockSynced()
		p.mu.Lock()
		pick := p.ev.Next(plan.Env{Now: now, Synced: synced, Cached: d.cache.Has})
		misses := p.ev.Misses()
		p.mu.Unlock()
		for _, m := range misses {
			p.log.Warn("quota miss", "entry", m.EntryID, "detail", m.Detail)
			d.ack(protocol.Ack{Event: protocol.AckQuotaMiss, Version: p.doc.Version, Output: p.name,
				Entry: m.EntryID, Detail: m.Detail, At: m.At.UnixMilli()})
		}
		if pick.Item.SHA256 == "" {
			d.setCurrent(p.name, nil)
			if quiet && !quietEnd.Equal(*p.quietNoted) {
				*p.quietNoted = quietEnd
				p.recordQuiet(now, quietEnd, synced)
			}
			wait := pick.Wait
			if !alertAt.IsZero() {
				wait = min(wait, alertAt.Sub(now))
			}
			select {
			case <-ctx.Done():
				return
			case <-cached:
			case <-p.wake:
			case <-d.clk.After(wait):
			}
			continue
		}
		p.playPick(ctx, pick, alertAt, synced)
	}
}

// describeQuiet names where an output's quiet hours come from, for the
// record: the schedule's (the org's) and the firmware profile's.
func describeQuiet(doc *protocol.DesiredState, output, profileHours string) string {
	var parts []string
	if doc != nil && doc.Schedule != nil {
		for _, op := range doc.Schedule.Outputs {
			if op.Output != output {
				continue
			}
			for _, q := range op.Quiet {
				parts = append(parts, fmt.Sprintf("schedule %s %s-%s", q.Days, q.Start, q.End))
			}
		}
	}
	if profileHours != "" {
		parts = append(parts, "profile "+profileHours)
	}
	return strings.Join(parts, "; ")
}

// recordQuiet writes the one record of a stretch of quiet hours, when
// the player enters it: nothing is scheduled on the output until until.
// It is not a play (no media; start and end are the moment it was
// noted); the proof protocol's results are played and failed, so it is a
// failed result whose reason starts with reasonQuietHours.
func (p *player) recordQuiet(now, until time.Time, synced bool) {
	d := p.d
	p.log.Info("quiet hours", "until", until)
	r := protocol.ProofRecord{
		Device: d.device, Version: p.doc.Version, Output: p.name, Playlist: "quiet-hours",
		StartNS: now.UnixNano(), EndNS: now.UnixNano(),
		ClockSynced: synced && d.o.ClockSynced(), Result: protocol.ResultFailed,
		Reason: truncate(fmt.Sprintf("%s: skipped, nothing is scheduled on %s until %s (%s)", reasonQuietHours, p.name,
			until.UTC().Format(time.RFC3339), p.quiet), 500),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	got, err := d.outbox.Append(ctx, r)
	cancel()
	if err != nil {
		d.log.Error("quiet hours record not written", "output", p.name, "err", err)
		return
	}
	d.log.Debug("proof", "seq", got.Seq, "output", got.Output, "result", got.Result)
	notify(d.appended)
}

func proofPlaylist(pick plan.Pick) string {
	if pick.Safe {
		return "safe"
	}
	return pick.EntryID
}

// playPick plays one scheduled item. It is interrupted by a trigger, by
// an alert becoming due (alertAt), by a new document and by shutdown.
func (p *player) playPick(ctx context.Context, pick plan.Pick, alertAt time.Time, synced bool) {
	d := p.d
	if !d.provable(ctx, p.name, pick.Item) {
		return
	}
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.mu.Lock()
	p.state, p.cancel = normal, cancel
	p.mu.Unlock()
	stop := d.cancelAt(pctx, cancel, alertAt, errAlert)
	d.setCurrent(p.name, &protocol.NowPlaying{Output: p.name, SHA256: pick.Item.SHA256, Title: pick.Item.Title})
	res := d.playOn(pctx, p.out, pick.Item)
	stop()
	p.mu.Lock()
	p.state, p.cancel = idle, nil
	p.mu.Unlock()
	d.record(p.doc, p.name, proofPlaylist(pick), pick.Item, res, synced)
	if res.Played {
		p.mu.Lock()
		p.ev.Played(pick, res.Start, res.End)
		p.mu.Unlock()
		return
	}
	if context.Cause(pctx) != nil {
		return // interrupted: whatever interrupted it plays next
	}
	// A failed play still takes its slot, so a broken output does not
	// spin out proof records.
	if rest := time.Duration(pick.Item.DurationMS)*time.Millisecond - res.Mono; rest > 0 {
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-d.clk.After(rest):
		}
	}
}

// playAlert plays one alert item; it stops by itself when the alert
// expires.
func (p *player) playAlert(ctx context.Context, ad alertDue) {
	d := p.d
	if !d.provable(ctx, p.name, ad.item) {
		return
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.mu.Lock()
	p.state, p.cancel = alerting, cancel
	p.mu.Unlock()
	stop := d.cancelAt(actx, cancel, time.Unix(ad.alert.ExpiresAt, 0), errAlertExpired)
	d.setCurrent(p.name, &protocol.NowPlaying{Output: p.name, SHA256: ad.item.SHA256, Title: "alert:" + ad.alert.ID})
	p.log.Info("alert", "alert", ad.alert.ID, "sha256", ad.item.SHA256)
	res := d.playOn(actx, p.out, ad.item)
	stop()
	p.mu.Lock()
	p.state, p.cancel = idle, nil
	p.mu.Unlock()
	synced := d.o.ClockSynced()
	d.record(p.doc, p.name, "alert:"+ad.alert.ID, ad.item, res, synced)
	cause := context.Cause(actx)
	if !res.Played && cause != nil && !errors.Is(cause, errAlertExpired) {
		return // interrupted by a new document or shutdown: due again
	}
	if d.alertPlayed(p.name, ad, res.Played, res.Start, res.End) {
		d.ack(protocol.Ack{Event: protocol.AckFirstPlay, Version: p.doc.Version, Alert: ad.alert.ID, Output: p.name})
	}
}

// cancelAt cancels a play with cause at time at (zero: never). The
// returned stop waits for the watcher to finish.
func (d *Daemon) cancelAt(ctx context.Context, cancel context.CancelCauseFunc, at time.Time, cause error) (stop func()) {
	if at.IsZero() {
		return func() {}
	}
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-d.clk.After(at.Sub(d.clk.Now())):
			cancel(cause)
		case <-ctx.Done():
		case <-quit:
		}
	}()
	return func() { close(quit); <-done }
}

// playOn plays it on out and normalises the result: an error becomes a
// failed play, and a play cut short says why.
func (d *Daemon) playOn(ctx context.Context, out output.Output, it protocol.Item) output.Result {
	res, err := out.Play(ctx, it, d.cache.Path(it.SHA256))
	if err != nil {
		now := d.clk.Now()
		if res.Start.IsZero() {
			res.Start = now
		}
		res.End, res.Played, res.Reason = now, false, err.Error()
	}
	if !res.Played && ctx.Err() != nil {
		res.Reason = "interrupted: agent stopping"
		var why interrupt
		if errors.As(context.Cause(ctx), &why) {
			res.Reason = string(why)
		}
	}
	if !res.Played && res.Reason == "" {
		res.Reason = "not played"
	}
	return res
}

// record appends the proof of one play to the outbox. It does not take the
// player's context: a play cut short by shutdown is still evidence.
func (d *Daemon) record(doc *protocol.DesiredState, out, playlist string, it protocol.Item, res output.Result, synced bool) {
	r := protocol.ProofRecord{
		Device:      d.device,
		Version:     doc.Version,
		Output:      out,
		Playlist:    truncate(playlist, 200),
		MediaSHA256: it.SHA256,
		StartNS:     res.Start.UnixNano(),
		EndNS:       res.End.UnixNano(),
		MonoNS:      int64(res.Mono),
		ClockSynced: synced && d.o.ClockSynced(),
		Result:      protocol.ResultPlayed,
	}
	if r.EndNS < r.StartNS {
		// The wall clock stepped back during the play. Keep the start, and
		// let MonoNS carry the true duration.
		r.EndNS = r.StartNS
		r.ClockSynced = false
	}
	if r.MonoNS < 0 {
		r.MonoNS = 0
	}
	// A played result may carry a note ("truncated: …", "unconfirmed: the
	// printer cannot report status"); it goes into the proof too, so an
	// auditor can tell a confirmed play from one the hardware could not vouch for.
	r.Reason = truncate(res.Reason, 500)
	if !res.Played {
		r.Result = protocol.ResultFailed
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var got protocol.ProofRecord
		got, err = d.outbox.Append(ctx, r)
		cancel()
		if err == nil {
			d.log.Debug("proof", "seq", got.Seq, "output", got.Output, "result", got.Result)
			notify(d.appended)
			return
		}
	}
	d.log.Error("PROOF NOT RECORDED", "output", r.Output, "media", r.MediaSHA256, "start_ns", r.StartNS, "err", err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
