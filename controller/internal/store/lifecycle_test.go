package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/internal/protocol"
)

// townFleet is the tester's town: one site with an LED sign, a TV, an ATM
// speaker and two printers, and a hall Pi with a TV and a speaker.
func townFleet(t *testing.T, st *Store) {
	t.Helper()
	addTree(t, st)
	ctx := context.Background()
	for _, d := range []Device{
		{ID: "sign-1", Profile: "alpha-sign-serial", Node: "branch-1", Tags: []string{"doorway"}},
		{ID: "tv-1", Profile: "hdmi-tv-mpv", Node: "branch-1"},
		{ID: "atm-1", Profile: "atm-speaker-alsa", Node: "branch-1", Tags: []string{"atm"}},
		{ID: "pr-1", Profile: "escpos-58mm", Node: "branch-1"},
		{ID: "pr-2", Profile: "tspl-label-60x40", Node: "branch-2"},
		{ID: "hall-1", Profile: "hdmi-tv-mpv", Node: "branch-2", Outputs: DeviceOutputsFor("hdmi-tv-mpv", map[string]string{"audio": "atm-speaker-alsa"})},
	} {
		d.CredSalt, d.CredHash = []byte{1}, []byte{2}
		if err := st.AddDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestProfileOutputs(t *testing.T) {
	for _, tt := range []struct {
		profile string
		want    []string
		known   bool
	}{
		{"alpha-sign-serial", []string{"led"}, true},
		{"hdmi-tv-mpv", []string{"tv"}, true},
		{"escpos-58mm", []string{"printer"}, true},
		{"virtual-audio", []string{"audio"}, true},
		{"virtual", AllOutputs, true},
		{"gpio-button", nil, true},
		{"my-sign", AllOutputs, false},
	} {
		t.Run(tt.profile, func(t *testing.T) {
			got, known := ProfileOutputs(tt.profile)
			if !slices.Equal(got, tt.want) || known != tt.known {
				t.Errorf("ProfileOutputs(%s) = %v %v, want %v %v", tt.profile, got, known, tt.want, tt.known)
			}
		})
	}
	got := DeviceOutputsFor("hdmi-tv-mpv", map[string]string{"audio": "atm-speaker-alsa"})
	if want := map[string]string{"tv": "hdmi-tv-mpv", "audio": "atm-speaker-alsa"}; !maps.Equal(got, want) {
		t.Errorf("DeviceOutputsFor = %v", got)
	}
}

func TestResolveTargets(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	node := func(id string) Target { return Target{TargetNode, id} }
	tests := []struct {
		name     string
		targets  []Target
		outputs  []string
		byOutput map[string][]string
		err      string
		is       error
	}{
		{"town on led", []Target{node("town")}, []string{"led"}, map[string][]string{"led": {"sign-1"}}, "", nil},
		{"town on printer", []Target{node("town")}, []string{"printer"}, map[string][]string{"printer": {"pr-1", "pr-2"}}, "", nil},
		{"alert outputs", []Target{node("branch-2")}, []string{"led", "tv", "audio"},
			map[string][]string{"led": {}, "tv": {"hall-1"}, "audio": {"hall-1"}}, "", nil},
		{"tag", []Target{{TargetTag, "atm"}}, []string{"audio"}, map[string][]string{"audio": {"atm-1"}}, "", nil},
		{"site without printers", []Target{node("town"), {TargetTag, "doorway"}}, []string{"printer"}, nil,
			"tag:doorway has no device with output printer", ErrInvalid},
		{"none of several", []Target{{TargetDevice, "pr-1"}}, []string{"led", "tv"}, nil,
			"device:pr-1 has no device with any of the outputs led, tv", ErrInvalid},
		{"missing node", []Target{node("ghost")}, []string{"led"}, nil, "node:ghost", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := st.ResolveTargets(ctx, tt.targets, tt.outputs)
			if tt.is != nil {
				if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.is, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.byOutput, r.ByOutput); diff != "" {
				t.Errorf("ByOutput (-want +got):\n%s", diff)
			}
			for o, ids := range tt.byOutput {
				if r.Count(o) != len(ids) {
					t.Errorf("Count(%s) = %d", o, r.Count(o))
				}
			}
		})
	}
	r, err := st.ResolveTargets(ctx, []Target{node("branch-2")}, []string{"led", "tv", "audio"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Recipient{{Device: "hall-1", Node: "branch-2", Outputs: []string{"audio", "tv"}}}; !cmp.Equal(r.Recipients, want) {
		t.Errorf("recipients %+v", r.Recipients)
	}
	if len(r.Targets) != 1 || len(r.Targets[0].ByOutput["tv"]) != 1 {
		t.Errorf("per target %+v", r.Targets)
	}
}

func TestCampaignTargetsNeedTheOutput(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	sha := strings.Repeat("ab", 32)
	st.PutMedia(ctx, Media{SHA256: sha, Kind: "text", Name: "hotline.txt", Size: 3})
	if err := st.CreatePlaylist(ctx, Playlist{Name: "tickets", Output: "printer", Items: []PlaylistItem{{SHA256: sha, DurationMS: 1000}}}); err != nil {
		t.Fatal(err)
	}
	c := Campaign{Name: "hotline-96110", Output: "printer", Targets: []Target{{TargetNode, "town"}, {TargetTag, "doorway"}}, Playlists: []string{"tickets"}}
	if err := st.CreateCampaign(ctx, c); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "tag:doorway has no device with output printer") {
		t.Fatalf("tag without printers: %v", err)
	}
	c.Targets = c.Targets[:1]
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestFrozenAlertRecipients(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	a := protocol.Alert{Targets: []string{"town"}, Outputs: []string{"led", "tv", "audio"}, Text: "warning", HoldMS: 1000,
		Items:    []protocol.Item{{SHA256: strings.Repeat("cd", 32), Size: 1, Kind: "audio", DurationMS: 1000}},
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	sa, err := st.CreateAlert(ctx, a, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []Recipient{
		{Device: "atm-1", Node: "branch-1", Outputs: []string{"audio"}},
		{Device: "hall-1", Node: "branch-2", Outputs: []string{"audio", "tv"}},
		{Device: "sign-1", Node: "branch-1", Outputs: []string{"led"}},
		{Device: "tv-1", Node: "branch-1", Outputs: []string{"tv"}},
	}
	got, err := st.AlertRecipients(ctx, sa.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	// A site and a sign added after the push are not counted against it.
	if err := st.AddNode(ctx, org.Node{ID: "branch-3", Kind: org.KindSite, Name: "Branch 3", Parent: "bank"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, Device{ID: "sign-3", Profile: "alpha-sign-tcp", Node: "branch-3", CredSalt: []byte{1}, CredHash: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	got, _ = st.AlertRecipients(ctx, sa.ID)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recipients after a new site (-want +got):\n%s", diff)
	}
	if _, err := st.AlertRecipients(ctx, "a-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing alert: %v", err)
	}
	// Printers only: a push to them with screen outputs reaches nobody.
	b := a
	b.Targets = []string{"pr-1"}
	if _, err := st.CreateAlert(ctx, b, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("alert to a printer on screens: %v", err)
	}
}

func TestRetireNode(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	now := time.Unix(1_800_000_000, 0)
	if _, err := st.AddPerson(ctx, org.Person{Node: "branch-2", Role: "first_responsible", Name: "Li", Phone: "123"}); err != nil {
		t.Fatal(err)
	}
	err := st.RetireNode(ctx, "bank", now)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "branch-1, branch-2") {
		t.Fatalf("retire with children: %v", err)
	}
	err = st.RetireNode(ctx, "branch-2", now)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "hall-1, pr-2") {
		t.Fatalf("retire with devices: %v", err)
	}
	for _, d := range []string{"hall-1", "pr-2"} {
		if err := st.RetireDevice(ctx, d, now); err != nil {
			t.Fatal(err)
		}
	}
	rev0, _ := st.Revision(ctx)
	if err := st.RetireNode(ctx, "branch-2", now); err != nil {
		t.Fatal(err)
	}
	if rev, _ := st.Revision(ctx); rev <= rev0 {
		t.Error("retiring a node did not bump the revision")
	}
	if err := st.RetireNode(ctx, "branch-2", now); !errors.Is(err, ErrInvalid) {
		t.Errorf("retired twice: %v", err)
	}
	if err := st.RetireNode(ctx, "ghost", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("retire a missing node: %v", err)
	}
	tree, _ := st.Tree(ctx)
	if _, ok := tree.Node("branch-2"); ok {
		t.Error("retired node in the tree")
	}
	all, _ := st.TreeWith(ctx, ListOptions{IncludeRetired: true})
	if _, ok := all.Node("branch-2"); !ok {
		t.Error("retired node missing from the whole tree")
	}
	if ps, _ := st.People(ctx, ListOptions{}); len(ps) != 0 {
		t.Errorf("a retired node's people still listed: %+v", ps)
	}
	if ns, _ := st.Nodes(ctx, ListOptions{IncludeRetired: true}); len(ns) != 4 || ns[2].ID != "branch-2" || ns[2].RetiredAt != now.Unix() {
		t.Errorf("nodes with retired %+v", ns)
	}
	if err := st.AddNode(ctx, org.Node{ID: "branch-2", Kind: org.KindSite, Name: "again", Parent: "bank"}); !errors.Is(err, ErrExists) {
		t.Errorf("re-adding a retired node: %v", err)
	}
	if err := st.AddNode(ctx, org.Node{ID: "desk", Kind: org.KindSite, Name: "Desk", Parent: "branch-2"}); err == nil {
		t.Error("node added under a retired one")
	}
	if err := st.MoveDevice(ctx, "sign-1", "branch-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("device moved to a retired site: %v", err)
	}
	if _, err := st.ResolveTargets(ctx, []Target{{TargetNode, "branch-2"}}, []string{"led"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("retired node resolved: %v", err)
	}
	if err := st.AddNode(ctx, org.Node{ID: "bank", Kind: org.KindUnit, Name: "Bank", Parent: "town"}); !errors.Is(err, ErrExists) ||
		!strings.Contains(err.Error(), "org edit bank") {
		t.Errorf("re-adding a node: %v", err)
	}
}

func TestPeople(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	addTree(t, st)
	li := org.Person{Node: "branch-1", Role: "first_responsible", Name: "Li", Phone: "123"}
	id, err := st.AddPerson(ctx, li)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []org.Person{li, {Node: "branch-1", Role: "liaison", Name: "Li", Phone: "123"}, {Node: "branch-1", Role: "first_responsible", Name: "Li", Phone: "999"}} {
		if _, err := st.AddPerson(ctx, p); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), fmt.Sprintf("org person edit %d", id)) {
			t.Errorf("same person again (%+v): %v", p, err)
		}
	}
	// The same name elsewhere, or with another phone and role, is another person.
	if _, err := st.AddPerson(ctx, org.Person{Node: "branch-2", Role: "first_responsible", Name: "Li", Phone: "123"}); err != nil {
		t.Fatal(err)
	}
	wang, err := st.AddPerson(ctx, org.Person{Node: "branch-1", Role: "liaison", Name: "Wang", Phone: "456"})
	if err != nil {
		t.Fatal(err)
	}
	name, phone := "Li", "123"
	if err := st.EditPerson(ctx, wang, PersonEdit{Name: &name, Phone: &phone}); !errors.Is(err, ErrExists) {
		t.Errorf("edit into a copy: %v", err)
	}
	phone = "789"
	if err := st.EditPerson(ctx, wang, PersonEdit{Phone: &phone}); err != nil {
		t.Fatal(err)
	}
	bad := "presenter-in-chief"
	if err := st.EditPerson(ctx, wang, PersonEdit{Role: &bad}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad role: %v", err)
	}
	if err := st.EditPerson(ctx, 999, PersonEdit{Phone: &phone}); !errors.Is(err, ErrNotFound) {
		t.Errorf("edit a missing person: %v", err)
	}
	tree, _ := st.Tree(ctx)
	if ps := tree.People("branch-1"); len(ps) != 2 || ps[1].Phone != "789" {
		t.Errorf("people %+v", ps)
	}
	if err := st.RetirePerson(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.RetirePerson(ctx, id, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("retired twice: %v", err)
	}
	tree, _ = st.Tree(ctx)
	if ps := tree.People("branch-1"); len(ps) != 1 || ps[0].Name != "Wang" {
		t.Errorf("people after retiring Li %+v", ps)
	}
	// Retired, Li may be added again.
	if _, err := st.AddPerson(ctx, li); err != nil {
		t.Errorf("re-adding a retired person: %v", err)
	}
	if ps, _ := st.People(ctx, ListOptions{IncludeRetired: true}); len(ps) != 4 {
		t.Errorf("all people %+v", ps)
	}
}

func TestRetireDevice(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	sha := strings.Repeat("ab", 32)
	st.PutMedia(ctx, Media{SHA256: sha, Kind: "text", Name: "t.txt", Size: 3})
	st.CreatePlaylist(ctx, Playlist{Name: "door", Output: "led", Items: []PlaylistItem{{SHA256: sha, DurationMS: 1000}}})
	if err := st.AssignPlaylist(ctx, "door", "sign-1"); err != nil {
		t.Fatal(err)
	}
	st.Exec(ctx, `UPDATE devices SET pubkey = ? WHERE id = 'sign-1'`, []byte("key"))
	rev0, _ := st.Revision(ctx)
	at := time.Unix(1_800_000_000, 0)
	if err := st.RetireDevice(ctx, "sign-1", at); err != nil {
		t.Fatal(err)
	}
	if rev, _ := st.Revision(ctx); rev <= rev0 {
		t.Error("no revision bump")
	}
	if err := st.RetireDevice(ctx, "sign-1", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("retired twice: %v", err)
	}
	d, err := st.Device(ctx, "sign-1")
	if err != nil || d.RetiredAt != at.Unix() || string(d.PubKey) != "key" {
		t.Errorf("retired device %+v %v: kept with its key", d, err)
	}
	for _, h := range must(st.DesiredHeads(ctx)) {
		if h.ID == "sign-1" {
			t.Error("retired device has a desired head")
		}
	}
	if ds, _ := st.Devices(ctx); len(ds) != 5 {
		t.Errorf("devices in use: %d", len(ds))
	}
	if ds, _ := st.DevicesWith(ctx, ListOptions{IncludeRetired: true}); len(ds) != 6 {
		t.Errorf("all devices: %d", len(ds))
	}
	if as, _ := st.AllAssignments(ctx); len(as["sign-1"]) != 0 {
		t.Errorf("retired device keeps assignments %+v", as)
	}
	if _, err := st.ResolveTargets(ctx, []Target{{TargetDevice, "sign-1"}}, []string{"led"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("retired device resolved: %v", err)
	}
	if err := st.TagDevice(ctx, "sign-1", []string{"x"}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag a retired device: %v", err)
	}
	if err := st.AddDevice(ctx, Device{ID: "sign-1", CredSalt: []byte{1}, CredHash: []byte{2}}); !errors.Is(err, ErrExists) {
		t.Errorf("re-add a retired device: %v", err)
	}
	if ok, _ := st.PinKey(ctx, "sign-1", []byte("k2")); ok {
		t.Error("pinned a key for a retired device")
	}
}

func TestRetireMediaAndPlaylists(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	now := time.Unix(1_800_000_000, 0)
	text, voice := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	st.PutMedia(ctx, Media{SHA256: text, Kind: "text", Name: "t.txt", Size: 3})
	st.PutMedia(ctx, Media{SHA256: voice, Kind: "audio", Name: "v.wav", Size: 3, DurationMS: 1000})
	st.CreatePlaylist(ctx, Playlist{Name: "door", Output: "led", Items: []PlaylistItem{{SHA256: text, DurationMS: 1000}}})
	st.CreatePlaylist(ctx, Playlist{Name: "lobby", Output: "led", Items: []PlaylistItem{{SHA256: text, DurationMS: 1000}}})
	if err := st.CreateCampaign(ctx, Campaign{Name: "c1", Output: "led", Targets: []Target{{TargetNode, "town"}}, Playlists: []string{"door"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AssignPlaylist(ctx, "lobby", "sign-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAlert(ctx, protocol.Alert{Targets: []string{"atm-1"}, Outputs: []string{"audio"},
		Items: []protocol.Item{{SHA256: voice, Size: 3, Kind: "audio", DurationMS: 1000}}, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}, now); err != nil {
		t.Fatal(err)
	}

	err := st.RetireMedia(ctx, "t.txt", now)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "door, lobby") {
		t.Errorf("retire media in playlists: %v", err)
	}
	err = st.RetireMedia(ctx, "v.wav", now)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "a-") {
		t.Errorf("retire an alert's voice: %v", err)
	}
	if err := st.RetireMedia(ctx, "v.wav", now.Add(2*time.Hour)); err != nil {
		t.Errorf("retire a voice once its alert expired: %v", err)
	}

	err = st.RetirePlaylist(ctx, "door", now)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "c1") {
		t.Errorf("retire a campaign's playlist: %v", err)
	}
	err = st.RetirePlaylist(ctx, "lobby", now)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sign-1 led") {
		t.Errorf("retire an assigned playlist: %v", err)
	}
	if err := st.UnassignPlaylist(ctx, "sign-1", "led"); err != nil {
		t.Fatal(err)
	}
	if err := st.UnassignPlaylist(ctx, "sign-1", "led"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unassign twice: %v", err)
	}
	if err := st.EndCampaign(ctx, "c1", now.Unix()); err != nil {
		t.Fatal(err)
	}
	rev0, _ := st.Revision(ctx)
	for _, p := range []string{"door", "lobby"} {
		if err := st.RetirePlaylist(ctx, p, now); err != nil {
			t.Fatal(err)
		}
	}
	if rev, _ := st.Revision(ctx); rev <= rev0 {
		t.Error("no revision bump")
	}
	if err := st.RetirePlaylist(ctx, "door", now); !errors.Is(err, ErrInvalid) {
		t.Errorf("retired twice: %v", err)
	}
	if err := st.RetirePlaylist(ctx, "ghost", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("retire a missing playlist: %v", err)
	}
	if ps, _ := st.Playlists(ctx, ListOptions{}); len(ps) != 0 {
		t.Errorf("retired playlists listed %+v", ps)
	}
	if ps, _ := st.Playlists(ctx, ListOptions{IncludeRetired: true}); len(ps) != 2 || ps[0].RetiredAt != now.Unix() || len(ps[0].Items) != 1 {
		t.Errorf("all playlists %+v", ps)
	}
	if err := st.AssignPlaylist(ctx, "door", "sign-1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("assign a retired playlist: %v", err)
	}
	if err := st.EditPlaylist(ctx, Playlist{Name: "door"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("edit a retired playlist: %v", err)
	}
	if err := st.CreatePlaylist(ctx, Playlist{Name: "door", Output: "led"}); !errors.Is(err, ErrExists) {
		t.Errorf("re-create a retired playlist: %v", err)
	}

	if err := st.RetireMedia(ctx, "t.txt", now); err != nil {
		t.Fatal(err)
	}
	if err := st.RetireMedia(ctx, "t.txt", now); !errors.Is(err, ErrInvalid) {
		t.Errorf("retired twice: %v", err)
	}
	if ms, _ := st.ListMedia(ctx); len(ms) != 0 {
		t.Errorf("retired media listed %+v", ms)
	}
	if ms, _ := st.ListMediaWith(ctx, ListOptions{IncludeRetired: true}); len(ms) != 2 {
		t.Errorf("all media %+v", ms)
	}
	if m, err := st.Media(ctx, "t.txt"); err != nil || m.RetiredAt != now.Unix() {
		t.Errorf("retired media still found by name: %+v %v", m, err)
	}
	newText := strings.Repeat("ef", 32)
	st.PutMedia(ctx, Media{SHA256: newText, Kind: "text", Name: "t.txt", Size: 4})
	if m, err := st.Media(ctx, "t.txt"); err != nil || m.SHA256 != newText {
		t.Errorf("a name shared with retired media: %+v %v, want the one in use", m, err)
	}
	err = st.CreatePlaylist(ctx, Playlist{Name: "new", Output: "led", Items: []PlaylistItem{{SHA256: text, DurationMS: 1000}}})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("new playlist with retired media: %v", err)
	}
	err = st.CreatePlaylist(ctx, Playlist{Name: "new", Output: "led", Items: []PlaylistItem{{SHA256: strings.Repeat("ee", 32), DurationMS: 1000}}})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("new playlist with missing media: %v", err)
	}
}

func TestAssignNeedsTheOutput(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	sha := strings.Repeat("ab", 32)
	st.PutMedia(ctx, Media{SHA256: sha, Kind: "text", Name: "t.txt", Size: 3})
	st.CreatePlaylist(ctx, Playlist{Name: "tickets", Output: "printer", Items: []PlaylistItem{{SHA256: sha, DurationMS: 1000}}})
	err := st.AssignPlaylist(ctx, "tickets", "sign-1")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "has no output printer (it has led)") {
		t.Errorf("printer playlist on a sign: %v", err)
	}
	if err := st.AssignPlaylist(ctx, "tickets", "pr-1"); err != nil {
		t.Fatal(err)
	}
	// A sign's printer attached later.
	if err := st.SetDeviceOutputs(ctx, "sign-1", map[string]string{"led": "alpha-sign-serial", "printer": "escpos-58mm"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AssignPlaylist(ctx, "tickets", "sign-1"); err != nil {
		t.Errorf("after adding a printer: %v", err)
	}
	if err := st.SetDeviceOutputs(ctx, "sign-1", map[string]string{"radio": "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad output: %v", err)
	}
	if o, _ := st.DeviceOutputs(ctx, "hall-1"); !maps.Equal(o, map[string]string{"tv": "hdmi-tv-mpv", "audio": "atm-speaker-alsa"}) {
		t.Errorf("hall outputs %v", o)
	}
	if _, err := st.DeviceOutputs(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("outputs of a missing device: %v", err)
	}
}

func TestCampaignNameReuse(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	townFleet(t, st)
	sha := strings.Repeat("ab", 32)
	st.PutMedia(ctx, Media{SHA256: sha, Kind: "text", Name: "t.txt", Size: 3})
	st.CreatePlaylist(ctx, Playlist{Name: "door", Output: "led", Items: []PlaylistItem{{SHA256: sha, DurationMS: 1000}}})
	c := Campaign{Name: "hotline-96110", Output: "led", Targets: []Target{{TargetNode, "town"}}, Playlists: []string{"door"}}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := st.CreateCampaign(ctx, c)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "campaign end hotline-96110") {
		t.Fatalf("running campaign again: %v", err)
	}
	if err := st.EndCampaign(ctx, c.Name, 100); err != nil {
		t.Fatal(err)
	}
	c.Priority = 7
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatalf("re-use an ended campaign's name: %v", err)
	}
	if err := st.EndCampaign(ctx, c.Name, 200); err != nil {
		t.Fatal(err)
	}
	if err := st.EndCampaign(ctx, c.Name, 300); !errors.Is(err, ErrInvalid) {
		t.Errorf("end with only ended ones left: %v", err)
	}
	c.Priority = 9
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	running, _ := st.Campaigns(ctx, false)
	if len(running) != 1 || running[0].Priority != 9 {
		t.Errorf("running %+v", running)
	}
	all, _ := st.Campaigns(ctx, true)
	if len(all) != 3 || all[0].EndedAt != 100 || all[1].EndedAt != 200 || all[1].Priority != 7 || all[2].EndedAt != 0 ||
		len(all[0].Targets) != 1 || len(all[0].Playlists) != 1 || all[0].ID >= all[1].ID {
		t.Errorf("history %+v", all)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMigrateLifecycle upgrades a database written by the previous schema:
// campaigns keep their history, duplicate people are retired, and alerts
// already pushed get their recipients frozen.
func TestMigrateLifecycle(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+dir+"/guardcast.db?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"migrations/001_init.sql", "migrations/002_org.sql"} {
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range splitSQL(string(body)) {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		db.ExecContext(ctx, `INSERT INTO schema_migrations(name) VALUES (?)`, name)
	}
	for _, q := range []string{
		`INSERT INTO org_nodes(id, kind, name, parent, tz, created_at) VALUES ('town', 'town', 'Town', NULL, 'Asia/Shanghai', 1)`,
		`INSERT INTO org_nodes(id, kind, name, parent, tz, created_at) VALUES ('site', 'site', 'Site', 'town', '', 1)`,
		`INSERT INTO devices(id, profile, cred_salt, cred_hash, created_at, node) VALUES ('sign', 'alpha-sign-serial', x'01', x'02', 1, 'site')`,
		`INSERT INTO devices(id, profile, cred_salt, cred_hash, created_at, node) VALUES ('pr', 'escpos-58mm', x'01', x'02', 1, 'site')`,
		`INSERT INTO org_people(node, role, name, phone) VALUES ('site', 'liaison', 'Li', '1')`,
		`INSERT INTO org_people(node, role, name, phone) VALUES ('site', 'liaison', 'Li', '1')`,
		`INSERT INTO org_people(node, role, name, phone) VALUES ('site', 'liaison', 'Li', '2')`,
		`INSERT INTO media(sha256, kind, mime, size, name, title, added_at) VALUES ('aa', 'text', 'text/plain', 1, 't', 't', 1)`,
		`INSERT INTO playlists(name, output, created_at) VALUES ('door', 'led', 1)`,
		`INSERT INTO campaigns(name, output, created_at, ended_at) VALUES ('old', 'led', 1, 5)`,
		`INSERT INTO campaigns(name, output, created_at) VALUES ('live', 'led', 2)`,
		`INSERT INTO campaign_targets(campaign, kind, value) VALUES ('old', 'node', 'town'), ('live', 'tag', 'x')`,
		`INSERT INTO campaign_playlists(campaign, pos, playlist) VALUES ('old', 0, 'door'), ('live', 0, 'door')`,
		`INSERT INTO alerts(id, outputs, issued_at, pushed_ms, expires_at) VALUES ('a-1', 'led,tv', 1, 1000, 9999999999)`,
		`INSERT INTO alert_targets(alert, target) VALUES ('a-1', 'town')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	st, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.Campaigns(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name != "live" || cs[0].Targets[0].Value != "x" || cs[1].Name != "old" || cs[1].EndedAt != 5 || cs[1].Playlists[0] != "door" {
		t.Errorf("campaigns after migration %+v", cs)
	}
	ps, _ := st.People(ctx, ListOptions{})
	if len(ps) != 1 || ps[0].Phone != "1" {
		t.Errorf("people after migration %+v", ps)
	}
	rs, err := st.AlertRecipients(ctx, "a-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Recipient{{Device: "pr", Node: "site", Outputs: []string{"led", "tv"}}, {Device: "sign", Node: "site", Outputs: []string{"led", "tv"}}}
	if diff := cmp.Diff(want, rs); diff != "" {
		t.Errorf("frozen legacy recipients (-want +got):\n%s", diff)
	}
	for _, tbl := range []string{"campaign_targets", "campaign_playlists"} {
		var ddl string
		if err := st.db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = ?`, tbl).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, `REFERENCES "campaigns"(id)`) && !strings.Contains(ddl, `REFERENCES campaigns(id)`) {
			t.Errorf("%s after the rebuild: %s", tbl, ddl)
		}
	}
	if rows, err := st.db.QueryContext(ctx, `PRAGMA foreign_key_check`); err != nil {
		t.Fatal(err)
	} else {
		if rows.Next() {
			t.Error("foreign key violations after migration")
		}
		rows.Close()
	}
	outs, _ := st.AllDeviceOutputs(ctx)
	if !maps.Equal(outs["pr"], map[string]string{"printer": "escpos-58mm"}) || !maps.Equal(outs["sign"], map[string]string{"led": "alpha-sign-serial"}) {
		t.Errorf("derived outputs %v", outs)
	}
}
