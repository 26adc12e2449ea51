package schedule

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// town is the tester's town node: one site with an LED sign, a TV, an ATM
// speaker and two printers.
func town(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddNodes(ctx, []org.Node{
		{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai"},
		{ID: "branch", Kind: org.KindSite, Name: "Branch", Parent: "town"},
	}))
	for _, d := range []struct{ id, profile string }{
		{"sign", "alpha-sign-serial"}, {"tv", "hdmi-tv-mpv"}, {"atm", "atm-speaker-alsa"}, {"pr-1", "escpos-58mm"}, {"pr-2", "tspl-label-60x40"},
	} {
		must(st.AddDevice(ctx, store.Device{ID: d.id, Profile: d.profile, Node: "branch", CredSalt: []byte{1}, CredHash: []byte{2}}))
	}
	must(st.PutMedia(ctx, store.Media{SHA256: sha("c"), Kind: "text", Name: "hotline.txt", Title: "Hotline", Size: 10}))
	must(st.PutMedia(ctx, store.Media{SHA256: sha("a"), Kind: "audio", Name: "voice.wav", Title: "Voice", Size: 10, DurationMS: 8000}))
	must(st.CreatePlaylist(ctx, store.Playlist{Name: "hotline", Output: "led", Items: []store.PlaylistItem{{SHA256: sha("c"), DurationMS: 5000}}}))
	must(st.CreateCampaign(ctx, store.Campaign{Name: "hotline-96110", Output: "led", Targets: []store.Target{{Kind: store.TargetNode, Value: "town"}},
		Playlists: []string{"hotline"}}))
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := &fakeNow{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	return &fixture{st: st, key: key, clk: clk, comp: NewCompiler(st, key, Options{MediaURL: "http://c/media/"}, clk.now)}
}

func outputsOf(s *protocol.Schedule) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, o := range s.Outputs {
		out = append(out, o.Output)
	}
	return out
}

func TestCampaignReachesOnlyDevicesWithItsOutput(t *testing.T) {
	f := town(t)
	ctx := context.Background()
	for _, tt := range []struct {
		device  string
		outputs []string
	}{{"sign", []string{"led"}}, {"tv", nil}, {"atm", nil}, {"pr-1", nil}, {"pr-2", nil}} {
		t.Run(tt.device, func(t *testing.T) {
			ds, err := f.comp.Desired(ctx, tt.device)
			if err != nil {
				t.Fatal(err)
			}
			if got := outputsOf(ds.Schedule); !cmp.Equal(got, tt.outputs) {
				t.Errorf("schedule outputs %v, want %v", got, tt.outputs)
			}
		})
	}
}

func TestAlertOutputsReducedPerDevice(t *testing.T) {
	f := town(t)
	ctx := context.Background()
	now := f.clk.now()
	a, err := f.st.CreateAlert(ctx, protocol.Alert{Targets: []string{"town"}, Outputs: []string{"led", "tv", "audio"}, Text: "warning", HoldMS: 1000,
		Items:    []protocol.Item{item("a", "Voice", 8000)},
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"sign": {"led"}, "tv": {"tv"}, "atm": {"audio"}, "pr-1": nil, "pr-2": nil}
	check := func(want map[string][]string) {
		t.Helper()
		for dev, outs := range want {
			ds, err := f.comp.Desired(ctx, dev)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range ds.Alerts {
				if x.ID == a.ID {
					got = x.Outputs
				}
			}
			if !cmp.Equal(got, outs) {
				t.Errorf("%s: alert outputs %v, want %v", dev, got, outs)
			}
		}
	}
	check(want)
	// A sign added after the push is shown the alert too (but is not one
	// of its frozen recipients).
	if err := f.st.AddDevice(ctx, store.Device{ID: "sign-2", Profile: "max7219-4x8x8", Node: "branch", CredSalt: []byte{1}, CredHash: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	want["sign-2"] = []string{"led"}
	check(want)
	rs, _ := f.st.AlertRecipients(ctx, a.ID)
	if len(rs) != 3 {
		t.Errorf("frozen recipients %+v", rs)
	}
}

func TestRetiredDeviceGetsNoDocument(t *testing.T) {
	f := town(t)
	ctx := context.Background()
	if _, err := f.comp.RefreshAll(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RetireDevice(ctx, "sign", f.clk.now()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.comp.Refresh(ctx, "sign"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refresh a retired device: %v", err)
	}
	if _, err := f.comp.Desired(ctx, "sign"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("preview a retired device: %v", err)
	}
	docs, err := f.comp.RefreshAll(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if d.Device == "sign" {
			t.Error("retired device republished")
		}
	}
	if len(docs) != 4 {
		t.Errorf("%d documents, want 4", len(docs))
	}
}
