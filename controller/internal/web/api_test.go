package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/fleet"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/serve"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/controller/internal/web"
	"github.com/guardcast/guardcast/internal/protocol"
)

// office is a controller's office side on a real loopback listener, with
// users of every role.
type testOffice struct {
	t      *testing.T
	dir    string
	st     *store.Store
	off    *serve.Office
	comp   *schedule.Compiler
	srv    *httptest.Server
	tokens map[string]string // user → API token
}

const testPassword = "correct horse battery"

// client bounds every request a test makes: a server that stops
// answering fails the test instead of hanging it.
var client = &http.Client{Timeout: 30 * time.Second}

func newOffice(t *testing.T) *testOffice {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, lib, err := serve.OpenData(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := schedule.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	comp := schedule.NewCompiler(st, key, schedule.Options{MediaURL: "http://127.0.0.1:1/media/"}, nil)
	opts := auth.DefaultOptions
	opts.Hash = auth.CheapHash
	off, err := serve.NewOffice(serve.OfficeConfig{DataDir: dir, Store: st, Lib: lib, Comp: comp, Auth: opts,
		Defaults: func() office.AgentDefaults {
			return office.AgentDefaults{BrokerURL: "tcp://127.0.0.1:1883", MediaURL: "http://127.0.0.1:8081/media/"}
		}})
	if err != nil {
		t.Fatal(err)
	}
	api := web.New(off.Core, off.Users, slog.New(slog.NewTextHandler(io.Discard, nil)))
	api.TempDir = t.TempDir()
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	o := &testOffice{t: t, dir: dir, st: st, off: off, comp: comp, srv: srv, tokens: map[string]string{}}
	for _, r := range auth.AllRoles() {
		name := strings.ReplaceAll(string(r), "_", "-")
		u := auth.User{Name: name, Roles: []auth.Role{r}}
		if r == auth.RoleResponsible {
			if err := st.AddNode(ctx, orgTown()); err != nil {
				t.Fatal(err)
			}
			u.Node = "town"
		}
		if err := off.Users.AddUser(ctx, u, testPassword); err != nil {
			t.Fatal(err)
		}
		tok, err := off.Users.AddToken(ctx, name, "test")
		if err != nil {
			t.Fatal(err)
		}
		o.tokens[name] = tok
	}
	// A second approver, and an editor who is also an approver: the
	// author of a change may not approve it whatever their roles.
	for _, u := range []auth.User{{Name: "approver-2", Roles: []auth.Role{auth.RoleApprover}},
		{Name: "editor-approver", Roles: []auth.Role{auth.RoleEditor, auth.RoleApprover}}} {
		if err := off.Users.AddUser(ctx, u, testPassword); err != nil {
			t.Fatal(err)
		}
		tok, _ := off.Users.AddToken(ctx, u.Name, "test")
		o.tokens[u.Name] = tok
	}
	return o
}

// do sends one request; token "" is anonymous.
func (o *testOffice) do(method, path, token string, body any, hdr map[string]string) (int, []byte) {
	o.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, o.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func concrete(pattern string) string {
	p := strings.NewReplacer("{id}", "1", "{name}", "x").Replace(pattern)
	return p
}

// TestEveryRouteRefusesAnonymous: the route list comes from the router,
// so a route added later is covered without editing this test. Nothing an
// anonymous caller sends changes the store.
func TestEveryRouteRefusesAnonymous(t *testing.T) {
	o := newOffice(t)
	ctx := context.Background()
	rev, _ := o.st.Revision(ctx)
	api := web.New(o.off.Core, o.off.Users, slog.New(slog.NewTextHandler(io.Discard, nil)))
	routes := api.Routes()
	if len(routes) < 60 {
		t.Fatalf("only %d routes: the router lost some", len(routes))
	}
	writes := 0
	for _, r := range routes {
		if r.Pattern == "/api/login" {
			continue
		}
		writes++
		for _, ctype := range []string{"application/json", "text/plain"} {
			req, _ := http.NewRequest(r.Method, o.srv.URL+concrete(r.Pattern), strings.NewReader(`{"id":"town","name":"x","text":"call 000-FAKE","to":["town"]}`))
			req.Header.Set("Content-Type", ctype)
			req.Header.Set("Origin", "https://evil.example")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("anonymous %s %s (%s): %d, want 401", r.Method, r.Pattern, ctype, resp.StatusCode)
			}
		}
		// A cookie that is not a session is no better than none.
		req, _ := http.NewRequest(r.Method, o.srv.URL+concrete(r.Pattern), nil)
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: "forged"})
		resp, _ := client.Do(req)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("forged session %s %s: %d, want 401", r.Method, r.Pattern, resp.StatusCode)
		}
	}
	if got, _ := o.st.Revision(ctx); got != rev {
		t.Fatalf("anonymous requests changed the store (revision %d → %d)", rev, got)
	}
	if chs, _ := o.st.Changes(ctx, "", 0); len(chs) != 0 {
		t.Fatalf("anonymous requests made changes: %+v", chs)
	}
	if as, _ := o.st.Alerts(ctx, time.Time{}); len(as) != 0 {
		t.Fatalf("anonymous requests pushed alerts: %+v", as)
	}
	t.Logf("%d routes refused anonymous callers", writes)
}

// TestEveryWriteRefusesTheWrongRole: for every write route, every role
// that the operation does not name gets 403 and changes nothing.
func TestEveryWriteRefusesTheWrongRole(t *testing.T) {
	o := newOffice(t)
	ctx := context.Background()
	api := web.New(o.off.Core, o.off.Users, slog.New(slog.NewTextHandler(io.Discard, nil)))
	checked := 0
	for _, r := range api.Routes() {
		op, ok := office.Lookup(r.Op)
		if !ok || !r.Write || op.Roles == nil {
			continue
		}
		for _, role := range auth.AllRoles() {
			actor := office.Actor{Name: "x", Roles: []auth.Role{role}}
			if op.Allowed(actor) {
				continue
			}
			rev, _ := o.st.Revision(ctx)
			code, body := o.do(r.Method, concrete(r.Pattern), o.tokens[strings.ReplaceAll(string(role), "_", "-")],
				map[string]any{}, nil)
			if code != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d %s, want 403", r.Method, r.Pattern, role, code, body)
			}
			if got, _ := o.st.Revision(ctx); got != rev {
				t.Errorf("%s %s as %s changed the store", r.Method, r.Pattern, role)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d wrong-role attempts checked", checked)
	}
	// The refusals are on the admin log.
	es, err := o.off.Log.Entries(ctx, adminFilter("denied"))
	if err != nil || len(es) < checked/2 {
		t.Fatalf("admin log has %d denied entries (err %v), want the refusals", len(es), err)
	}
	t.Logf("%d wrong-role writes refused", checked)
}

// TestPhonesNeedARole: an auditor sees the org tree without phones; a
// supervisor sees them.
func TestPhonesNeedARole(t *testing.T) {
	o := newOffice(t)
	if code, b := o.do("POST", "/api/org/nodes/town/people", o.tokens["admin"], map[string]any{"role": "first_responsible", "name": "王芳", "phone": "138 0000 0001"}, nil); code != 201 {
		t.Fatalf("add person: %d %s", code, b)
	}
	_, b := o.do("GET", "/api/org", o.tokens["auditor"], nil, nil)
	if strings.Contains(string(b), "138 0000 0001") || !strings.Contains(string(b), "王芳") {
		t.Fatalf("auditor's org tree: %s", b)
	}
	_, b = o.do("GET", "/api/org", o.tokens["supervisor"], nil, nil)
	if !strings.Contains(string(b), "138 0000 0001") {
		t.Fatalf("supervisor's org tree has no phone: %s", b)
	}
	// A responsible person sees their own node (town here) and nothing else.
	if code, _ := o.do("POST", "/api/org/nodes", o.tokens["admin"], map[string]any{"id": "other", "kind": "town", "name": "邻镇", "tz": "Asia/Shanghai"}, nil); code != 201 {
		t.Fatal("add other town")
	}
	_, b = o.do("GET", "/api/org", o.tokens["responsible"], nil, nil)
	if !strings.Contains(string(b), "138 0000 0001") || strings.Contains(string(b), "邻镇") {
		t.Fatalf("responsible person's org tree: %s", b)
	}
}

// TestSessionCSRFAndOrigin: a browser session must send its CSRF token
// and come from this origin; the cookie is HttpOnly, Secure and
// SameSite=Strict.
func TestSessionCSRFAndOrigin(t *testing.T) {
	o := newOffice(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(path, body string, hdr map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", o.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	resp, b := post("/api/login", `{"name":"editor","password":"wrong password here"}`, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("bad login: %d %s", resp.StatusCode, b)
	}
	resp, b = post("/api/login", `{"name":"editor","password":"`+testPassword+`"}`, map[string]string{"Origin": "https://evil.example"})
	if resp.StatusCode != 403 {
		t.Fatalf("login from a foreign origin: %d %s", resp.StatusCode, b)
	}
	resp, b = post("/api/login", `{"name":"editor","password":"`+testPassword+`"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	var me web.Me
	json.Unmarshal(b, &me)
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	// httptest serves plain http; the jar would not send a Secure cookie
	// back, so send it by hand as a browser on https would.
	var sess string
	for _, ck := range resp.Cookies() {
		if ck.Name == web.SessionCookie {
			sess = ck.Value
		}
	}
	if sess == "" || me.CSRF == "" {
		t.Fatalf("no session (%q) or csrf (%q)", sess, me.CSRF)
	}
	var body string
	send := func(ctype string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", o.srv.URL+"/api/op/playlist.create", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: sess})
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	body = `{"name":"doorway","output":"led","items":[{"media":"nothing.txt","seconds":3}]}`
	for _, tc := range []struct {
		name  string
		ctype string
		hdr   map[string]string
		want  int
	}{
		{"no csrf token", "application/json", nil, 403},
		{"wrong csrf token", "application/json", map[string]string{web.CSRFHeader: "nope"}, 403},
		{"foreign origin", "application/json", map[string]string{web.CSRFHeader: me.CSRF, "Origin": "https://evil.example"}, 403},
		{"cross-site fetch", "application/json", map[string]string{web.CSRFHeader: me.CSRF, "Sec-Fetch-Site": "cross-site"}, 403},
		{"text/plain", "text/plain", map[string]string{web.CSRFHeader: me.CSRF}, 415},
		// Everything right: the request reaches the office, which refuses
		// the unknown clip (400), proving the session itself works.
		{"all right", "application/json", map[string]string{web.CSRFHeader: me.CSRF, "Origin": o.srv.URL}, 400},
	} {
		if code, b := send(tc.ctype, tc.hdr); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, b, tc.want)
		}
	}
	// After logout the session is dead.
	req, _ := http.NewRequest("POST", o.srv.URL+"/api/logout", nil)
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: sess})
	req.Header.Set(web.CSRFHeader, me.CSRF)
	lr, _ := client.Do(req)
	lr.Body.Close()
	if code, b := send("application/json", map[string]string{web.CSRFHeader: me.CSRF}); code != 401 {
		t.Fatalf("after logout: %d %s", code, b)
	}
}

// TestLoginLockout: repeated wrong passwords lock the name; the answer
// does not say whether the name exists.
func TestLoginLockout(t *testing.T) {
	o := newOffice(t)
	var last int
	for i := 0; i < 6; i++ {
		last, _ = o.do("POST", "/api/login", "", map[string]string{"name": "approver", "password": "guess number " + string(rune('a'+i))}, nil)
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("6th wrong password: %d, want 429", last)
	}
	if code, _ := o.do("POST", "/api/login", "", map[string]string{"name": "approver", "password": testPassword}, nil); code != http.StatusTooManyRequests {
		t.Fatalf("right password while locked out: %d, want 429", code)
	}
	c1, b1 := o.do("POST", "/api/login", "", map[string]string{"name": "nobody", "password": "whatever it is"}, nil)
	c2, b2 := o.do("POST", "/api/login", "", map[string]string{"name": "editor", "password": "whatever it is"}, nil)
	if c1 != c2 || string(b1) != string(b2) {
		t.Fatalf("unknown user %d %s vs wrong password %d %s: must look the same", c1, b1, c2, b2)
	}
	es, _ := o.off.Log.Entries(context.Background(), adminFilter("login_failed"))
	if len(es) < 8 {
		t.Fatalf("%d failed logins on the admin log, want every one", len(es))
	}
}

// TestPendingChangeReachesNoDeviceUntilApproved: an editor's playlist and
// assignment are not in the device's signed document until an approver
// other than the author approves them.
func TestPendingChangeReachesNoDeviceUntilApproved(t *testing.T) {
	o := newOffice(t)
	ctx := context.Background()
	if _, err := fleet.Enroll(ctx, o.st, fleet.Enrollment{ID: "bank-1-door", Profile: "virtual-led", BrokerURL: "tcp://127.0.0.1:1883",
		MediaURL: "http://127.0.0.1:8081/media/", ContentKey: o.comp.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join("..", "..", "..", "media", "hotline-zh.txt")
	req, _ := http.NewRequest("POST", o.srv.URL+"/api/media?name=hotline-zh.txt", bytesOf(t, f))
	req.Header.Set("Authorization", "Bearer "+o.tokens["editor-approver"])
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("upload: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	played := func() bool {
		d, err := o.comp.Desired(ctx, "bank-1-door")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(d)
		return strings.Contains(string(b), "83ae357952a3f882c25ab5b36e663a045efcf905e5e275765bc83b7650355065")
	}
	ed := o.tokens["editor-approver"]
	var pl office.ChangeResult
	code, b := o.do("POST", "/api/playlists", ed, office.PlaylistRequest{Name: "door", Output: protocol.OutputLED,
		Items: []office.PlaylistItemSpec{{Media: "hotline-zh.txt", Seconds: 4}}}, nil)
	json.Unmarshal(b, &pl)
	if code != 201 || pl.Change.State != store.ChangePending {
		t.Fatalf("playlist create: %d %s", code, b)
	}
	var as office.ChangeResult
	code, b = o.do("POST", "/api/playlists/door/assign", ed, map[string]any{"devices": []string{"bank-1-door"}}, nil)
	json.Unmarshal(b, &as)
	if code != 201 {
		t.Fatalf("assign: %d %s", code, b)
	}
	if played() {
		t.Fatal("a pending playlist is in the device's document")
	}
	// The author cannot approve their own change, though they are an approver.
	for _, id := range []int64{pl.Change.ID, as.Change.ID} {
		if code, b := o.do("POST", "/api/changes/"+itoa(id)+"/approve", ed, nil, nil); code != 403 {
			t.Fatalf("author approves change %d: %d %s", id, code, b)
		}
		// Nor may an editor or an alert issuer.
		if code, _ := o.do("POST", "/api/changes/"+itoa(id)+"/approve", o.tokens["editor"], nil, nil); code != 403 {
			t.Fatalf("editor approves: %d", code)
		}
	}
	if played() {
		t.Fatal("refused approvals reached the device")
	}
	if code, b := o.do("POST", "/api/changes/"+itoa(pl.Change.ID)+"/approve", o.tokens["approver"], nil, nil); code != 200 {
		t.Fatalf("approve playlist: %d %s", code, b)
	}
	if played() {
		t.Fatal("the playlist alone (not yet assigned) reached the device")
	}
	if code, b := o.do("POST", "/api/changes/"+itoa(as.Change.ID)+"/approve", o.tokens["approver-2"], nil, nil); code != 200 {
		t.Fatalf("approve assignment: %d %s", code, b)
	}
	if !played() {
		t.Fatal("approved playlist not in the device's document")
	}
	// The signed document names who authored and who approved the entry;
	// a capability-1 agent, which decodes strictly, is not sent the names.
	d, err := o.comp.Desired(ctx, "bank-1-door")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(d); strings.Contains(string(b), `"by"`) {
		t.Fatalf("capability-1 document carries provenance: %s", b)
	}
	if _, err := o.st.SetCapability(ctx, "bank-1-door", protocol.CapabilityVersion); err != nil {
		t.Fatal(err)
	}
	if d, err = o.comp.Desired(ctx, "bank-1-door"); err != nil {
		t.Fatal(err)
	}
	var by *protocol.Provenance
	for _, p := range d.Playlists {
		by = p.By
	}
	if by == nil || by.Author != "editor-approver" || by.Approver != "approver" || by.Change != pl.Change.ID {
		t.Fatalf("playlist provenance %+v in %+v", by, d.Playlists)
	}

	// Approving twice is a conflict, not a second application.
	if code, _ := o.do("POST", "/api/changes/"+itoa(as.Change.ID)+"/approve", o.tokens["approver"], nil, nil); code != 409 {
		t.Fatalf("second approval: %d, want 409", code)
	}
	// Who authored and approved it is on record.
	prov, err := o.st.AllProvenance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := prov["assignment"]["bank-1-door/door"]
	if p.Author != "editor-approver" || p.Approver != "approver-2" || p.Change != as.Change.ID {
		t.Fatalf("provenance %+v", p)
	}
}

// TestTwoPersonAlerts: with the setting on, an alert issuer's push is a
// pending change; without it, it goes out in one step.
func TestTwoPersonAlerts(t *testing.T) {
	o := newOffice(t)
	ctx := context.Background()
	if _, err := fleet.Enroll(ctx, o.st, fleet.Enrollment{ID: "town-door", Profile: "virtual-led", Node: "", BrokerURL: "tcp://127.0.0.1:1883",
		MediaURL: "http://127.0.0.1:8081/media/", ContentKey: o.comp.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	push := map[string]any{"to": []string{"town-door"}, "text": "警方提示：“安全账户”是诈骗。", "outputs": []string{"led"}}
	code, b := o.do("POST", "/api/alerts", o.tokens["alert-issuer"], push, nil)
	if code != 201 || !strings.Contains(string(b), `"recipients": 1`) {
		t.Fatalf("one-step push: %d %s", code, b)
	}
	if code, _ := o.do("POST", "/api/op/settings.set", o.tokens["alert-issuer"], map[string]bool{"two_person_alerts": true}, nil); code != 403 {
		t.Fatalf("an issuer turned two-person alerts off/on: %d", code)
	}
	if code, _ := o.do("POST", "/api/op/settings.set", o.tokens["admin"], map[string]bool{"two_person_alerts": true}, nil); code != 200 {
		t.Fatalf("admin settings: %d", code)
	}
	code, b = o.do("POST", "/api/alerts", o.tokens["alert-issuer"], push, nil)
	var res office.PushResult
	json.Unmarshal(b, &res)
	if code != 201 || res.Pending == nil || res.Alert != nil {
		t.Fatalf("two-person push: %d %s", code, b)
	}
	if as, _ := o.st.Alerts(ctx, time.Time{}); len(as) != 1 {
		t.Fatalf("%d alerts stored, want only the first", len(as))
	}
	if code, b := o.do("POST", "/api/changes/"+itoa(res.Pending.Change.ID)+"/approve", o.tokens["approver"], nil, nil); code != 200 {
		t.Fatalf("approve alert: %d %s", code, b)
	}
	if as, _ := o.st.Alerts(ctx, time.Time{}); len(as) != 2 {
		t.Fatalf("%d alerts after approval, want 2", len(as))
	}
}

func orgTown() org.Node {
	return org.Node{ID: "town", Kind: org.KindTown, Name: "城关镇", TZ: "Asia/Shanghai"}
}

func adminFilter(action string) adminlog.Filter { return adminlog.Filter{Action: action} }

func bytesOf(t *testing.T, path string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
