package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/controller/internal/auth"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func TestUsers(t *testing.T) {
	st, _ := open(t)
	addTree(t, st)
	ctx := context.Background()
	alice := auth.User{Name: "alice", Display: "王丽", Roles: []auth.Role{auth.RoleApprover, auth.RoleEditor}, Lang: "zh", CreatedAt: t0}
	bob := auth.User{Name: "bob", Roles: []auth.Role{auth.RoleResponsible}, Node: "bank", Lang: "en", CreatedAt: t0}
	for _, u := range []auth.User{alice, bob} {
		if err := st.AddUser(ctx, u, "$hash-"+u.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddUser(ctx, alice, "x"); !errors.Is(err, ErrExists) {
		t.Errorf("add again: %v, want ErrExists", err)
	}
	if err := st.AddUser(ctx, auth.User{Name: "carol", Node: "nowhere", CreatedAt: t0}, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown node: %v, want ErrNotFound", err)
	}
	got, err := st.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(alice, got); d != "" {
		t.Errorf("User (-want +got):\n%s", d)
	}
	cr, err := st.Credentials(ctx, "bob")
	if err != nil || cr.Hash != "$hash-bob" || cr.User.Node != "bank" {
		t.Errorf("Credentials = %+v, %v", cr, err)
	}
	for _, f := range []func() error{
		func() error { _, err := st.User(ctx, "nobody"); return err },
		func() error { _, err := st.Credentials(ctx, "nobody"); return err },
		func() error { return st.SetPasswordHash(ctx, "nobody", "x") },
		func() error { return st.SetUserDisabled(ctx, "nobody", true) },
		func() error { return st.UpdateUser(ctx, "nobody", func(*auth.User) error { return nil }) },
		func() error { _, err := st.Tokens(ctx, "nobody"); return err },
	} {
		if err := f(); !errors.Is(err, ErrNotFound) || !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("missing user: %v, want both not-found sentinels", err)
		}
	}

	err = st.UpdateUser(ctx, "alice", func(u *auth.User) error {
		u.Roles = []auth.Role{auth.RoleAuditor}
		u.Node = "branch-1"
		u.Name = "mallory" // ignored
		u.Disabled = true  // ignored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateUser(ctx, "alice", func(u *auth.User) error { u.Node = "nowhere"; return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("edit to unknown node: %v", err)
	}
	boom := errors.New("boom")
	if err := st.UpdateUser(ctx, "alice", func(u *auth.User) error { u.Display = "x"; return boom }); !errors.Is(err, boom) {
		t.Errorf("edit error: %v", err)
	}
	us, err := st.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alice.Roles, alice.Node = []auth.Role{auth.RoleAuditor}, "branch-1"
	if d := cmp.Diff([]auth.User{alice, bob}, us); d != "" {
		t.Errorf("Users (-want +got):\n%s", d)
	}
}

func TestSessionsAndTokens(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	if err := st.AddUser(ctx, auth.User{Name: "alice", Lang: "zh", CreatedAt: t0}, "h"); err != nil {
		t.Fatal(err)
	}
	s1 := auth.SessionRecord{IDHash: "s1", User: "alice", CSRF: "c1", Created: t0, Expires: t0.Add(time.Hour)}
	s2 := auth.SessionRecord{IDHash: "s2", User: "alice", CSRF: "c2", Created: t0, Expires: t0.Add(2 * time.Hour)}
	for _, s := range []auth.SessionRecord{s1, s2} {
		if err := st.AddSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := st.SessionByHash(ctx, "s1"); err != nil || got != s1 {
		t.Errorf("SessionByHash = %+v, %v", got, err)
	}
	if _, err := st.SessionByHash(ctx, "nope"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	if err := st.ExtendSession(ctx, "s1", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, "s2"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("expired session kept: %v", err)
	}
	if got, _ := st.SessionByHash(ctx, "s1"); !got.Expires.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("extended session expires %v", got.Expires)
	}

	tok := auth.TokenRecord{Hash: "t1", User: "alice", Label: "ci", Prefix: "gct_abcdefgh", CreatedAt: t0}
	if err := st.AddToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(ctx, auth.TokenRecord{Hash: "t2", User: "alice", Label: "ci", CreatedAt: t0}); !errors.Is(err, ErrExists) {
		t.Errorf("same label: %v, want ErrExists", err)
	}
	if err := st.AddToken(ctx, auth.TokenRecord{Hash: "t3", User: "nobody", Label: "ci", CreatedAt: t0}); !errors.Is(err, ErrNotFound) {
		t.Errorf("token of unknown user: %v, want ErrNotFound", err)
	}
	if err := st.TouchToken(ctx, "t1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	tok.LastUsed = t0.Add(time.Minute)
	if got, err := st.TokenByHash(ctx, "t1"); err != nil || got != tok {
		t.Errorf("TokenByHash = %+v, %v", got, err)
	}
	if ts, err := st.Tokens(ctx, "alice"); err != nil || len(ts) != 1 || ts[0] != tok {
		t.Errorf("Tokens = %+v, %v", ts, err)
	}

	// Disabling ends sessions and tokens in the same transaction.
	if err := st.SetUserDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, "s1"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("session survived disable: %v", err)
	}
	if _, err := st.TokenByHash(ctx, "t1"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("token survived disable: %v", err)
	}
	if u, _ := st.User(ctx, "alice"); !u.Disabled {
		t.Error("not disabled")
	}
	if err := st.SetUserDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteToken(ctx, "alice", "ci"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete deleted token: %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	if n, last, err := st.LoginFailures(ctx, "ghost"); n != 0 || !last.IsZero() || err != nil {
		t.Fatalf("none = %d %v %v", n, last, err)
	}
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		n, err := st.AddLoginFailure(ctx, "ghost", at, at.Add(-time.Hour))
		if err != nil || n != i {
			t.Fatalf("failure %d: n=%d %v", i, n, err)
		}
	}
	if n, last, _ := st.LoginFailures(ctx, "ghost"); n != 3 || !last.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("after 3: %d %v", n, last)
	}
	// A failure long after the last starts the count again.
	if n, _ := st.AddLoginFailure(ctx, "ghost", t0.Add(2*time.Hour), t0.Add(time.Hour)); n != 1 {
		t.Errorf("after a quiet hour: n=%d, want 1", n)
	}
	if err := st.ClearLoginFailures(ctx, "ghost"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := st.LoginFailures(ctx, "ghost"); n != 0 {
		t.Errorf("after clear: %d", n)
	}
}
