package auth_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/clock"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

const pw = "correct horse battery"

var testOpts = auth.Options{Hash: auth.CheapHash}

type fixture struct {
	svc *auth.Service
	st  *store.Store
	clk *clock.Fake
	dir string
}

func setup(t *testing.T, opts auth.Options) fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, n := range []org.Node{
		{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai"},
		{ID: "bank", Kind: org.KindUnit, Name: "Bank", Parent: "town"},
	} {
		if err := st.AddNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(t0)
	f := fixture{svc: auth.New(st, clk, opts), st: st, clk: clk, dir: dir}
	f.add(t, "alice", auth.RoleEditor)
	return f
}

func (f fixture) add(t *testing.T, name string, roles ...auth.Role) {
	t.Helper()
	if err := f.svc.AddUser(context.Background(), auth.User{Name: name, Roles: roles}, pw); err != nil {
		t.Fatal(err)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range auth.AllRoles() {
		if got, err := auth.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%s) = %s, %v", r, got, err)
		}
	}
	_, err := auth.ParseRole("root")
	if !errors.Is(err, auth.ErrInvalid) || !strings.Contains(err.Error(), "alert_issuer") {
		t.Errorf("ParseRole(root) = %v: want ErrInvalid listing the roles", err)
	}
	if u := (auth.User{Roles: []auth.Role{auth.RoleAdmin}}); u.Has(auth.RoleApprover) || !u.Has(auth.RoleAdmin) {
		t.Error("Has: admin must not imply approver")
	}
}

func TestAddUserRules(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	tests := []struct {
		name string
		u    auth.User
		pw   string
		want error
	}{
		{"ok", auth.User{Name: "bob.li-2", Display: "李波", Roles: []auth.Role{auth.RoleApprover}}, pw, nil},
		{"taken", auth.User{Name: "alice"}, pw, store.ErrExists},
		{"upper case", auth.User{Name: "Bob"}, pw, auth.ErrInvalid},
		{"leading dot", auth.User{Name: ".bob"}, pw, auth.ErrInvalid},
		{"chinese name", auth.User{Name: "李波"}, pw, auth.ErrInvalid},
		{"too long", auth.User{Name: strings.Repeat("a", 65)}, pw, auth.ErrInvalid},
		{"empty", auth.User{}, pw, auth.ErrInvalid},
		{"short password", auth.User{Name: "carol"}, "123456789", auth.ErrWeakPassword},
		{"password is name", auth.User{Name: "carolcarol"}, "CarolCarol", auth.ErrWeakPassword},
		{"blank password", auth.User{Name: "carol"}, "            ", auth.ErrWeakPassword},
		{"unknown role", auth.User{Name: "carol", Roles: []auth.Role{"root"}}, pw, auth.ErrInvalid},
		{"bad lang", auth.User{Name: "carol", Lang: "fr"}, pw, auth.ErrInvalid},
		{"responsible without node", auth.User{Name: "carol", Roles: []auth.Role{auth.RoleResponsible}}, pw, auth.ErrInvalid},
		{"unknown node", auth.User{Name: "carol", Roles: []auth.Role{auth.RoleResponsible}, Node: "nowhere"}, pw, store.ErrNotFound},
		{"responsible", auth.User{Name: "dave", Roles: []auth.Role{auth.RoleResponsible}, Node: "bank"}, pw, nil},
		{"control char", auth.User{Name: "carol", Display: "a\nb"}, pw, auth.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.svc.AddUser(ctx, tt.u, tt.pw)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("AddUser = %v, want %v", err, tt.want)
			}
		})
	}
	// A weak password is also a plain refusal of the request.
	if err := f.svc.AddUser(ctx, auth.User{Name: "erin"}, "short"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("weak password is not ErrInvalid: %v", err)
	}
	u, err := f.svc.User(ctx, "bob.li-2")
	if err != nil {
		t.Fatal(err)
	}
	if u.Lang != "zh" || u.Display != "李波" || !u.CreatedAt.Equal(t0) || !u.Has(auth.RoleApprover) {
		t.Errorf("stored user = %+v", u)
	}
	if _, err := f.svc.User(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User(nobody) = %v", err)
	}
}

func TestLoginSessionLogout(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	s, err := f.svc.Login(ctx, " Alice ", pw, "10.0.0.1:5555")
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == "" || s.CSRF == "" || s.ID == s.CSRF || s.User.Name != "alice" || !s.Expires.Equal(t0.Add(auth.DefaultOptions.SessionTTL)) {
		t.Fatalf("session = %+v", s)
	}
	got, err := f.svc.Session(ctx, s.ID)
	if err != nil || got.User.Name != "alice" || got.CSRF != s.CSRF {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if !got.CheckCSRF(s.CSRF) || got.CheckCSRF("") || got.CheckCSRF(s.CSRF+"x") {
		t.Error("CheckCSRF")
	}
	for _, id := range []string{"", "nope", s.CSRF} {
		if _, err := f.svc.Session(ctx, id); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("Session(%q) = %v", id, err)
		}
	}
	if err := f.svc.Logout(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(ctx, s.ID); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("after logout: %v", err)
	}
	if err := f.svc.Logout(ctx, s.ID); err != nil {
		t.Errorf("second logout: %v", err)
	}
}

func TestBadLoginIsTheSameForUnknownUsers(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	_, wrong := f.svc.Login(ctx, "alice", "wrong password", "10.0.0.1")
	_, unknown := f.svc.Login(ctx, "mallory", pw, "10.0.0.1")
	_, junk := f.svc.Login(ctx, "../etc", pw, "10.0.0.1")
	for _, err := range []error{wrong, unknown, junk} {
		if err != auth.ErrBadLogin {
			t.Errorf("got %v, want exactly ErrBadLogin", err)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	opts := testOpts
	opts.SessionTTL, opts.SessionMaxAge = time.Hour, 3*time.Hour
	f := setup(t, opts)
	ctx := context.Background()
	s, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// Used every 50 minutes it lives, but no longer than the maximum age.
	for i := 1; i <= 3; i++ {
		f.clk.Advance(50 * time.Minute)
		got, err := f.svc.Session(ctx, s.ID)
		if i <= 3 && err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
		want := t0.Add(time.Duration(i) * 50 * time.Minute).Add(time.Hour)
		if max := t0.Add(3 * time.Hour); want.After(max) {
			want = max
		}
		if !got.Expires.Equal(want) {
			t.Errorf("use %d: expires %v, want %v", i, got.Expires, want)
		}
	}
	f.clk.Advance(30 * time.Minute) // t0+3h: the maximum age
	if _, err := f.svc.Session(ctx, s.ID); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("past max age: %v", err)
	}

	s, _ = f.svc.Login(ctx, "alice", pw, "10.0.0.1")
	f.clk.Advance(time.Hour)
	if _, err := f.svc.Session(ctx, s.ID); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("idle for the TTL: %v", err)
	}
}

func TestLockout(t *testing.T) {
	opts := testOpts
	opts.MaxFailures, opts.LockoutFor = 3, 10*time.Minute
	opts.LoginBurst = 100
	f := setup(t, opts)
	ctx := context.Background()
	fail := func(name string) error {
		_, err := f.svc.Login(ctx, name, "wrong password", "10.0.0.1")
		return err
	}
	for i := 0; i < 3; i++ {
		if err := fail("alice"); err != auth.ErrBadLogin {
			t.Fatalf("failure %d: %v", i, err)
		}
		f.clk.Advance(time.Minute)
	}
	if _, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1"); err != auth.ErrLockedOut {
		t.Fatalf("right password while locked: %v, want ErrLockedOut", err)
	}
	f.clk.Advance(9*time.Minute - time.Nanosecond) // 1ns before the lock ends (10m after the last failure)
	if err := fail("alice"); err != auth.ErrLockedOut {
		t.Fatalf("just before the end: %v", err)
	}
	f.clk.Advance(time.Nanosecond)
	if _, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// Success reset the count: two more failures do not lock.
	fail("alice")
	fail("alice")
	if _, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1"); err != nil {
		t.Fatalf("after two failures: %v", err)
	}
	// Failures further apart than LockoutFor are not consecutive.
	for i := 0; i < 5; i++ {
		if err := fail("alice"); err != auth.ErrBadLogin {
			t.Fatalf("spaced failure %d: %v", i, err)
		}
		f.clk.Advance(10 * time.Minute)
	}
	// Unknown names lock too, so lockout does not reveal who exists.
	for i := 0; i < 3; i++ {
		fail("mallory")
	}
	if err := fail("mallory"); err != auth.ErrLockedOut {
		t.Errorf("unknown name: %v, want ErrLockedOut", err)
	}
	// A new password lifts the lock.
	for i := 0; i < 3; i++ {
		fail("alice")
	}
	if err := f.svc.SetPassword(ctx, "alice", "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "alice", "another long password", "10.0.0.1"); err != nil {
		t.Errorf("after SetPassword: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	opts := testOpts
	opts.LoginBurst, opts.LoginEvery = 3, 10*time.Second
	opts.MaxFailures = 100
	f := setup(t, opts)
	ctx := context.Background()
	try := func(remote string) error {
		_, err := f.svc.Login(ctx, "alice", pw, remote)
		return err
	}
	for i := 0; i < 3; i++ {
		if err := try("10.0.0.1:" + string(rune('1'+i))); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := try("10.0.0.1:9"); err != auth.ErrRateLimited {
		t.Fatalf("4th attempt from the address (another port): %v, want ErrRateLimited", err)
	}
	if err := try("[::1]:80"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	f.clk.Advance(10*time.Second - time.Nanosecond)
	if err := try("10.0.0.1"); err != auth.ErrRateLimited {
		t.Fatalf("before a token is back: %v", err)
	}
	f.clk.Advance(time.Nanosecond)
	if err := try("10.0.0.1"); err != nil {
		t.Fatalf("after one refill: %v", err)
	}
	if err := try("10.0.0.1"); err != auth.ErrRateLimited {
		t.Fatalf("only one token came back: %v", err)
	}
	// A clock stepped back neither refills nor jams the bucket.
	f.clk.Set(t0.Add(-time.Hour))
	if err := try("10.0.0.1"); err != auth.ErrRateLimited {
		t.Fatalf("after the clock went back: %v", err)
	}
	f.clk.Advance(10 * time.Second)
	if err := try("10.0.0.1"); err != nil {
		t.Fatalf("10s after the step back: %v", err)
	}
}

func TestDisable(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	s, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.AddToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Disable(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(ctx, s.ID); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("session of a disabled user: %v", err)
	}
	if _, err := f.svc.Token(ctx, tok); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("token of a disabled user: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1"); err != auth.ErrDisabled {
		t.Errorf("login: %v, want ErrDisabled", err)
	}
	if _, err := f.svc.Login(ctx, "alice", "wrong password", "10.0.0.1"); err != auth.ErrBadLogin {
		t.Errorf("wrong password of a disabled user: %v, want ErrBadLogin (not revealing)", err)
	}
	if _, err := f.svc.AddToken(ctx, "alice", "ci2"); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("token for a disabled user: %v", err)
	}
	if err := f.svc.Enable(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1"); err != nil {
		t.Errorf("login after enable: %v", err)
	}
	if _, err := f.svc.Token(ctx, tok); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("token came back with enable: %v", err)
	}
	if err := f.svc.Disable(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disable nobody: %v", err)
	}
}

func TestTokens(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	tok, err := f.svc.AddToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^gct_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Errorf("token %q", tok)
	}
	if _, err := f.svc.AddToken(ctx, "alice", "ci"); !errors.Is(err, store.ErrExists) {
		t.Errorf("same label: %v", err)
	}
	if _, err := f.svc.AddToken(ctx, "alice", " "); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("empty label: %v", err)
	}
	if _, err := f.svc.AddToken(ctx, "nobody", "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	f.clk.Advance(time.Hour)
	u, err := f.svc.Token(ctx, tok)
	if err != nil || u.Name != "alice" {
		t.Fatalf("Token = %+v, %v", u, err)
	}
	ts, err := f.svc.Tokens(ctx, "alice")
	if err != nil || len(ts) != 1 {
		t.Fatalf("Tokens = %+v, %v", ts, err)
	}
	want := auth.TokenInfo{User: "alice", Label: "ci", CreatedAt: t0, LastUsed: t0.Add(time.Hour), Prefix: tok[:12]}
	if ts[0] != want {
		t.Errorf("Tokens[0] = %+v, want %+v", ts[0], want)
	}
	for _, bad := range []string{"", tok[4:], "gct_" + strings.Repeat("A", 43), strings.ToUpper(tok)} {
		if _, err := f.svc.Token(ctx, bad); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("Token(%q) = %v", bad, err)
		}
	}
	if err := f.svc.RevokeToken(ctx, "alice", "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Token(ctx, tok); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("revoked token: %v", err)
	}
	if err := f.svc.RevokeToken(ctx, "alice", "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke again: %v", err)
	}
}

func TestEditUserTakesEffectInSessions(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	s, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roles := []auth.Role{auth.RoleResponsible, auth.RoleApprover, auth.RoleApprover}
	node, lang, display := "bank", "en", "Alice Wang"
	if err := f.svc.EditUser(ctx, "alice", auth.UserEdit{Roles: &roles, Node: &node, Lang: &lang, Display: &display}); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Session(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := got.User
	if len(u.Roles) != 2 || !u.Has(auth.RoleApprover) || !u.Has(auth.RoleResponsible) || u.Has(auth.RoleEditor) ||
		u.Node != "bank" || u.Lang != "en" || u.Display != "Alice Wang" {
		t.Errorf("session user after edit = %+v", u)
	}
	empty := ""
	if err := f.svc.EditUser(ctx, "alice", auth.UserEdit{Node: &empty}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("responsible losing its node: %v", err)
	}
	bad := "fr"
	if err := f.svc.EditUser(ctx, "alice", auth.UserEdit{Lang: &bad}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("bad lang: %v", err)
	}
	if err := f.svc.EditUser(ctx, "nobody", auth.UserEdit{Lang: &lang}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("edit nobody: %v", err)
	}
	if u, _ := f.svc.User(ctx, "alice"); u.Lang != "en" {
		t.Errorf("a refused edit changed the user: %+v", u)
	}
}

func TestSetPasswordEndsSessions(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	s, _ := f.svc.Login(ctx, "alice", pw, "10.0.0.1")
	tok, _ := f.svc.AddToken(ctx, "alice", "ci")
	if err := f.svc.SetPassword(ctx, "alice", "short"); !errors.Is(err, auth.ErrWeakPassword) {
		t.Errorf("weak: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "alice", "a new long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(ctx, s.ID); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("old session: %v", err)
	}
	if _, err := f.svc.Token(ctx, tok); err != nil {
		t.Errorf("token should survive a password change: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1"); err != auth.ErrBadLogin {
		t.Errorf("old password: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "nobody", "a new long password"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("nobody: %v", err)
	}
}

// Secrets must not be in the database: not the password, the session ID
// (the cookie), nor the API token.
func TestNoSecretsAtRest(t *testing.T) {
	f := setup(t, testOpts)
	ctx := context.Background()
	s, err := f.svc.Login(ctx, "alice", pw, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.AddToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	f.st.Close()
	files, _ := filepath.Glob(filepath.Join(f.dir, "guardcast.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	var all []byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		for what, secret := range map[string]string{"password": pw, "session id": s.ID, "token": tok, "token body": tok[12:]} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s found in %s", what, filepath.Base(p))
			}
		}
	}
	// The scan does see the stored rows: the token's digest is there.
	if !bytes.Contains(all, []byte(auth.Digest(tok))) {
		t.Error("token digest not found: the scan reads the wrong files")
	}
}

func TestStaleHashIsUpgradedAtLogin(t *testing.T) {
	f := setup(t, testOpts) // alice hashed with CheapHash
	ctx := context.Background()
	stronger := auth.Options{Hash: auth.HashParams{MemoryKiB: 64, Time: 2, Threads: 1}}
	svc := auth.New(f.st, f.clk, stronger)
	if _, err := svc.Login(ctx, "alice", pw, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	cr, err := f.st.Credentials(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cr.Hash, "$argon2id$v=19$m=64,t=2,p=1$") {
		t.Errorf("hash not upgraded: %s", cr.Hash)
	}
	if _, err := svc.Login(ctx, "alice", pw, "10.0.0.1"); err != nil {
		t.Errorf("login with the upgraded hash: %v", err)
	}
}
