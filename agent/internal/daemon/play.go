package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/scheduler"
	"github.com/guardcast/guardcast/internal/protocol"
)

// superviseOutputs runs one player per playlist of the held document and
// restarts them all when the document changes.
func (d *Daemon) superviseOutputs(ctx context.Context) {
	for {
		doc, changed := d.snapshot()
		pctx, cancel := context.WithCancelCause(ctx)
		done := make(chan struct{})
		n := 0
		if doc != nil {
			for _, pl := range doc.Playlists {
				out, err := d.output(pl.Output)
				if err != nil {
					d.log.Error("output unavailable", "output", pl.Output, "err", err)
					continue
				}
				n++
				go func() {
					defer func() { done <- struct{}{} }()
					d.play(pctx, doc, pl, out)
				}()
			}
		}
		select {
		case <-ctx.Done():
			cancel(nil)
		case <-changed:
			cancel(errScheduleChanged)
		}
		for range n {
			<-done
		}
		d.mu.Lock()
		clear(d.current)
		d.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
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

func (d *Daemon) setCurrent(out string, p *scheduler.Pick) {
	d.mu.Lock()
	old, had := d.current[out]
	var changed bool
	if p == nil {
		delete(d.current, out)
		changed = had
	} else {
		np := protocol.NowPlaying{Output: out, SHA256: p.Item.SHA256, Title: p.Item.Title}
		d.current[out] = np
		changed = !had || old != np
	}
	d.mu.Unlock()
	if changed {
		notify(d.statusDirty)
	}
}

// play loops pl on out until ctx ends. Every play, including one cut
// short, becomes a proof record before the next one starts.
func (d *Daemon) play(ctx context.Context, doc *protocol.DesiredState, pl protocol.Playlist, out output.Output) {
	log := d.log.With("output", pl.Output, "playlist", pl.Name, "version", doc.Version)
	pos := -1
	for ctx.Err() == nil {
		cached := d.cacheWatch()
		pick, ok := scheduler.NextOn(pl, d.cache.Has, pos)
		if !ok {
			d.setCurrent(pl.Output, nil)
			log.Debug("nothing cached to play yet")
			select {
			case <-ctx.Done():
				return
			case <-cached:
				continue
			}
		}
		d.setCurrent(pl.Output, &pick)
		res, err := out.Play(ctx, pick.Item, d.cache.Path(pick.Item.SHA256))
		if err != nil {
			now := d.clk.Now()
			if res.Start.IsZero() {
				res.Start = now
			}
			res.End, res.Played, res.Reason = now, false, err.Error()
		}
		if !res.Played && ctx.Err() != nil {
			res.Reason = "interrupted: agent stopping"
			if errors.Is(context.Cause(ctx), errScheduleChanged) {
				res.Reason = "interrupted: schedule changed"
			}
		}
		if !res.Played && res.Reason == "" {
			res.Reason = "not played"
		}
		d.record(doc, pick, res)
		pos = pick.Index
		if !res.Played {
			// A failed play still takes its slot, so a broken output does
			// not spin out proof records.
			rest := time.Duration(pick.Item.DurationMS)*time.Millisecond - res.Mono
			if rest > 0 {
				select {
				case <-ctx.Done():
					return
				case <-d.clk.After(rest):
				}
			}
		}
	}
}

var errScheduleChanged = errors.New("schedule changed")

// record appends the proof of one play to the outbox. It does not take the
// player's context: a play cut short by shutdown is still evidence.
func (d *Daemon) record(doc *protocol.DesiredState, p scheduler.Pick, res output.Result) {
	r := protocol.ProofRecord{
		Device:      d.device,
		Version:     doc.Version,
		Output:      p.Output,
		Playlist:    p.Playlist,
		MediaSHA256: p.Item.SHA256,
		StartNS:     res.Start.UnixNano(),
		EndNS:       res.End.UnixNano(),
		MonoNS:      int64(res.Mono),
		ClockSynced: d.o.ClockSynced(),
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
	if !res.Played {
		r.Result = protocol.ResultFailed
		r.Reason = truncate(res.Reason, 500)
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
