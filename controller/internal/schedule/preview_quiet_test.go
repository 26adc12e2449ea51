package schedule

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/plan"
)

// TestPreviewKeepsProfileQuietHours: the preview of a device whose
// recorded audio profile is the shipped ATM speaker (quiet_hours
// 22:00-07:00) plays nothing on the speaker then, exactly as the agent's
// evaluator given those hours; a profile the controller does not know is
// named as such, and the org's quiet hours are named too.
func TestPreviewKeepsProfileQuietHours(t *testing.T) {
	tests := []struct {
		name      string
		device    string
		profile   string // recorded for audio; "" leaves what the fixture has
		wantQuiet bool   // the night is silent
		wantNote  []string
	}{
		{name: "shipped ATM speaker, no org quiet hours", device: "loose-atm", profile: "atm-speaker-alsa",
			wantQuiet: true, wantNote: []string{"audio: quiet hours kept: profile atm-speaker-alsa's daily 22:00-07:00"}},
		{name: "a site's own profile", device: "loose-atm", profile: "site-speaker",
			wantNote: []string{"not profile site-speaker's (not a built-in profile"}},
		{name: "the org's quiet hours, no profile recorded", device: "atm-1",
			wantQuiet: true, wantNote: []string{"the org's daily 22:00-07:00", "not the device's profile's (none recorded)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bank(t)
			ctx := context.Background()
			c, err := CampaignRequest{Name: "all-night", Targets: []string{"device:" + tt.device}, Output: "audio", Playlists: []string{"voice"}}.Campaign()
			if err != nil {
				t.Fatal(err)
			}
			if err := f.st.CreateCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
			if tt.profile != "" {
				if err := f.st.SetDeviceOutputs(ctx, tt.device, map[string]string{"audio": tt.profile}); err != nil {
					t.Fatal(err)
				}
			}
			ds, err := f.comp.Desired(ctx, tt.device)
			if err != nil {
				t.Fatal(err)
			}
			loc, err := time.LoadLocation(ds.Schedule.TZ)
			if err != nil {
				t.Fatal(err)
			}
			from := time.Date(2026, 12, 4, 20, 0, 0, 0, loc)
			to := from.Add(13 * time.Hour)
			night, morning := time.Date(2026, 12, 4, 22, 0, 0, 0, loc), time.Date(2026, 12, 5, 7, 0, 0, 0, loc)
			res, err := Preview(ctx, f.comp, tt.device, "audio", from, to)
			if err != nil {
				t.Fatal(err)
			}
			// The CLI's path, from a compiled document and the recorded outputs.
			outs, err := f.st.DeviceOutputs(ctx, tt.device)
			if err != nil {
				t.Fatal(err)
			}
			res2, err := PreviewStateOutputs(ds, "audio", from, to, true, outs)
			if err != nil {
				t.Fatal(err)
			}
			if res2.PlayCount != res.PlayCount || strings.Join(res2.Quiet, "") != strings.Join(res.Quiet, "") {
				t.Fatalf("PreviewStateOutputs: %d plays %q; Preview: %d plays %q", res2.PlayCount, res2.Quiet, res.PlayCount, res.Quiet)
			}
			notes := strings.Join(res.Quiet, "\n")
			for _, w := range tt.wantNote {
				if !strings.Contains(notes, w) {
					t.Errorf("quiet notes %q, want %q", notes, w)
				}
			}
			inNight := 0
			for _, p := range res.Plays {
				if p.End.After(night) && p.Start.Before(morning) {
					inNight++
				}
			}
			if tt.wantQuiet != (inNight <= 1) { // the clip started before 22:00 may run into it
				t.Fatalf("%d plays between 22:00 and 07:00 (want silent %v)", inNight, tt.wantQuiet)
			}
			// Play for play what the agent's evaluator does with the same
			// hours (as far as the preview lists them).
			var po plan.Options
			if tt.profile == "atm-speaker-alsa" {
				po.Quiet, _ = plan.ProfileQuiet("22:00-07:00")
			}
			want, _, err := plan.PreviewWith(ds.Schedule, "audio", ds.Playlists, po, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != res.PlayCount || len(res.Plays) > len(want) {
				t.Fatalf("%d plays (%d listed), the evaluator %d", res.PlayCount, len(res.Plays), len(want))
			}
			for i, p := range res.Plays {
				if !p.Start.Equal(want[i].Start) || p.SHA256 != want[i].Item.SHA256 {
					t.Fatalf("play %d: %+v, the evaluator %+v", i, p, want[i])
				}
			}
		})
	}
}
