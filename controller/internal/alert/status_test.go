package alert

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// TestStatusCountsFrozenRecipients is the tester's report: a push to the
// town reached its signs and TVs; a site added afterwards must not turn
// "4 devices" into "4 of 6", printers are no recipients of a screen
// warning, and a person entered twice is called once.
func TestStatusCountsFrozenRecipients(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddNodes(ctx, []org.Node{
		{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai"},
		{ID: "b1", Kind: org.KindSite, Name: "B1", Parent: "town"},
		{ID: "b2", Kind: org.KindSite, Name: "B2", Parent: "town"},
	}))
	dev := func(id, profile, node string) {
		t.Helper()
		must(st.AddDevice(ctx, store.Device{ID: id, Profile: profile, Node: node, CredSalt: []byte{1}, CredHash: []byte{2}}))
	}
	dev("sign-1", "alpha-sign-serial", "b1")
	dev("tv-1", "hdmi-tv-mpv", "b1")
	dev("pr-1", "escpos-58mm", "b1")
	dev("sign-2", "alpha-sign-tcp", "b2")
	dev("tv-2", "hdmi-tv-mpv", "b2")
	dev("pr-2", "tspl-label-60x40", "b2")
	_, err = st.AddPerson(ctx, org.Person{Node: "b1", Role: "first_responsible", Name: "Li", Phone: "123"})
	must(err)
	_, err = st.AddPerson(ctx, org.Person{Node: "b1", Role: "liaison", Name: "Li", Phone: "123"})
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("the same person twice: %v", err)
	}

	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	a, err := Push(ctx, st, Request{To: []string{"town"}, Text: "warning"}, now)
	must(err)
	must(st.AddNode(ctx, org.Node{ID: "b3", Kind: org.KindSite, Name: "B3", Parent: "town"}))
	dev("sign-3", "alpha-sign-tcp", "b3")
	dev("tv-3", "hdmi-tv-mpv", "b3")
	must(st.CommitAcks(ctx, []store.AckRow{
		{Ack: protocol.Ack{V: 1, Device: "sign-1", Event: protocol.AckReceived, Version: 1, Alert: a.ID, At: 1}, ReceivedMS: now.UnixMilli() + 100},
		{Ack: protocol.Ack{V: 1, Device: "sign-1", Event: protocol.AckFirstPlay, Version: 1, Alert: a.ID, Output: "led", At: 1}, ReceivedMS: now.UnixMilli() + 200},
		// The new site's sign signs for it too: it was shown the alert,
		// but it is not counted against the push.
		{Ack: protocol.Ack{V: 1, Device: "sign-3", Event: protocol.AckReceived, Version: 1, Alert: a.ID, At: 1}, ReceivedMS: now.UnixMilli() + 100},
	}))
	must(st.RetireDevice(ctx, "tv-2", now.Add(time.Minute)))

	s, tree, err := StatusOf(ctx, st, a.ID)
	must(err)
	if s.Total.Devices != 4 || s.Total.Signed != 1 || s.Total.Received != 1 {
		t.Errorf("total %+v, want 4 devices, 1 received, 1 signed", s.Total)
	}
	var ids []string
	for _, d := range s.Devices {
		ids = append(ids, d.Device+"="+strings.Join(d.Outputs, ","))
	}
	if got := strings.Join(ids, " "); got != "sign-1=led sign-2=led tv-1=tv tv-2=tv" {
		t.Errorf("recipients %s", got)
	}
	lag := Laggards(s, tree)
	var names []string
	for _, l := range lag {
		names = append(names, l.Device)
		if l.Device == "tv-1" && len(l.People) != 1 {
			t.Errorf("tv-1's people %+v: Li once", l.People)
		}
	}
	if got := strings.Join(names, " "); got != "tv-1 sign-2" {
		t.Errorf("laggards %s, want tv-1 sign-2 (tv-2 is retired)", got)
	}

	// Printers cannot show a screen warning: a push to them alone is refused.
	if _, err := Push(ctx, st, Request{To: []string{"pr-1", "pr-2"}, Text: "warning"}, now); !errors.Is(err, ErrBadRequest) ||
		!strings.Contains(err.Error(), "no device with any of the outputs led, tv") {
		t.Errorf("push to printers on screens: %v", err)
	}
}

func TestResponsibleListsEachPersonOnce(t *testing.T) {
	tree, err := org.Build([]org.Node{{ID: "b1", Kind: org.KindSite, Name: "B1", TZ: "UTC"}}, []org.Person{
		{ID: 1, Node: "b1", Role: "first_responsible", Name: "Li", Phone: "123"},
		{ID: 2, Node: "b1", Role: "liaison", Name: "Li", Phone: "123"},
		{ID: 3, Node: "b1", Role: "first_responsible", Name: "Li", Phone: "999"},
		{ID: 4, Node: "b1", Role: "liaison", Name: "Wang", Phone: "456"},
	})
	if err != nil {
		t.Fatal(err)
	}
	holder, people := Responsible(tree, "b1")
	var ids []int64
	for _, p := range people {
		ids = append(ids, p.ID)
	}
	if holder != "b1" || len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
		t.Errorf("Responsible = %s %v, want b1 [1 4]", holder, ids)
	}
	if _, people := Responsible(tree, "nowhere"); people == nil || len(people) != 0 {
		t.Errorf("no people: %#v, want an empty list", people)
	}
}
