package cli

import (
	"strings"
	"testing"
)

// TestOrgCampaignAlertCommands: every new command's success and refusal
// paths, in the order an office would use them. No controller runs, so
// alert push writes the database directly.
func TestOrgCampaignAlertCommands(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		outHas string
		errHas string
	}{
		{"town", []string{"org", "add", "--id", "town", "--kind", "town", "--name", "Town", "--tz", "Asia/Shanghai", "--quiet", "daily,22:00-07:00"}, 0, "time zone Asia/Shanghai", ""},
		{"bad zone", []string{"org", "add", "--id", "x", "--kind", "town", "--name", "X", "--tz", "Mars/Base"}, 1, "", "time zone"},
		{"bad kind", []string{"org", "add", "--id", "x", "--kind", "hamlet", "--name", "X"}, 1, "", "kind"},
		{"missing name", []string{"org", "add", "--id", "x", "--kind", "town"}, 2, "", "required"},
		{"bank", []string{"org", "add", "--id", "bank", "--kind", "unit", "--name", "Bank", "--parent", "town"}, 0, "under town", ""},
		{"branch", []string{"org", "add", "--id", "branch-1", "--kind", "site", "--name", "Branch 1", "--parent", "bank"}, 0, "Asia/Shanghai", ""},
		{"site under site", []string{"org", "add", "--id", "kiosk", "--kind", "site", "--name", "K", "--parent", "branch-1"}, 1, "", "cannot sit under"},
		{"hotel", []string{"org", "add", "--id", "hotel", "--kind", "site", "--name", "Hotel", "--parent", "town", "--tz", "Europe/Berlin"}, 0, "Europe/Berlin", ""},
		{"edit nothing", []string{"org", "edit", "--id", "hotel"}, 2, "", "nothing to change"},
		{"edit quiet off", []string{"org", "edit", "--id", "hotel", "--quiet", "none"}, 0, "changed", ""},
		{"edit zone away", []string{"org", "edit", "--id", "town", "--tz", ""}, 1, "", "no time zone"},
		{"person", []string{"org", "person", "add", "--node", "bank", "--role", "first_responsible", "--name", "Wang Fang", "--phone", "138 0000 0001"}, 0, "responsible for bank", ""},
		{"person bad role", []string{"org", "person", "add", "--node", "bank", "--role", "boss", "--name", "X", "--phone", "1"}, 1, "", "role"},
		{"media", []string{"media", "add", sample("hotline-zh.txt"), sample("atm-voice-zh.wav")}, 0, "hotline-zh.txt", ""},
		{"device on site", []string{"device", "add", "--id", "atm-1", "--profile", "virtual", "--node", "branch-1", "--tag", "atm"}, 0, "Branch 1", ""},
		{"device on unit", []string{"device", "add", "--id", "atm-2", "--profile", "virtual", "--node", "bank"}, 1, "", "not a site"},
		{"device named like a node", []string{"device", "add", "--id", "bank", "--profile", "virtual"}, 1, "", "already"},
		{"loose device", []string{"device", "add", "--id", "door-1", "--profile", "virtual"}, 0, "enrolled door-1", ""},
		{"move", []string{"device", "move", "--id", "door-1", "--to", "branch-1"}, 0, "belongs to site branch-1", ""},
		{"move to unit", []string{"device", "move", "--id", "door-1", "--to", "bank"}, 1, "", "not a site"},
		{"tag", []string{"device", "tag", "--id", "door-1", "--add", "doorway", "--add", "lobby", "--remove", "lobby"}, 0, "tags: doorway", ""},
		{"tag bad", []string{"device", "tag", "--id", "door-1", "--add", "Door Way"}, 1, "", "tag"},
		{"dated item", []string{"playlist", "create", "hot", "--output", "led", "--item", "hotline-zh.txt:8", "--item", "hotline-zh.txt:8@2026-12-01..2026-12-25"}, 0, "2 items", ""},
		{"bad validity", []string{"playlist", "create", "hot2", "--output", "led", "--item", "hotline-zh.txt:8@2026-12-25..2026-12-01"}, 2, "", "not after"},
		{"voice", []string{"playlist", "create", "voice", "--output", "audio", "--item", "atm-voice-zh.wav"}, 0, "1 items", ""},
		{"playlists pending", []string{"campaign", "create", "x", "--target", "node:bank", "--output", "led", "--playlist", "hot"}, 1, "", "not approved yet"},
		{"approve playlists", []string{"@approve"}, 0, "change 2 approved (playlist.create by local-admin)", ""},
		{"campaign", []string{"campaign", "create", "atm-voice", "--target", "tag:atm", "--output", "audio", "--playlist", "voice",
			"--daypart", "mon-fri,09:00-17:00", "--min-every", "10m", "--priority", "5"}, 0, "at least every 10m0s", ""},
		{"campaign share", []string{"campaign", "create", "hotline", "--target", "node:bank", "--output", "led", "--playlist", "hot", "--min-share", "0.2"}, 0, "at least 20%", ""},
		{"campaign trigger", []string{"campaign", "create", "large-transfer", "--target", "device:atm-1", "--output", "audio", "--playlist", "voice", "--trigger", "large-transfer"}, 0, "on trigger large-transfer", ""},
		{"campaign again", []string{"campaign", "create", "hotline", "--target", "node:bank", "--output", "led", "--playlist", "hot"}, 1, "", "already exists"},
		{"campaign wrong output", []string{"campaign", "create", "x", "--target", "node:bank", "--output", "tv", "--playlist", "hot"}, 1, "", "plays on led"},
		{"campaign bad daypart", []string{"campaign", "create", "x", "--target", "node:bank", "--output", "led", "--playlist", "hot", "--daypart", "weekdays"}, 1, "", "daypart"},
		{"campaign bad target", []string{"campaign", "create", "x", "--target", "bank", "--output", "led", "--playlist", "hot"}, 1, "", "node:ID"},
		{"campaigns pending", []string{"campaign", "list"}, 0, "CAMPAIGN", ""},
		{"approve campaigns", []string{"@approve"}, 0, "approved (campaign.create by local-admin)", ""},
		{"campaign no playlist", []string{"campaign", "create", "x", "--target", "node:bank", "--output", "led"}, 2, "", "required"},
		{"campaign list", []string{"campaign", "list"}, 0, "mon-fri,09:00-17:00; at least every 10m0s", ""},
		{"campaign end", []string{"campaign", "end", "large-transfer"}, 0, "ended", ""},
		{"campaign misses", []string{"campaign", "misses"}, 0, "DEVICE", ""},
		{"campaign end again", []string{"campaign", "end", "large-transfer"}, 1, "", "already ended"},
		{"org list", []string{"org", "list"}, 0, "site branch-1 — Branch 1  tz Asia/Shanghai (inherited)\n      - atm-1 [atm]: nothing published yet", ""},
		{"alert no text", []string{"alert", "push", "--to", "town"}, 1, "", "need --text"},
		{"alert audio without clip", []string{"alert", "push", "--to", "town", "--text", "x", "--outputs", "audio"}, 1, "", "--audio"},
		{"alert bad target", []string{"alert", "push", "--to", "nowhere", "--text", "x"}, 1, "", "neither an org node nor a device"},
		{"alert bad expiry", []string{"alert", "push", "--to", "town", "--text", "x", "--expires", "yesterday"}, 1, "", "expires"},
		{"alert", []string{"alert", "push", "--to", "bank", "--text", "Hang up on 'safe account' calls", "--audio", "atm-voice-zh.wav", "--repeat", "5m"}, 0, "pushed to 2 device(s) under bank (directly in", ""},
		{"alert list", []string{"alert", "list", "--active"}, 0, "led,tv,audio", ""},
		{"alert status", []string{"alert", "status", "a-"}, 1, "", "not found"},
		{"versions", []string{"versions", "list"}, 0, "atm-1: nothing published yet", ""},
		{"versions laggards", []string{"versions", "laggards"}, 0, "every device", ""},
		{"preview needs device", []string{"schedule", "preview"}, 2, "", "--device"},
		{"preview", []string{"schedule", "preview", "--device", "atm-1", "--from", "2026-11-30T09:00", "--to", "2026-11-30T09:01", "--output", "audio"}, 0, "atm-voice/voice", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, dir, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.outHas) || !strings.Contains(errs, tt.errHas) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
	// The alert's status and laggards name the bank's responsible person.
	_, out, _ := run(t, dir, "alert", "list")
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, errs := run(t, dir, "alert", "status", id)
	if code != 0 || !strings.Contains(out, "signed for by 0 of 2 device(s)") || !strings.Contains(out, "  bank (Bank)") {
		t.Errorf("alert status: %d\n%s%s", code, out, errs)
	}
	code, out, _ = run(t, dir, "alert", "laggards", id)
	if code != 0 || !strings.Contains(out, "first_responsible Wang Fang 138 0000 0001 (of bank)") || !strings.Contains(out, "2 of 2 device(s)") {
		t.Errorf("alert laggards: %d\n%s", code, out)
	}
	if code, _, _ := run(t, dir, "alert", "cancel", id); code != 0 {
		t.Error("cancel failed")
	}
	if code, _, errs := run(t, dir, "alert", "cancel", id); code != 1 || !strings.Contains(errs, "already cancelled") {
		t.Errorf("second cancel: %d %s", code, errs)
	}
}
