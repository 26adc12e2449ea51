package cli

import (
	"strings"
	"testing"
)

// TestSchedulePreview: a shop in Berlin (summer time since Sunday) with
// an ad loop (priority 5) and the town's hotline (at least 20% of the
// screen), and on the speaker background music (priority 3) against a
// voice prompt due at least once a minute from 09:00. The expectation was
// worked out by hand from the rules in docs/scheduling.md:
//
//   - LED: the hotline's share window opens at the preview's start with
//     nothing played, so it goes first; after that it is owed again only
//     when 10 s more would leave it under 20% of the elapsed time — every
//     fifth slot.
//   - Audio: music until the voice window opens at 09:00; the prompt is
//     due when another 20 s of music would end after its deadline (window
//     start or last prompt + 1 min): at 09:00:50, then not before 09:01:30.
func TestSchedulePreview(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"org", "add", "--id", "town", "--kind", "town", "--name", "Town", "--tz", "Europe/Berlin"},
		{"org", "add", "--id", "shop", "--kind", "site", "--name", "Shop", "--parent", "town"},
		{"media", "add", sample("hotline-zh.txt"), sample("hotline-en.txt"), sample("atm-voice-zh.wav"), sample("atm-voice-zh.mp3")},
		{"device", "add", "--id", "kiosk", "--profile", "virtual", "--node", "shop", "--tag", "lobby"},
		{"playlist", "create", "ads", "--output", "led", "--item", "hotline-en.txt:10"},
		{"playlist", "create", "hot", "--output", "led", "--item", "hotline-zh.txt:10"},
		{"playlist", "create", "voice", "--output", "audio", "--item", "atm-voice-zh.wav:10"},
		{"playlist", "create", "music", "--output", "audio", "--item", "atm-voice-zh.mp3:20"},
		{"@approve"},
		{"campaign", "create", "ads", "--target", "node:shop", "--output", "led", "--playlist", "ads", "--priority", "5"},
		{"campaign", "create", "hotline", "--target", "node:town", "--output", "led", "--playlist", "hot", "--priority", "1", "--min-share", "0.2"},
		{"campaign", "create", "music", "--target", "tag:lobby", "--output", "audio", "--playlist", "music", "--priority", "3"},
		{"campaign", "create", "voice", "--target", "device:kiosk", "--output", "audio", "--playlist", "voice",
			"--daypart", "daily,09:00-10:00", "--min-every", "1m"},
		{"@approve"},
	} {
		if code, out, errs := run(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	code, out, errs := run(t, dir, "schedule", "preview", "--device", "kiosk", "--from", "2026-03-30T08:59:30+02:00", "--to", "2026-03-30T09:01:30+02:00")
	if code != 0 {
		t.Fatalf("preview: exit %d\n%s", code, errs)
	}
	want := `kiosk, document version 1, time zone Europe/Berlin: 2026-03-30 08:59:30 .. 2026-03-30 09:01:30
TIME                 OUTPUT  TITLE         SHA256        ENTRY        DURATION
2026-03-30 08:59:30  audio   atm-voice-zh  70da4acf2dc6  music/music  20s
2026-03-30 08:59:30  led     hotline-zh    83ae357952a3  hotline/hot  10s
2026-03-30 08:59:40  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 08:59:50  audio   atm-voice-zh  70da4acf2dc6  music/music  20s
2026-03-30 08:59:50  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:00:00  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:00:10  audio   atm-voice-zh  70da4acf2dc6  music/music  20s
2026-03-30 09:00:10  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:00:20  led     hotline-zh    83ae357952a3  hotline/hot  10s
2026-03-30 09:00:30  audio   atm-voice-zh  70da4acf2dc6  music/music  20s
2026-03-30 09:00:30  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:00:40  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:00:50  audio   atm-voice-zh  8dfc99c3c5c4  voice/voice  10s
2026-03-30 09:00:50  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:01:00  audio   atm-voice-zh  70da4acf2dc6  music/music  20s
2026-03-30 09:01:00  led     hotline-en    25afa7ad34c6  ads/ads      10s
2026-03-30 09:01:10  led     hotline-zh    83ae357952a3  hotline/hot  10s
2026-03-30 09:01:20  audio   atm-voice-zh  70da4acf2dc6  music/music  20s
2026-03-30 09:01:20  led     hotline-en    25afa7ad34c6  ads/ads      10s
19 plays, 0 quota misses
`
	if out != want {
		t.Errorf("preview output:\n%s\nwant:\n%s", out, want)
	}
	// The same from the site's local time, one output.
	code, out, _ = run(t, dir, "schedule", "preview", "--device", "kiosk", "--from", "2026-03-30T09:00", "--to", "2026-03-30T09:01", "--output", "audio")
	if code != 0 || !strings.Contains(out, "2026-03-30 09:00:00  audio") || strings.Contains(out, " led ") {
		t.Errorf("local-time preview of audio:\n%s", out)
	}
}
