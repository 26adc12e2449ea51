package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

func sha(c string) string { return strings.Repeat(c, 64) }

func item(c, kind string) protocol.Item {
	return protocol.Item{SHA256: sha(c), Size: 1, Kind: kind, DurationMS: 1000}
}

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func doc() *protocol.DesiredState {
	return &protocol.DesiredState{
		V: protocol.Version, Device: "atm-1", Version: 3,
		Nodes: []string{"site-7", "unit-bank", "town"},
		Playlists: []protocol.Playlist{
			{Name: "door", Output: "led", Items: []protocol.Item{item("a", "text"), item("b", "text")}},
		},
		Schedule: &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
			Output: "audio", Safe: []protocol.Item{item("c", "audio")},
			Entries: []protocol.Entry{{ID: "atm/voice", Items: []protocol.EntryItem{{Item: item("d", "audio")}, {Item: item("a", "text")}}}},
		}}},
		Alerts: []protocol.Alert{
			{ID: "w2", Targets: []string{"town"}, Outputs: []string{"tv", "audio"}, Text: "Police never ask for transfers", Items: []protocol.Item{item("e", "audio")},
				IssuedAt: now.Unix() - 10, ExpiresAt: now.Unix() + 3600, HoldMS: 15000},
			{ID: "w1", Targets: []string{"atm-1"}, Outputs: []string{"led"}, Text: "Fake police calls today", IssuedAt: now.Unix() - 60, ExpiresAt: now.Unix() + 60},
			{ID: "other", Targets: []string{"site-9"}, Outputs: []string{"printer"}, Text: "x", IssuedAt: now.Unix() - 60, ExpiresAt: now.Unix() + 60},
			{ID: "old", Targets: []string{"atm-1"}, Outputs: []string{"printer"}, Text: "x", IssuedAt: now.Unix() - 60, ExpiresAt: now.Unix()},
		},
	}
}

func TestOutputsAndAlerts(t *testing.T) {
	d := doc()
	if got := Outputs(d, "atm-1", now); !cmp.Equal(got, []string{"audio", "led", "tv"}) {
		t.Fatalf("outputs %v", got)
	}
	var ids []string
	for _, a := range Alerts(d, "atm-1", now) {
		ids = append(ids, a.ID)
	}
	if !cmp.Equal(ids, []string{"w1", "w2"}) {
		t.Fatalf("alerts %v (want addressed, unexpired, oldest first)", ids)
	}
	if got := Alerts(d, "atm-1", now.Add(time.Minute)); len(got) != 1 || got[0].ID != "w2" {
		t.Fatalf("after w1 expired: %+v", got)
	}
	if Outputs(nil, "atm-1", now) != nil || Alerts(nil, "x", now) != nil {
		t.Fatal("nil document")
	}
}

func TestAlertItems(t *testing.T) {
	a := doc().Alerts[0]
	txt, b, ok := AlertText(&a)
	sum := sha256.Sum256([]byte(a.Text))
	if !ok || string(b) != a.Text || txt.SHA256 != hex.EncodeToString(sum[:]) || txt.Kind != "text" || txt.DurationMS != 15000 || txt.Size != int64(len(b)) {
		t.Fatalf("text item %+v", txt)
	}
	if got := AlertItems(&a, "tv"); len(got) != 1 || got[0] != txt {
		t.Fatalf("tv plays %+v", got)
	}
	if got := AlertItems(&a, "audio"); len(got) != 1 || got[0].SHA256 != sha("e") {
		t.Fatalf("audio plays %+v", got)
	}
	if got := AlertItems(&a, "led"); got != nil {
		t.Fatalf("led is not named: %+v", got)
	}
	w1 := doc().Alerts[1]
	if it, _, _ := AlertText(&w1); it.DurationMS != DefaultAlertHold.Milliseconds() {
		t.Fatalf("default hold %+v", it)
	}
}

func TestMedia(t *testing.T) {
	var got []string
	for _, it := range Media(doc(), "atm-1", now) {
		got = append(got, it.SHA256[:1])
	}
	if d := cmp.Diff([]string{"a", "b", "c", "d", "e"}, got); d != "" {
		t.Fatalf("media (-want +got)\n%s", d)
	}
	if n := len(AlertTexts(doc(), "atm-1", now)); n != 2 {
		t.Fatalf("%d alert texts", n)
	}
}

func TestForUsesThePlan(t *testing.T) {
	d := doc()
	led, err := For(d, "led")
	if err != nil {
		t.Fatal(err)
	}
	p := led.Next(plan.Env{Now: now, Synced: true})
	if p.EntryID != "door" || p.Item.SHA256 != sha("a") {
		t.Fatalf("legacy playlist pick %+v", p)
	}
	audio, _ := For(d, "audio")
	if p := audio.Next(plan.Env{Now: now, Synced: false}); !p.Safe || p.Item.SHA256 != sha("c") {
		t.Fatalf("unsynced audio %+v", p)
	}
	if tv, _ := For(d, "tv"); !tv.Empty() {
		t.Fatal("tv has a plan")
	}
}

func TestForQuiet(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	night := time.Date(2026, 3, 2, 23, 0, 0, 0, sh)
	noon := time.Date(2026, 3, 2, 12, 0, 0, 0, sh)
	tests := []struct {
		name       string
		doc        *protocol.DesiredState
		hours      string
		loc        *time.Location
		quietAt    []time.Time
		notQuietAt []time.Time
		wantErr    bool
	}{
		{name: "no profile hours", doc: doc(), notQuietAt: []time.Time{night, noon}},
		{name: "profile hours in the schedule's zone", doc: doc(), hours: "22:00-07:00", quietAt: []time.Time{night}, notQuietAt: []time.Time{noon}},
		{name: "profile hours in the driver's zone", doc: doc(), hours: "22:00-07:00", loc: time.UTC, quietAt: []time.Time{noon}, notQuietAt: []time.Time{night}},
		{name: "no document: the hours still hold (in UTC)", hours: "22:00-07:00", quietAt: []time.Time{night.In(time.UTC).Add(8 * time.Hour)}},
		{name: "bad hours", doc: doc(), hours: "late", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ForQuiet(tt.doc, "audio", tt.hours, tt.loc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return
			}
			for _, at := range tt.quietAt {
				if _, q := ev.QuietUntil(at); !q {
					t.Errorf("not quiet at %s", at)
				}
			}
			for _, at := range tt.notQuietAt {
				if _, q := ev.QuietUntil(at); q {
					t.Errorf("quiet at %s", at)
				}
			}
		})
	}
}
