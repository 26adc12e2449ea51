package plan

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestProfileQuiet(t *testing.T) {
	tests := []struct {
		hours   string
		want    []protocol.Daypart
		wantErr bool
	}{
		{"", nil, false},
		{"22:00-07:00", []protocol.Daypart{dp("daily", "22:00", "07:00")}, false},
		{"9:05 - 12:30", []protocol.Daypart{dp("daily", "09:05", "12:30")}, false},
		{"22:00", nil, true},
		{"07:00-07:00", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.hours, func(t *testing.T) {
			got, err := ProfileQuiet(tt.hours)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

// TestQuietUnion: the schedule's quiet hours and the device's own are
// one union; a stretch of windows that touch or overlap ends with the
// last of them.
func TestQuietUnion(t *testing.T) {
	const zone = "Asia/Shanghai"
	type check struct {
		at    string
		until string // "" not quiet
	}
	tests := []struct {
		name     string
		schedule []protocol.Daypart
		device   string // profile form
		devZone  string // "" the schedule's
		checks   []check
	}{
		{
			name:   "profile only, the shipped 22:00-07:00",
			device: "22:00-07:00",
			checks: []check{
				{"2026-12-04 21:59:59", ""},
				{"2026-12-04 22:00", "2026-12-05 07:00"},
				{"2026-12-05 06:59:59", "2026-12-05 07:00"},
				{"2026-12-05 07:00", ""},
			},
		},
		{
			name:     "schedule only",
			schedule: []protocol.Daypart{dp("mon-fri", "12:00", "13:00")},
			checks: []check{
				{"2026-12-04 12:30", "2026-12-04 13:00"}, // Friday
				{"2026-12-05 12:30", ""},                 // Saturday
			},
		},
		{
			name:     "overlapping windows are one stretch",
			schedule: []protocol.Daypart{dp("daily", "23:00", "06:00")},
			device:   "22:00-07:00",
			checks: []check{
				{"2026-12-04 22:30", "2026-12-05 07:00"},
				{"2026-12-05 05:00", "2026-12-05 07:00"},
			},
		},
		{
			name:     "touching windows chain: 21:00-23:00 then 23:00-07:00",
			schedule: []protocol.Daypart{dp("daily", "21:00", "23:00")},
			device:   "23:00-07:00",
			checks: []check{
				{"2026-12-04 20:59", ""},
				{"2026-12-04 21:00", "2026-12-05 07:00"},
				{"2026-12-05 02:00", "2026-12-05 07:00"},
			},
		},
		{
			name:     "disjoint windows stay apart",
			schedule: []protocol.Daypart{dp("daily", "12:00", "13:00")},
			device:   "22:00-07:00",
			checks: []check{
				{"2026-12-04 12:00", "2026-12-04 13:00"},
				{"2026-12-04 13:00", ""},
				{"2026-12-04 23:00", "2026-12-05 07:00"},
			},
		},
		{
			name:    "the driver keeps its hours in its own zone (UTC on a Pi left at UTC)",
			device:  "22:00-07:00", // 06:00-15:00 in Shanghai
			devZone: "UTC",
			checks: []check{
				{"2026-12-04 05:59", ""},
				{"2026-12-04 06:00", "2026-12-04 15:00"},
				{"2026-12-04 22:30", ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &protocol.Schedule{TZ: zone, Outputs: []protocol.OutputPlan{{Output: "audio", Quiet: tt.schedule,
				Entries: []protocol.Entry{{ID: "atm/voice", Items: []protocol.EntryItem{ei("v", 30_000)}}}}}}
			dq, err := ProfileQuiet(tt.device)
			if err != nil {
				t.Fatal(err)
			}
			o := Options{Quiet: dq}
			if tt.devZone != "" {
				o.QuietLoc = loc(t, tt.devZone)
			}
			ev, err := NewWith(s, "audio", nil, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.checks {
				now := at(t, zone, c.at)
				until, quiet := ev.QuietUntil(now)
				if want := c.until != ""; quiet != want || (want && !until.Equal(at(t, zone, c.until))) {
					t.Errorf("QuietUntil(%s) = %s, %v; want %q", c.at, until.In(loc(t, zone)), quiet, c.until)
				}
				p := ev.Next(Env{Now: now, Synced: true})
				if quiet && (p.Item.SHA256 != "" || p.Wait != min(until.Sub(now), MaxWait)) {
					t.Errorf("Next at %s in quiet hours: %+v", c.at, p)
				}
				if !quiet && p.Item.SHA256 == "" {
					t.Errorf("Next at %s out of quiet hours: nothing", c.at)
				}
			}
		})
	}
}

// TestPreviewWithProfileQuiet: a night of the ATM speaker with the
// shipped profile's quiet hours and none in the schedule plays nothing
// from 22:00 to 07:00, and a share entry's accounting leaves the quiet
// time out, as it does for the schedule's own.
func TestPreviewWithProfileQuiet(t *testing.T) {
	const zone = "Asia/Shanghai"
	s := &protocol.Schedule{TZ: zone, Outputs: []protocol.OutputPlan{{Output: "audio", Entries: []protocol.Entry{
		{ID: "loop", Priority: 5, Items: []protocol.EntryItem{ei("l", 30_000)}},
		{ID: "hotline", MinShare: 0.25, Items: []protocol.EntryItem{ei("h", 15_000)}},
	}}}}
	dq, _ := ProfileQuiet("22:00-07:00")
	from, to := at(t, zone, "2026-12-04 20:00"), at(t, zone, "2026-12-05 09:00")
	plays, misses, err := PreviewWith(s, "audio", nil, Options{Quiet: dq}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(misses) != 0 {
		t.Fatalf("misses %+v", misses)
	}
	night, morning := at(t, zone, "2026-12-04 22:00"), at(t, zone, "2026-12-05 07:00")
	var hot, all time.Duration
	for _, p := range plays {
		if p.End.After(night) && p.Start.Before(morning) {
			t.Fatalf("%s plays %s–%s, in the profile's quiet hours", p.EntryID, p.Start.In(loc(t, zone)), p.End.In(loc(t, zone)))
		}
		if p.EntryID == "hotline" {
			hot += p.End.Sub(p.Start)
		}
		all += p.End.Sub(p.Start)
	}
	if first := plays[0].Start; !first.Equal(from) {
		t.Fatalf("first play at %s", first)
	}
	if after := plays[len(plays)-1]; after.Start.Before(morning) {
		t.Fatalf("nothing after quiet hours: last %+v", after)
	}
	if all != 4*time.Hour {
		t.Fatalf("played %s, want the 4 hours out of quiet", all)
	}
	if share := float64(hot) / float64(all); share < 0.24 || share > 0.27 {
		t.Fatalf("hotline share %.3f of the time out of quiet hours", share)
	}
	// Without the device's hours, the schedule alone plays all night.
	plays, _, _ = Preview(s, "audio", nil, from, to)
	if n := len(plays); n < 13*60*2 {
		t.Fatalf("%d plays without quiet hours", n)
	}
}
