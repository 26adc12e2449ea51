package schedule

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// fakeNow is a settable clock for the compiler.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time      { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }
func sha(c string) string              { return strings.Repeat(c, 64) }
func item(c, title string, ms int64) protocol.Item {
	return protocol.Item{SHA256: sha(c), Size: 10, Kind: kindOf(c), Title: title, DurationMS: ms}
}
func kindOf(c string) string {
	if c == "a" || c == "b" {
		return "audio"
	}
	return "text"
}

type fixture struct {
	st   *store.Store
	comp *Compiler
	key  ed25519.PrivateKey
	clk  *fakeNow
}

// bank builds: town (Asia/Shanghai, quiet 22:00–07:00) → bank → branch
// with atm-1 (tag atm) and door-1 (tag doorway, legacy LED playlist); a
// Berlin hotel site; legacy-1 outside the tree with a legacy playlist;
// loose-atm outside the tree tagged atm. Campaigns: the ATM voice prompt
// (tag atm, weekdays 09–17, every 10 min, priority 5), the hotline on
// every bank screen (node bank, 20%), the large-transfer warning on
// atm-1 (trigger).
func bank(t testing.TB) *fixture {
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
		{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai", Quiet: []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}}},
		{ID: "bank", Kind: org.KindUnit, Name: "Bank", Parent: "town"},
		{ID: "branch", Kind: org.KindSite, Name: "Branch", Parent: "bank"},
		{ID: "hotel", Kind: org.KindSite, Name: "Hotel", Parent: "town", TZ: "Europe/Berlin"},
	}))
	for _, m := range []struct {
		c, name, title string
		ms             int64
	}{{"a", "voice.wav", "ATM voice", 8000}, {"b", "lt.wav", "Large transfer", 6000}, {"c", "hotline.txt", "Hotline", 0}, {"d", "door.txt", "Door", 0}} {
		must(st.PutMedia(ctx, store.Media{SHA256: sha(m.c), Kind: kindOf(m.c), Name: m.name, Title: m.title, Size: 10, DurationMS: m.ms}))
	}
	must(st.CreatePlaylist(ctx, store.Playlist{Name: "voice", Output: "audio", Items: []store.PlaylistItem{{SHA256: sha("a"), DurationMS: 8000}}}))
	must(st.CreatePlaylist(ctx, store.Playlist{Name: "lt", Output: "audio", Items: []store.PlaylistItem{{SHA256: sha("b"), DurationMS: 6000}}}))
	must(st.CreatePlaylist(ctx, store.Playlist{Name: "hotline", Output: "led", Items: []store.PlaylistItem{
		{SHA256: sha("c"), DurationMS: 5000}, {SHA256: sha("d"), DurationMS: 5000, ValidFrom: "2026-12-01", ValidUntil: "2026-12-25"}}}))
	must(st.CreatePlaylist(ctx, store.Playlist{Name: "door", Output: "led", Items: []store.PlaylistItem{{SHA256: sha("d"), DurationMS: 4000}}}))
	dev := func(id, node string, tags ...string) store.Device {
		return store.Device{ID: id, Node: node, Tags: tags, CredSalt: []byte{1}, CredHash: []byte{2}}
	}
	must(st.AddDevices(ctx, []store.Device{dev("atm-1", "branch", "atm"), dev("door-1", "branch", "doorway"), dev("legacy-1", ""),
		dev("loose-atm", "", "atm"), dev("hotel-tv", "hotel")}))
	must(st.AssignPlaylist(ctx, "door", "door-1"))
	must(st.AssignPlaylist(ctx, "door", "legacy-1"))
	campaign := func(r CampaignRequest) {
		t.Helper()
		c, err := r.Campaign()
		must(err)
		must(st.CreateCampaign(ctx, c))
	}
	campaign(CampaignRequest{Name: "atm-voice", Targets: []string{"tag:atm"}, Output: "audio", Playlists: []string{"voice"},
		Priority: 5, Dayparts: []string{"mon-fri,09:00-17:00"}, MinEvery: "10m"})
	campaign(CampaignRequest{Name: "hotline", Targets: []string{"node:bank"}, Output: "led", Playlists: []string{"hotline"},
		Priority: 1, MinShare: 0.2})
	campaign(CampaignRequest{Name: "large-transfer", Targets: []string{"device:atm-1"}, Output: "audio", Playlists: []string{"lt"},
		Trigger: "large-transfer"})
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := &fakeNow{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	return &fixture{st: st, key: key, clk: clk, comp: NewCompiler(st, key, Options{MediaURL: "http://c/media/"}, clk.now)}
}

func ei(c, title string, ms int64) protocol.EntryItem {
	return protocol.EntryItem{Item: item(c, title, ms)}
}

func TestCompileSchedule(t *testing.T) {
	f := bank(t)
	ctx := context.Background()
	hotline := protocol.Entry{ID: "hotline/hotline", Campaign: "hotline", Priority: 1, MinShare: 0.2, Items: []protocol.EntryItem{
		ei("c", "Hotline", 5000), {Item: item("d", "Door", 5000), ValidFrom: "2026-12-01", ValidUntil: "2026-12-25"}}}
	voice := protocol.Entry{ID: "atm-voice/voice", Campaign: "atm-voice", Priority: 5, MinEveryMS: 600000,
		Dayparts: []protocol.Daypart{{Days: "mon-fri", Start: "09:00", End: "17:00"}}, Items: []protocol.EntryItem{ei("a", "ATM voice", 8000)}}
	lt := protocol.Entry{ID: "large-transfer/lt", Campaign: "large-transfer", Trigger: "large-transfer", Items: []protocol.EntryItem{ei("b", "Large transfer", 6000)}}
	quiet := []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}}
	tests := []struct {
		device string
		nodes  []string
		sched  *protocol.Schedule
		lists  int
	}{
		{"atm-1", []string{"branch", "bank", "town"}, &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{
			// No safe loop derived for a speaker: it would repeat the prompt all night.
			{Output: "audio", Entries: []protocol.Entry{voice, lt}, Quiet: quiet},
			{Output: "led", Entries: []protocol.Entry{hotline}, Safe: []protocol.Item{item("c", "Hotline", 5000)}},
		}}, 0},
		// The legacy assignment is an always-on priority-0 entry and the safe loop.
		{"door-1", []string{"branch", "bank", "town"}, &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{
			{Output: "led", Entries: []protocol.Entry{hotline, {ID: "assigned/door", Campaign: "assigned", Items: []protocol.EntryItem{ei("d", "Door", 4000)}}},
				Safe: []protocol.Item{item("d", "Door", 4000)}},
		}}, 1},
		// Outside the tree and no campaign: exactly the protocol v1 document.
		{"legacy-1", nil, nil, 1},
		// Reached by tag only: scheduled in UTC, no quiet hours.
		{"loose-atm", nil, &protocol.Schedule{TZ: "UTC", Outputs: []protocol.OutputPlan{
			{Output: "audio", Entries: []protocol.Entry{voice}},
		}}, 0},
		// On a site but nothing to play.
		{"hotel-tv", []string{"hotel", "town"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.device, func(t *testing.T) {
			ds, err := f.comp.Desired(ctx, tt.device)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.sched, ds.Schedule); diff != "" {
				t.Errorf("schedule (-want +got):\n%s", diff)
			}
			if !cmp.Equal(tt.nodes, ds.Nodes) {
				t.Errorf("nodes %v, want %v", ds.Nodes, tt.nodes)
			}
			if len(ds.Playlists) != tt.lists {
				t.Errorf("%d legacy playlists, want %d", len(ds.Playlists), tt.lists)
			}
		})
	}
}

// open checks a stored document the way an agent would.
func (f *fixture) open(t *testing.T, doc []byte) *protocol.DesiredState {
	t.Helper()
	ds, err := protocol.OpenDesired(doc, []ed25519.PublicKey{f.key.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func changedSet(docs []Doc) map[string]uint64 {
	out := map[string]uint64{}
	for _, d := range docs {
		if d.Changed {
			out[d.Device] = d.Version
		}
	}
	return out
}

func TestRefreshSignsOnlyWhatChanged(t *testing.T) {
	f := bank(t)
	ctx := context.Background()
	docs, err := f.comp.RefreshAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedSet(docs); len(got) != 5 || got["atm-1"] != 1 {
		t.Fatalf("first pass signed %v", got)
	}
	docs, _ = f.comp.RefreshAll(ctx, false)
	if len(docs) != 0 {
		t.Fatalf("nothing changed, yet %d documents", len(docs))
	}
	docs, _ = f.comp.RefreshAll(ctx, true)
	if len(docs) != 5 || len(changedSet(docs)) != 0 {
		t.Fatalf("a forced pass returns every stored document unchanged: %d", len(docs))
	}
	if _, _, changed, _ := f.comp.Refresh(ctx, "atm-1"); changed {
		t.Fatal("single refresh re-signed an unchanged device")
	}

	// An alert to the bank reaches its two devices only.
	a := protocol.Alert{Targets: []string{"bank"}, Outputs: []string{"led", "audio"}, Text: "Police: fake 'safe account' calls today",
		Items: []protocol.Item{item("a", "ATM voice", 8000)}, IssuedAt: f.clk.now().Unix(), ExpiresAt: f.clk.now().Add(time.Hour).Unix(), HoldMS: 15000}
	sa, err := f.st.CreateAlert(ctx, a, f.clk.now())
	if err != nil {
		t.Fatal(err)
	}
	docs, _ = f.comp.RefreshAll(ctx, false)
	if got := changedSet(docs); !cmp.Equal(got, map[string]uint64{"atm-1": 2, "door-1": 2}) {
		t.Fatalf("after the alert, signed %v", got)
	}
	for _, d := range docs {
		ds := f.open(t, d.Doc)
		if len(ds.Alerts) != 1 || ds.Alerts[0].ID != sa.ID || ds.Version != 2 {
			t.Fatalf("%s: alerts %+v version %d", d.Device, ds.Alerts, ds.Version)
		}
	}
	// It expires by itself: the next pass after expiry drops it, with no edit.
	f.clk.add(time.Hour)
	docs, _ = f.comp.RefreshAll(ctx, false)
	if got := changedSet(docs); !cmp.Equal(got, map[string]uint64{"atm-1": 3, "door-1": 3}) {
		t.Fatalf("after expiry, signed %v", got)
	}
	if ds := f.open(t, docs[0].Doc); len(ds.Alerts) != 0 {
		t.Fatalf("expired alert still carried: %+v", ds.Alerts)
	}
	// Ending a campaign drops its entries.
	if err := f.st.EndCampaign(ctx, "atm-voice", f.clk.now().Unix()); err != nil {
		t.Fatal(err)
	}
	docs, _ = f.comp.RefreshAll(ctx, false)
	if got := changedSet(docs); !cmp.Equal(got, map[string]uint64{"atm-1": 4, "loose-atm": 2}) {
		t.Fatalf("after ending atm-voice, signed %v", got)
	}
	ds, _ := f.comp.Desired(ctx, "loose-atm")
	if ds.Schedule != nil {
		t.Errorf("loose-atm still scheduled: %+v", ds.Schedule)
	}
	// Half the lifetime later everything is re-signed.
	f.clk.add(DefaultLifetime/2 + time.Second)
	docs, _ = f.comp.RefreshAll(ctx, false)
	if len(changedSet(docs)) != 5 {
		t.Fatalf("renewal signed %v", changedSet(docs))
	}
}
