package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/virtual"
	"github.com/guardcast/guardcast/agent/internal/proof"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/profile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// atmSpeaker is the audio driver's quiet-hours behaviour on a virtual
// output: during its profile's quiet hours every play fails at once
// ("quiet hours 22:00-07:00"), as audio.Dev does.
type atmSpeaker struct {
	*virtual.Output
	hours string
	q     profile.QuietHours
	loc   *time.Location
	clk   clock.Clock

	mu      sync.Mutex
	refused int
}

func (s *atmSpeaker) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	now := s.clk.Now()
	if s.hours != "" && s.q.Contains(now.In(s.loc)) {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		return output.Result{Start: now, End: now, Reason: "quiet hours " + s.hours}, nil
	}
	return s.Output.Play(ctx, it, path)
}

// keeping is an atmSpeaker that tells the player its quiet hours.
type keeping struct{ *atmSpeaker }

var _ quietKeeper = keeping{}

func (k keeping) QuietHours() (string, *time.Location) { return k.hours, k.loc }

// TestQuietHoursNight runs the real daemon on a stepped fake clock
// through a night on an ATM speaker with the shipped profile's quiet
// hours (22:00-07:00) and clips the length the field tester's were (9
// hours of quiet wrote about 5,600 failed proofs). The player agrees play
// for play with the preview given the same quiet hours, and the night
// writes exactly one record, "quiet_hours", whichever side the quiet
// hours come from.
func TestQuietHoursNight(t *testing.T) {
	const shipped = "22:00-07:00"
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		schedule []protocol.Daypart // the org's, in the document
		profile  string             // the speaker's
		keeps    bool               // the speaker tells the player its hours
		from, to string             // the one quiet stretch of the night
		// wantRecords is the records the quiet stretch writes; -1 only
		// measures (the speaker refusing plays nobody told the
		// evaluator about).
		wantRecords int
		// newDocAt delivers a new version of the document in the night
		// (the players restart): still one record.
		newDocAt string
	}{
		{name: "profile hours, known to the evaluator", profile: shipped, keeps: true, from: "2026-12-04 22:00:00", to: "2026-12-05 07:00:00", wantRecords: 1},
		{name: "profile hours, a new document at 01:00", profile: shipped, keeps: true, from: "2026-12-04 22:00:00", to: "2026-12-05 07:00:00", wantRecords: 1,
			newDocAt: "2026-12-05 01:00:00"},
		{name: "the org's hours in the schedule", schedule: []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}}, from: "2026-12-04 22:00:00", to: "2026-12-05 07:00:00", wantRecords: 1},
		{name: "both, touching: one stretch 21:00-07:00", schedule: []protocol.Daypart{{Days: "daily", Start: "21:00", End: "23:00"}}, profile: "23:00-07:00", keeps: true,
			from: "2026-12-04 21:00:00", to: "2026-12-05 07:00:00", wantRecords: 1},
		{name: "before: profile hours the evaluator does not know", profile: shipped, from: "2026-12-04 22:00:00", to: "2026-12-05 07:00:00", wantRecords: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantRecords < 0 && testing.Short() {
				t.Skip("a measurement of 5,600 steps")
			}
			e := newEnv(t)
			from, to := shanghai(t, "2026-12-04 20:30:00"), shanghai(t, "2026-12-05 07:30:00")
			clk := &stepClock{Fake: clock.NewFake(from)}
			e.clk = clk.Fake
			voice := e.mediaItem("atm-voice", "audio", 5_800)
			e.cacheItems(voice)
			doc := protocol.DesiredState{Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
				Output: "audio", Quiet: tt.schedule,
				Entries: []protocol.Entry{{ID: "police/atm", Items: []protocol.EntryItem{{Item: voice}}}},
			}}}}
			e.holdDoc(e.signDoc(doc))

			spk := &atmSpeaker{Output: virtual.New("audio", clk, nil), hours: tt.profile, loc: sh, clk: clk}
			if tt.profile != "" {
				if spk.q, err = profile.ParseQuietHours(tt.profile); err != nil {
					t.Fatal(err)
				}
			}
			r := e.startWith(func(o *Options) {
				e.offline(o)
				o.Clock = clk
				o.NewOutput = func(kind string) (output.Output, error) {
					if tt.keeps {
						return keeping{spk}, nil
					}
					return spk, nil
				}
			})
			waiters := 2 // the speaker's player, the status timer
			var stale time.Time
			for {
				if tt.newDocAt != "" && stale.IsZero() && !clk.Now().Before(shanghai(t, tt.newDocAt)) {
					stale = newDoc(t, e, r, clk, doc)
				}
				w := waiters
				if clk.Now().Before(stale) {
					w++ // the old player's last timer is pending until it fires
				}
				if !clk.step(t, w, to) {
					break
				}
			}
			r.stop(t)

			ob, err := proof.Open(filepath.Join(e.state, OutboxFile), dev)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := ob.Pending(context.Background(), 0, 100_000)
			ob.Close()
			if err != nil {
				t.Fatal(err)
			}
			qFrom, qTo := shanghai(t, tt.from), shanghai(t, tt.to)
			var night []protocol.ProofRecord
			for _, rec := range recs {
				if at := time.Unix(0, rec.StartNS); !at.Before(qFrom) && at.Before(qTo) {
					night = append(night, rec)
				}
			}
			if tt.wantRecords < 0 {
				t.Logf("before: %d records in the 9 quiet hours, %d of them refused plays (%.1f-second clip)",
					len(night), spk.refused, float64(voice.DurationMS)/1000)
				if spk.refused < 5000 {
					t.Fatalf("the flood did not happen: %d refused", spk.refused)
				}
				return
			}
			if len(night) != tt.wantRecords {
				t.Fatalf("%d records in quiet hours, want %d: %+v", len(night), tt.wantRecords, night[:min(len(night), 3)])
			}
			q := night[0]
			if q.Playlist != "quiet-hours" || q.Result != protocol.ResultFailed || q.MediaSHA256 != "" ||
				!strings.HasPrefix(q.Reason, reasonQuietHours+": skipped") || !strings.Contains(q.Reason, qTo.UTC().Format(time.RFC3339)) ||
				time.Unix(0, q.StartNS).After(qFrom.Add(time.Duration(voice.DurationMS)*time.Millisecond)) {
				// Written when the player enters the stretch: after the
				// clip that started before it ends.
				t.Fatalf("quiet record %+v", q)
			}
			if spk.refused != 0 {
				t.Fatalf("the speaker refused %d plays", spk.refused)
			}
			t.Logf("%d records in the quiet stretch: %s", len(night), q.Reason)

			// Play for play, what the preview says, given the same hours.
			dq, err := plan.ProfileQuiet(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			ps, _, err := plan.PreviewWith(doc.Schedule, "audio", nil, plan.Options{Quiet: dq, QuietLoc: sh}, from, to)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []play
			for _, p := range ps {
				want = append(want, play{"audio", p.Item.SHA256, p.Start})
			}
			for _, h := range spk.History() {
				if h.Result.Start.Before(to) {
					got = append(got, play{"audio", h.Item.SHA256, h.Result.Start})
				}
			}
			if len(want) < 600 {
				t.Fatalf("only %d plays previewed", len(want))
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("daemon and preview disagree (-preview +daemon):\n%s", d)
			}
			if played := len(recs) - len(night); played != len(got) {
				t.Fatalf("%d play records for %d plays", played, len(got))
			}
		})
	}
}

// newDoc delivers version 2 of doc once the players are parked, and
// returns the deadline of the timer the old player leaves pending.
func newDoc(t *testing.T, e *env, r *running, clk *stepClock, doc protocol.DesiredState) time.Time {
	t.Helper()
	timeout := make(chan struct{})
	tm := time.AfterFunc(20*time.Second, func() { close(timeout) })
	defer tm.Stop()
	if !clk.BlockUntil(timeout, 2) {
		t.Fatal("players not parked")
	}
	now := clk.Now()
	var stale time.Time
	clk.mu.Lock()
	for _, d := range clk.deadlines {
		if d.After(now) && d.Before(now.Add(24*time.Hour)) && d.After(stale) { // not the status timer
			stale = d
		}
	}
	clk.mu.Unlock()
	if stale.IsZero() {
		t.Fatal("no player timer pending")
	}
	doc.Version = 2
	r.d.onDesired(e.signDoc(doc))
	if v := r.d.HeldVersion(); v != 2 {
		t.Fatalf("held version %d", v)
	}
	return stale
}
