package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/internal/protocol"
)

func addTree(t *testing.T, st *Store) {
	t.Helper()
	ctx := context.Background()
	for _, n := range []org.Node{
		{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai"},
		{ID: "bank", Kind: org.KindUnit, Name: "Bank", Parent: "town"},
		{ID: "branch-1", Kind: org.KindSite, Name: "Branch 1", Parent: "bank"},
		{ID: "branch-2", Kind: org.KindSite, Name: "Branch 2", Parent: "bank"},
	} {
		if err := st.AddNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOrgNodes(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	addTree(t, st)
	rev0, _ := st.Revision(ctx)

	if err := st.AddNode(ctx, org.Node{ID: "bank", Kind: org.KindUnit, Name: "again", Parent: "town"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate node: %v", err)
	}
	if err := st.AddNode(ctx, org.Node{ID: "lone", Kind: org.KindSite, Name: "Lone site"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "time zone") {
		t.Errorf("site without a zone: %v", err)
	}
	// Taking the town's zone away would leave its sites without one.
	empty := ""
	if err := st.EditNode(ctx, "town", NodeEdit{TZ: &empty}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zone removed from under sites: %v", err)
	}
	// A unit cannot move under its own site.
	site := "branch-1"
	if err := st.EditNode(ctx, "bank", NodeEdit{Parent: &site}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unit moved under a site: %v", err)
	}
	if err := st.EditNode(ctx, "ghost", NodeEdit{TZ: &empty}); !errors.Is(err, ErrNotFound) {
		t.Errorf("edit of a missing node: %v", err)
	}
	berlin, name := "Europe/Berlin", "Branch One"
	quiet := []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}}
	if err := st.EditNode(ctx, "branch-1", NodeEdit{TZ: &berlin, Name: &name, Quiet: &quiet}); err != nil {
		t.Fatal(err)
	}
	tree, err := st.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tree.Node("branch-1"); n.Name != name || tree.TZ("branch-1") != berlin || len(tree.Quiet("branch-1")) != 1 {
		t.Errorf("after edit: %+v tz %s quiet %v", n, tree.TZ("branch-1"), tree.Quiet("branch-1"))
	}
	if tree.Quiet("branch-2") != nil {
		t.Error("quiet hours leaked to a sibling")
	}
	var inherit []protocol.Daypart
	if err := st.EditNode(ctx, "branch-1", NodeEdit{Quiet: &inherit}); err != nil {
		t.Fatal(err)
	}
	if tree, _ := st.Tree(ctx); tree.Quiet("branch-1") != nil {
		t.Error("quiet hours not back to inherited")
	}
	if rev, _ := st.Revision(ctx); rev <= rev0 {
		t.Error("node edits did not bump the revision")
	}

	if _, err := st.AddPerson(ctx, org.Person{Node: "bank", Role: org.RoleFirstResponsible, Name: "Wang", Phone: "138 0000 0001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddPerson(ctx, org.Person{Node: "ghost", Role: org.RoleLiaison, Name: "x", Phone: "1"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("person on a missing node: %v", err)
	}
	if _, err := st.AddPerson(ctx, org.Person{Node: "bank", Role: "boss", Name: "x", Phone: "1"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad role: %v", err)
	}
	tree, _ = st.Tree(ctx)
	if h, ps := tree.Responsible("branch-2"); h != "bank" || len(ps) != 1 {
		t.Errorf("Responsible = %s %v", h, ps)
	}
}

func TestDevicesInTheTree(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	addTree(t, st)
	dev := func(id, node string, tags ...string) Device {
		return Device{ID: id, Node: node, Tags: tags, CredSalt: []byte{1}, CredHash: []byte{2}}
	}
	if err := st.AddDevice(ctx, dev("atm-1", "branch-1", "atm", "lobby")); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, dev("old", "")); err != nil {
		t.Fatal(err)
	}
	// IDs are one namespace with nodes; devices only go on sites.
	for _, tc := range []struct {
		d    Device
		want error
	}{
		{dev("bank", ""), ErrExists},
		{dev("x", "bank"), ErrInvalid},
		{dev("y", "ghost"), ErrNotFound},
		{dev("z", "branch-1", "Bad Tag"), ErrInvalid},
	} {
		if err := st.AddDevice(ctx, tc.d); !errors.Is(err, tc.want) {
			t.Errorf("AddDevice(%s on %q): %v, want %v", tc.d.ID, tc.d.Node, err, tc.want)
		}
	}
	if err := st.AddNode(ctx, org.Node{ID: "atm-1", Kind: org.KindSite, Name: "clash", Parent: "bank"}); !errors.Is(err, ErrExists) {
		t.Errorf("node with a device's ID: %v", err)
	}
	d, _ := st.Device(ctx, "atm-1")
	if d.Node != "branch-1" {
		t.Errorf("node %q", d.Node)
	}
	if err := st.MoveDevice(ctx, "old", "branch-2"); err != nil {
		t.Fatal(err)
	}
	if err := st.MoveDevice(ctx, "old", "bank"); !errors.Is(err, ErrInvalid) {
		t.Errorf("move to a unit: %v", err)
	}
	if err := st.MoveDevice(ctx, "ghost", "branch-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("move of a missing device: %v", err)
	}
	if err := st.TagDevice(ctx, "atm-1", []string{"doorway"}, []string{"lobby"}); err != nil {
		t.Fatal(err)
	}
	tags, _ := st.DeviceTags(ctx)
	if got := strings.Join(tags["atm-1"], ","); got != "atm,doorway" {
		t.Errorf("tags %q", got)
	}
	heads, _ := st.DesiredHeads(ctx)
	if len(heads) != 2 || heads[1].ID != "old" || heads[1].Node != "branch-2" {
		t.Errorf("heads %+v", heads)
	}
}

func TestCampaigns(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	addTree(t, st)
	// Campaign targets must reach a device with the campaign's output.
	if err := st.AddDevice(ctx, Device{ID: "atm-1", Profile: "atm-speaker-alsa", CredSalt: []byte{1}, CredHash: []byte{2}, Node: "branch-1", Tags: []string{"atm"}}); err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("12", 32)
	st.PutMedia(ctx, Media{SHA256: sha, Kind: "audio", Name: "v.wav", Size: 3, DurationMS: 4000})
	st.CreatePlaylist(ctx, Playlist{Name: "voice", Output: "audio", Items: []PlaylistItem{{SHA256: sha, DurationMS: 4000, ValidFrom: "2026-12-01"}}})
	st.CreatePlaylist(ctx, Playlist{Name: "door", Output: "led", Items: []PlaylistItem{{SHA256: sha, DurationMS: 4000}}})
	c := Campaign{Name: "atm-voice", Output: "audio", Targets: []Target{{TargetNode, "bank"}, {TargetTag, "atm"}},
		Playlists: []string{"voice"}, Priority: 5, From: "2026-11-01", Until: "2027-01-01",
		Dayparts: []protocol.Daypart{{Days: "mon-fri", Start: "09:00", End: "17:00"}}, MinEveryMS: 600000}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		edit func(*Campaign)
		want error
	}{
		{"again", func(c *Campaign) {}, ErrExists},
		{"wrong output", func(c *Campaign) { c.Name = "x"; c.Playlists = []string{"door"} }, ErrInvalid},
		{"missing playlist", func(c *Campaign) { c.Name = "x"; c.Playlists = []string{"nope"} }, ErrNotFound},
		{"missing node", func(c *Campaign) { c.Name = "x"; c.Targets = []Target{{TargetNode, "ghost"}} }, ErrNotFound},
		{"share over 1", func(c *Campaign) { c.Name = "x"; c.MinShare = 1.5 }, ErrInvalid},
		{"until before from", func(c *Campaign) { c.Name = "x"; c.Until = "2026-10-01" }, ErrInvalid},
		{"trigger with quota", func(c *Campaign) { c.Name = "x"; c.Trigger = "large-transfer" }, ErrInvalid},
		{"no targets", func(c *Campaign) { c.Name = "x"; c.Targets = nil }, ErrInvalid},
	}
	for _, tt := range bad {
		cc := c
		tt.edit(&cc)
		if err := st.CreateCampaign(ctx, cc); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	cs, err := st.Campaigns(ctx, false)
	if err != nil || len(cs) != 1 {
		t.Fatalf("campaigns %+v %v", cs, err)
	}
	got := cs[0]
	if got.MinEveryMS != 600000 || len(got.Targets) != 2 || got.Dayparts[0].Days != "mon-fri" || got.Playlists[0] != "voice" {
		t.Errorf("round trip: %+v", got)
	}
	items, _ := st.AllPlaylistItems(ctx)
	if items["voice"][0].ValidFrom != "2026-12-01" {
		t.Errorf("item validity lost: %+v", items["voice"])
	}
	if err := st.EndCampaign(ctx, "atm-voice", 100); err != nil {
		t.Fatal(err)
	}
	if err := st.EndCampaign(ctx, "atm-voice", 100); !errors.Is(err, ErrInvalid) {
		t.Errorf("ended twice: %v", err)
	}
	if cs, _ := st.Campaigns(ctx, false); len(cs) != 0 {
		t.Error("ended campaign still listed as running")
	}
	if cs, _ := st.Campaigns(ctx, true); len(cs) != 1 || cs[0].EndedAt != 100 {
		t.Errorf("all campaigns %+v", cs)
	}
}

func TestAlertsAndAcks(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	addTree(t, st)
	st.AddDevice(ctx, Device{ID: "d1", Node: "branch-1", CredSalt: []byte{1}, CredHash: []byte{2}})
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.Local)
	a := protocol.Alert{Targets: []string{"town"}, Outputs: []string{"led"}, Text: "warning", IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	var ids []string
	for i := 0; i < 3; i++ {
		sa, err := st.CreateAlert(ctx, a, now)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sa.ID)
	}
	if want := []string{"a-20261127-0001", "a-20261127-0002", "a-20261127-0003"}; strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("IDs %v, want %v", ids, want)
	}
	bad := a
	bad.Targets = []string{"nowhere"}
	if _, err := st.CreateAlert(ctx, bad, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("alert to a missing node: %v", err)
	}
	if err := st.CancelAlert(ctx, ids[1], now); err != nil {
		t.Fatal(err)
	}
	active, _ := st.Alerts(ctx, now)
	if len(active) != 2 || active[0].ID != ids[2] {
		t.Errorf("active alerts %+v", active)
	}
	if next, _ := st.NextAlertExpiry(ctx, now); next != now.Add(time.Hour).Unix() {
		t.Errorf("next expiry %d", next)
	}
	got, err := st.Alert(ctx, ids[0])
	if err != nil || got.Targets[0] != "town" || got.PushedMS != now.UnixMilli() {
		t.Errorf("Alert = %+v %v", got, err)
	}

	ack := func(ev string, version uint64, alert, output string, recv int64) AckRow {
		return AckRow{Ack: protocol.Ack{V: 1, Device: "d1", Event: ev, Version: version, Alert: alert, Output: output, At: 1}, ReceivedMS: recv}
	}
	rows := []AckRow{ack("received", 3, ids[0], "", 10), ack("first_play", 3, ids[0], "led", 20), ack("adopted", 3, "", "", 30)}
	for i := 0; i < 2; i++ { // a resend changes nothing, not even the receive time
		if err := st.CommitAcks(ctx, rows); err != nil {
			t.Fatal(err)
		}
		for j := range rows {
			rows[j].ReceivedMS += 1000
		}
	}
	got2, _ := st.Acks(ctx, AckFilter{Alert: ids[0]})
	if len(got2) != 2 || got2[0].ReceivedMS != 10 || got2[1].ReceivedMS != 20 {
		t.Errorf("acks %+v", got2)
	}
	// The adopted version only moves forward.
	st.CommitAcks(ctx, []AckRow{ack("adopted", 2, "", "", 40)})
	if d, _ := st.Device(ctx, "d1"); d.AdoptedVersion != 3 || d.AdoptedMS != 30 {
		t.Errorf("adopted %d at %d", d.AdoptedVersion, d.AdoptedMS)
	}
}

func TestSetDesiredBatch(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	var ds []Device
	for _, id := range []string{"a", "b"} {
		ds = append(ds, Device{ID: id, CredSalt: []byte{1}, CredHash: []byte{2}})
	}
	if err := st.AddDevices(ctx, ds); err != nil {
		t.Fatal(err)
	}
	st.SetDesired(ctx, "b", 5, "h", []byte("doc"), 1, 2)
	stored, err := st.SetDesiredBatch(ctx, []DesiredWrite{{ID: "a", Version: 1, Hash: "x", Doc: []byte("A")}, {ID: "b", Version: 5, Doc: []byte("B")}})
	if err != nil || !stored[0] || stored[1] {
		t.Fatalf("stored %v, %v", stored, err)
	}
	docs, _ := st.DesiredDocs(ctx, []string{"a", "b"})
	if string(docs["a"]) != "A" || string(docs["b"]) != "doc" {
		t.Errorf("docs %q", docs)
	}
}
