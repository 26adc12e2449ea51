package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// adopt records version 7 as published to device and verified by it.
func adopt(t *testing.T, dir, device string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.SetDesired(ctx, device, 7, fmt.Sprintf("%064x", 7), []byte("{}"), now.Unix(), now.Add(24*time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	if err := st.CommitAcks(ctx, []store.AckRow{{Ack: protocol.Ack{V: protocol.Version, Device: device, Event: protocol.AckAdopted,
		Version: 7, At: now.UnixMilli()}, ReceivedMS: now.UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
}

// setStatus stores a status for device as if it had just sent it.
func setStatus(t *testing.T, dir, device string, s protocol.Status) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s.V, s.Device = protocol.Version, device
	b, _ := json.Marshal(s)
	if err := st.SetStatus(ctx, device, string(b), time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
}

// TestClockStateVisible (issue 10): a sign whose kernel says the clock is
// not synchronised plays only its safe loop. device list says so, and
// schedule preview shows the safe loop, not the town hotline.
func TestClockStateVisible(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"org", "add", "--id", "town", "--kind", "town", "--name", "Town", "--tz", "Europe/Berlin"},
		{"org", "add", "--id", "shop", "--kind", "site", "--name", "Shop", "--parent", "town"},
		{"media", "add", sample("hotline-zh.txt"), sample("hotline-en.txt")},
		{"device", "add", "--id", "kiosk", "--profile", "virtual", "--node", "shop"},
		{"playlist", "create", "ads", "--output", "led", "--item", "hotline-en.txt:10"},
		{"playlist", "create", "hot", "--output", "led", "--item", "hotline-zh.txt:10"},
		{"@approve"},
		{"campaign", "create", "ads", "--target", "node:shop", "--output", "led", "--playlist", "ads", "--priority", "5"},
		{"campaign", "create", "hotline", "--target", "node:town", "--output", "led", "--playlist", "hot", "--priority", "1", "--min-share", "0.2"},
		{"@approve"},
	} {
		if code, out, errs := run(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	adopt(t, dir, "kiosk")
	preview := []string{"schedule", "preview", "--device", "kiosk", "--from", "2026-03-30T09:00", "--to", "2026-03-30T09:02"}
	for _, tt := range []struct {
		name    string
		status  *protocol.Status
		clock   string
		hotline bool // the preview shows the town hotline
	}{
		{"no status yet", nil, "unknown", true},
		{"synchronised", &protocol.Status{Online: true, ClockSynced: true, ClockSource: protocol.ClockKernel}, "trusted", true},
		{"not synchronised", &protocol.Status{Online: true, ClockSource: protocol.ClockKernel}, "untrusted", false},
		{"a will", &protocol.Status{}, "unknown", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status != nil {
				setStatus(t, dir, "kiosk", *tt.status)
			}
			code, out, errs := run(t, dir, "device", "list")
			if code != 0 {
				t.Fatalf("device list: exit %d\n%s", code, errs)
			}
			state := "  " + tt.clock + "  version 7 verified and playing\n"
			if !tt.hotline {
				state = "  untrusted  version 7 verified, playing the safe loop (clock not synchronised)\n"
			}
			if !strings.Contains(out, "  CLOCK  ") || !strings.HasSuffix(out, state) {
				t.Fatalf("device list, want CLOCK and STATE %q:\n%s", state, out)
			}

			code, out, errs = run(t, dir, preview...)
			if code != 0 {
				t.Fatalf("preview: exit %d\n%s", code, errs)
			}
			warned := strings.HasPrefix(out, "CLOCK NOT SYNCHRONISED: kiosk")
			if strings.Contains(out, "hotline-zh") != tt.hotline || warned == tt.hotline {
				t.Fatalf("preview (want hotline %v):\n%s", tt.hotline, out)
			}
			if !tt.hotline && !strings.Contains(out, "(safe loop)") {
				t.Fatalf("untrusted preview without the safe loop:\n%s", out)
			}
			code, out, _ = run(t, dir, append(preview, "--json")...)
			if code != 0 || strings.Contains(out, `"clock_untrusted": true`) == tt.hotline {
				t.Fatalf("preview --json (want untrusted %v):\n%.400s", !tt.hotline, out)
			}
		})
	}
}
