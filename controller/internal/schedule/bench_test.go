package schedule

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// town10k is a town → 20 villages → 10 units each → 5 sites each → 10
// devices each: 10,000 devices under 1,221 nodes, tagged atm (20%),
// doorway (30%) or lobby, with five campaigns — the hotline on every
// screen in town, the ATM voice prompt, one village's TV clip, a holiday
// doorway message and the counter's large-transfer trigger.
func town10k(b testing.TB) (*store.Store, ed25519.PrivateKey) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	nodes := []org.Node{{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai",
		Quiet: []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}}}}
	var devs []store.Device
	tags := []string{"atm", "atm", "doorway", "doorway", "doorway", "lobby", "lobby", "lobby", "lobby", "lobby"}
	for v := range 20 {
		vid := fmt.Sprintf("village-%02d", v)
		nodes = append(nodes, org.Node{ID: vid, Kind: org.KindVillage, Name: vid, Parent: "town"})
		for u := range 10 {
			uid := fmt.Sprintf("%s-unit-%02d", vid, u)
			nodes = append(nodes, org.Node{ID: uid, Kind: org.KindUnit, Name: uid, Parent: vid})
			for s := range 5 {
				sid := fmt.Sprintf("%s-site-%d", uid, s)
				nodes = append(nodes, org.Node{ID: sid, Kind: org.KindSite, Name: sid, Parent: uid})
				for d := range 10 {
					devs = append(devs, store.Device{ID: fmt.Sprintf("%s-dev-%d", sid, d), Node: sid, Tags: []string{tags[d]},
						CredSalt: []byte{1}, CredHash: []byte{2}})
				}
			}
		}
	}
	if err := st.AddNodes(ctx, nodes); err != nil {
		b.Fatal(err)
	}
	if err := st.AddDevices(ctx, devs); err != nil {
		b.Fatal(err)
	}
	for i, m := range []struct {
		name, kind string
		ms         int64
	}{{"voice.wav", "audio", 8000}, {"lt.wav", "audio", 6000}, {"hotline.txt", "text", 0}, {"holiday.txt", "text", 0}, {"clip.mp4", "video", 30000}} {
		if err := st.PutMedia(ctx, store.Media{SHA256: fmt.Sprintf("%064x", i+1), Kind: m.kind, Name: m.name, Title: m.name, Size: 1000, DurationMS: m.ms}); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range []store.Playlist{
		{Name: "voice", Output: "audio", Items: []store.PlaylistItem{{SHA256: fmt.Sprintf("%064x", 1), DurationMS: 8000}}},
		{Name: "lt", Output: "audio", Items: []store.PlaylistItem{{SHA256: fmt.Sprintf("%064x", 2), DurationMS: 6000}}},
		{Name: "hotline", Output: "led", Items: []store.PlaylistItem{{SHA256: fmt.Sprintf("%064x", 3), DurationMS: 8000}}},
		{Name: "holiday", Output: "led", Items: []store.PlaylistItem{{SHA256: fmt.Sprintf("%064x", 4), DurationMS: 8000, ValidUntil: "2027-01-01"}}},
		{Name: "clip", Output: "tv", Items: []store.PlaylistItem{{SHA256: fmt.Sprintf("%064x", 5), DurationMS: 30000}}},
	} {
		if err := st.CreatePlaylist(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	for _, r := range []CampaignRequest{
		{Name: "hotline", Targets: []string{"node:town"}, Output: "led", Playlists: []string{"hotline"}, MinShare: 0.2, Priority: 1},
		{Name: "atm-voice", Targets: []string{"tag:atm"}, Output: "audio", Playlists: []string{"voice"}, MinEvery: "10m",
			Dayparts: []string{"mon-fri,09:00-17:00", "sat,10:00-16:00"}, Priority: 5},
		{Name: "village-clip", Targets: []string{"node:village-03"}, Output: "tv", Playlists: []string{"clip"}, Priority: 3},
		{Name: "holiday", Targets: []string{"tag:doorway"}, Output: "led", Playlists: []string{"holiday"}, From: "2026-12-20", Until: "2027-01-03", Priority: 2},
		{Name: "large-transfer", Targets: []string{"tag:atm"}, Output: "audio", Playlists: []string{"lt"}, Trigger: "large-transfer"},
	} {
		c, err := r.Campaign()
		if err != nil {
			b.Fatal(err)
		}
		if err := st.CreateCampaign(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return st, key
}

// BenchmarkCompile10k compiles, signs and stores the documents of 10,000
// devices: "changed" after an alert to the whole town (every document is
// re-signed), "unchanged" a pass where nothing changed (hashes only).
//
//	go test -run '^$' -bench Compile10k -benchtime 5x ./controller/internal/schedule/
func BenchmarkCompile10k(b *testing.B) {
	st, key := town10k(b)
	ctx := context.Background()
	comp := NewCompiler(st, key, Options{MediaURL: "http://controller:8080/media/"}, nil)
	if _, err := comp.RefreshAll(ctx, false); err != nil {
		b.Fatal(err)
	}
	b.Run("changed", func(b *testing.B) {
		var prev string
		n := 0
		for b.Loop() {
			now := time.Now()
			a := protocol.Alert{Targets: []string{"town"}, Outputs: []string{"led", "tv"}, Text: "Police: no 'safe account' exists. Hang up, call 96110.",
				IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), HoldMS: 15000}
			sa, err := st.CreateAlert(ctx, a, now)
			if err != nil {
				b.Fatal(err)
			}
			if prev != "" {
				st.CancelAlert(ctx, prev, now)
			}
			prev = sa.ID
			docs, err := comp.RefreshAll(ctx, false)
			if err != nil {
				b.Fatal(err)
			}
			if len(docs) != 10000 {
				b.Fatalf("%d documents re-signed, want 10000", len(docs))
			}
			n += len(docs)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "devices/s")
	})
	b.Run("unchanged", func(b *testing.B) {
		n := 0
		for b.Loop() {
			docs, err := comp.RefreshAll(ctx, false)
			if err != nil {
				b.Fatal(err)
			}
			if len(docs) != 0 {
				b.Fatalf("%d documents re-signed, want none", len(docs))
			}
			n += 10000
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "devices/s")
	})
}

// BenchmarkPreviewDay is `schedule preview` for one ATM device of the
// 10,000-device town over a whole day, every output: compile its document
// from the store (the world loaded fresh each time, as the CLI does in a
// new process) and run the agent's evaluator over it.
//
//	go test -run '^$' -bench PreviewDay ./controller/internal/schedule/
func BenchmarkPreviewDay(b *testing.B) {
	st, key := town10k(b)
	ctx := context.Background()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	from := time.Date(2026, 12, 21, 0, 0, 0, 0, loc) // a Monday in the holiday campaign
	plays := 0
	for b.Loop() {
		comp := NewCompiler(st, key, Options{}, nil)
		res, err := Preview(ctx, comp, "village-03-unit-04-site-2-dev-0", "", from, from.Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		plays = len(res.Plays)
	}
	b.ReportMetric(float64(plays), "plays/day")
}
