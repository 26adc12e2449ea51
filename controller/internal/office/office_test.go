package office_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/clock"
)

type fixture struct {
	core  *office.Core
	st    *store.Store
	log   *adminlog.Log
	users *auth.Service
	clk   *clock.Fake
	woken int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lib, err := media.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := schedule.LoadOrCreateKey(dir)
	lkey, _ := adminlog.LoadOrCreateKey(dir)
	clk := clock.NewFake(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	comp := schedule.NewCompiler(st, key, schedule.Options{MediaURL: "http://127.0.0.1:1/media/"}, clk.Now)
	opts := auth.DefaultOptions
	opts.Hash = auth.CheapHash
	f := &fixture{st: st, clk: clk, log: adminlog.New(st, lkey, clk), users: auth.New(st, clk, opts)}
	b := &office.StoreBackend{Store: st, Lib: lib, Key: comp.PublicKey(),
		AddMedia: func(ctx context.Context, path, name, title string) (media.Info, error) {
			info, err := lib.Add(ctx, path, name)
			if err != nil {
				return info, err
			}
			return info, st.PutMedia(ctx, store.Media{SHA256: info.SHA256, Kind: string(info.Kind), MIME: info.MIME, Size: info.Size,
				Name: info.Name, Title: info.Name, DurationMS: info.DurationMS})
		},
		DefaultsFn: func() office.AgentDefaults {
			return office.AgentDefaults{BrokerURL: "tcp://127.0.0.1:1883", MediaURL: "http://127.0.0.1:8081/media/"}
		}}
	f.core = office.New(b, office.Options{Users: f.users, Audit: f.log, Clock: clk, Changed: func() { f.woken++ }})
	return f
}

func actor(name string, roles ...auth.Role) *office.Actor {
	return &office.Actor{Name: name, Roles: roles}
}

func (f *fixture) call(t *testing.T, a *office.Actor, op string, req any) (any, error) {
	t.Helper()
	b, _ := json.Marshal(req)
	return f.core.Invoke(context.Background(), a, op, b)
}

func (f *fixture) must(t *testing.T, a *office.Actor, op string, req any) any {
	t.Helper()
	v, err := f.call(t, a, op, req)
	if err != nil {
		t.Fatalf("%s as %s: %v", op, a.Name, err)
	}
	return v
}

var (
	admin    = actor("root", auth.RoleAdmin)
	editor   = actor("li", auth.RoleEditor)
	approver = actor("zhang", auth.RoleApprover)
	issuer   = actor("police", auth.RoleAlertIssuer)
	auditor  = actor("audit", auth.RoleAuditor)
)

func TestInvokeRefusals(t *testing.T) {
	f := newFixture(t)
	if _, err := f.call(t, nil, "org.add", office.NodeRequest{ID: "town", Kind: "town", Name: "T", TZ: "Asia/Shanghai"}); !errors.Is(err, office.ErrUnauthenticated) {
		t.Fatalf("nobody: %v", err)
	}
	if _, err := f.call(t, editor, "org.add", office.NodeRequest{ID: "town", Kind: "town", Name: "T", TZ: "Asia/Shanghai"}); !errors.Is(err, office.ErrForbidden) {
		t.Fatalf("editor adds a node: %v", err)
	}
	if _, err := f.call(t, admin, "no.such.op", nil); !errors.Is(err, office.ErrUnknownOp) {
		t.Fatalf("unknown op: %v", err)
	}
	if _, err := f.core.Invoke(context.Background(), admin, "org.add", []byte(`{"id":"t","colour":"red"}`)); !errors.Is(err, store.ErrInvalid) ||
		!strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown field: %v", err)
	}
	es, _ := f.log.Entries(context.Background(), adminlog.Filter{})
	if len(es) != 1 || es[0].Action != "denied" || es[0].Actor != "li" || es[0].Target != "org.add" {
		t.Fatalf("admin log %+v, want one denied entry for li", es)
	}
}

// TestChangeLifecycle: pending → approved by someone else, rejected with
// a reason, withdrawn only by its author; every step on the admin log.
func TestChangeLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(t, admin, "org.add", office.NodeRequest{ID: "town", Kind: org.KindTown, Name: "城关镇", TZ: "Asia/Shanghai"})
	f.must(t, admin, "org.add", office.NodeRequest{ID: "bank", Kind: org.KindSite, Name: "农商银行", Parent: "town"})
	f.must(t, admin, "device.add", office.DeviceRequest{ID: "door", Profile: "virtual-led", Node: "bank"})
	if _, err := f.core.AddMedia(ctx, *editor, "../../../media/hotline-zh.txt", "hotline-zh.txt", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.core.AddMedia(ctx, *auditor, "../../../media/hotline-en.txt", "hotline-en.txt", ""); !errors.Is(err, office.ErrForbidden) {
		t.Fatalf("auditor uploads: %v", err)
	}
	pl := f.must(t, editor, "playlist.create", office.PlaylistRequest{Name: "door", Output: "led", Items: []office.PlaylistItemSpec{{Media: "hotline-zh.txt", Seconds: 5}}}).(office.ChangeResult)
	if pl.Change.State != store.ChangePending || pl.Change.Author != "li" {
		t.Fatalf("playlist change %+v", pl.Change)
	}
	// A campaign may not place a playlist still awaiting approval.
	if _, err := f.call(t, editor, "campaign.create", schedule.CampaignRequest{Name: "hotline", Targets: []string{"node:town"}, Output: "led", Playlists: []string{"door"}}); err == nil ||
		!strings.Contains(err.Error(), "not approved yet") {
		t.Fatalf("campaign on a pending playlist: %v", err)
	}
	if _, err := f.call(t, editor, "change.approve", office.ChangeRef{ID: pl.Change.ID}); !errors.Is(err, office.ErrForbidden) {
		t.Fatalf("editor approves: %v", err)
	}
	if _, err := f.call(t, actor("li", auth.RoleEditor, auth.RoleApprover), "change.approve", office.ChangeRef{ID: pl.Change.ID}); !errors.Is(err, office.ErrForbidden) {
		t.Fatalf("author approves their own: %v", err)
	}
	f.clk.Advance(time.Minute)
	woken := f.woken
	v := f.must(t, approver, "change.approve", office.ChangeRef{ID: pl.Change.ID}).(office.ChangeView)
	if v.State != store.ChangeApproved || v.DecidedBy != "zhang" || v.DecidedMS != f.clk.Now().UnixMilli() || f.woken == woken {
		t.Fatalf("approved %+v (woken %d→%d)", v, woken, f.woken)
	}
	// A campaign whose target reaches no device with its output is refused.
	if _, err := f.call(t, editor, "campaign.create", schedule.CampaignRequest{Name: "voice", Targets: []string{"node:town"}, Output: "audio", Playlists: []string{"door"}}); err == nil {
		t.Fatal("audio campaign on a town with only an LED sign was accepted")
	}
	cr := f.must(t, editor, "campaign.create", schedule.CampaignRequest{Name: "hotline", Targets: []string{"node:town"}, Output: "led", Playlists: []string{"door"}}).(office.ChangeResult)
	if cr.Reach == nil || cr.Reach.ByOutput["led"] != 1 {
		t.Fatalf("campaign reach %+v", cr.Reach)
	}
	if _, err := f.call(t, approver, "change.reject", office.ChangeRef{ID: cr.Change.ID}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("reject without a reason: %v", err)
	}
	rj := f.must(t, approver, "change.reject", office.ChangeRef{ID: cr.Change.ID, Reason: "wrong hotline number"}).(office.ChangeView)
	if rj.State != store.ChangeRejected || rj.Note != "wrong hotline number" {
		t.Fatalf("rejected %+v", rj)
	}
	if _, err := f.call(t, approver, "change.approve", office.ChangeRef{ID: cr.Change.ID}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("approve a rejected change: %v", err)
	}
	if cs, _ := f.st.Campaigns(ctx, true); len(cs) != 0 {
		t.Fatalf("a rejected campaign was stored: %+v", cs)
	}
	// Withdraw: only the author.
	cr2 := f.must(t, editor, "campaign.create", schedule.CampaignRequest{Name: "hotline", Targets: []string{"node:town"}, Output: "led", Playlists: []string{"door"}}).(office.ChangeResult)
	if _, err := f.call(t, actor("wang", auth.RoleEditor), "change.withdraw", office.ChangeRef{ID: cr2.Change.ID}); !errors.Is(err, office.ErrForbidden) {
		t.Fatalf("someone else withdraws: %v", err)
	}
	f.must(t, editor, "change.withdraw", office.ChangeRef{ID: cr2.Change.ID})

	es, _ := f.log.Entries(ctx, adminlog.Filter{})
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	for _, want := range []string{"li:media.add", "li:playlist.create", "li:denied", "zhang:change.approve", "zhang:change.reject", "li:change.withdraw"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("admin log lacks %s: %v", want, actions)
		}
	}
	if ps := adminlog.Verify(es, f.log.PublicKey()); len(ps) != 0 {
		t.Fatalf("admin log does not verify: %v", ps)
	}
}

// TestAlertRecipientsFrozen: an alert's count is the devices it reached
// when pushed; a device added later does not change it.
func TestAlertRecipientsFrozen(t *testing.T) {
	f := newFixture(t)
	f.must(t, admin, "org.add", office.NodeRequest{ID: "town", Kind: org.KindTown, Name: "T", TZ: "Asia/Shanghai"})
	f.must(t, admin, "org.add", office.NodeRequest{ID: "s1", Kind: org.KindSite, Name: "S1", Parent: "town"})
	for _, d := range []struct{ id, profile string }{{"door", "virtual-led"}, {"printer", "virtual-printer"}} {
		f.must(t, admin, "device.add", office.DeviceRequest{ID: d.id, Profile: d.profile, Node: "s1"})
	}
	res := f.must(t, issuer, "alert.push", map[string]any{"to": []string{"town"}, "text": "x", "outputs": []string{"led", "tv"}}).(office.PushResult)
	if res.Recipients != 1 || res.Reach.ByOutput["led"] != 1 {
		t.Fatalf("push %+v reach %+v: want the LED sign only (a printer cannot show it)", res, res.Reach)
	}
	f.must(t, admin, "device.add", office.DeviceRequest{ID: "door-2", Profile: "virtual-led", Node: "s1"})
	st := f.must(t, issuer, "alert.status", office.AlertRef{ID: res.Alert.ID})
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"devices":1`) {
		t.Fatalf("status after a later device: %s", b)
	}
	if _, err := f.call(t, issuer, "alert.push", map[string]any{"to": []string{"town"}, "text": "x", "outputs": []string{"tv"}}); err == nil {
		t.Fatal("an alert to a town with no TV was accepted")
	}
	// Cancelling: issuers and approvers, not editors.
	if _, err := f.call(t, editor, "alert.cancel", office.AlertRef{ID: res.Alert.ID}); !errors.Is(err, office.ErrForbidden) {
		t.Fatalf("editor cancels: %v", err)
	}
	f.must(t, approver, "alert.cancel", office.AlertRef{ID: res.Alert.ID})
}

func TestLastAdminStays(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.users.AddUser(ctx, auth.User{Name: "boss", Roles: []auth.Role{auth.RoleAdmin}}, "long enough password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.call(t, actor(office.LocalAdmin, auth.RoleAdmin), "user.disable", office.UserRef{Name: "boss"}); err == nil ||
		!strings.Contains(err.Error(), "last admin") {
		t.Fatalf("disable the last admin: %v", err)
	}
	f.must(t, admin, "user.add", office.UserRequest{Name: "deputy", Roles: []string{"admin"}, Password: "another long password"})
	f.must(t, actor(office.LocalAdmin, auth.RoleAdmin), "user.disable", office.UserRef{Name: "boss"})
	// The admin log never holds the password.
	es, _ := f.log.Entries(ctx, adminlog.Filter{Action: "user.add"})
	b, _ := json.Marshal(es)
	if len(es) != 1 || strings.Contains(string(b), "another long password") {
		t.Fatalf("user.add log: %s", b)
	}
}
