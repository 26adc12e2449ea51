package office

import (
	"context"
	"fmt"
	"time"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
	"github.com/guardcast/guardcast/controller/internal/auth"
)

// AuditReader reads the admin log back (auditors).
type AuditReader interface {
	Entries(ctx context.Context, f adminlog.Filter) ([]adminlog.Entry, error)
}

func (c *Core) needUsers() error {
	if c.users == nil {
		return fmt.Errorf("no user service configured")
	}
	return nil
}

func opUserMe(c *Core, ctx context.Context, a Actor, _ Empty) (Actor, string, error) {
	return a, "", nil
}

func opUserList(c *Core, ctx context.Context, a Actor, _ Empty) ([]auth.User, string, error) {
	if err := c.needUsers(); err != nil {
		return nil, "", err
	}
	us, err := c.users.Users(ctx)
	if us == nil {
		us = []auth.User{}
	}
	return us, "", err
}

// UserRequest adds a user. Password is never logged.
type UserRequest struct {
	Name     string   `json:"name"`
	Display  string   `json:"display,omitempty"`
	Roles    []string `json:"roles"`
	Node     string   `json:"node,omitempty"`
	Lang     string   `json:"lang,omitempty"`
	Password string   `json:"password"`
}

// AuditDetail is the request without its password.
func (q UserRequest) AuditDetail() any {
	return map[string]any{"name": q.Name, "display": q.Display, "roles": q.Roles, "node": q.Node, "lang": q.Lang}
}

func parseRoles(names []string) ([]auth.Role, error) {
	var out []auth.Role
	for _, n := range names {
		r, err := auth.ParseRole(n)
		if err != nil {
			return nil, invalidf("%v", err)
		}
		out = append(out, r)
	}
	return out, nil
}

func opUserAdd(c *Core, ctx context.Context, a Actor, q UserRequest) (auth.User, string, error) {
	if err := c.needUsers(); err != nil {
		return auth.User{}, "", err
	}
	roles, err := parseRoles(q.Roles)
	if err != nil {
		return auth.User{}, "", err
	}
	if len(roles) == 0 {
		return auth.User{}, "", invalidf("give at least one role (%v)", auth.AllRoles())
	}
	u := auth.User{Name: q.Name, Display: q.Display, Roles: roles, Node: q.Node, Lang: q.Lang}
	if err := c.users.AddUser(ctx, u, q.Password); err != nil {
		return auth.User{}, q.Name, err
	}
	u, err = c.users.User(ctx, q.Name)
	return u, q.Name, err
}

// UserEditRequest changes a user; absent fields stay.
type UserEditRequest struct {
	Name    string    `json:"name"`
	Roles   *[]string `json:"roles,omitempty"`
	Node    *string   `json:"node,omitempty"`
	Display *string   `json:"display,omitempty"`
	Lang    *string   `json:"lang,omitempty"`
}

func opUserEdit(c *Core, ctx context.Context, a Actor, q UserEditRequest) (auth.User, string, error) {
	if err := c.needUsers(); err != nil {
		return auth.User{}, "", err
	}
	e := auth.UserEdit{Node: q.Node, Display: q.Display, Lang: q.Lang}
	if q.Roles != nil {
		roles, err := parseRoles(*q.Roles)
		if err != nil {
			return auth.User{}, "", err
		}
		e.Roles = &roles
	}
	if err := c.users.EditUser(ctx, q.Name, e); err != nil {
		return auth.User{}, q.Name, err
	}
	u, err := c.users.User(ctx, q.Name)
	return u, q.Name, err
}

// UserRef names a user.
type UserRef struct {
	Name string `json:"name"`
}

func opUserDisable(c *Core, ctx context.Context, a Actor, q UserRef) (OK, string, error) {
	if err := c.needUsers(); err != nil {
		return OK{}, "", err
	}
	if q.Name == a.Name {
		return OK{}, q.Name, invalidf("you cannot disable yourself")
	}
	if err := c.keepAnAdmin(ctx, q.Name); err != nil {
		return OK{}, q.Name, err
	}
	if err := c.users.Disable(ctx, q.Name); err != nil {
		return OK{}, q.Name, err
	}
	return ok("user %s disabled; their sessions and tokens no longer work", q.Name), q.Name, nil
}

func opUserEnable(c *Core, ctx context.Context, a Actor, q UserRef) (OK, string, error) {
	if err := c.needUsers(); err != nil {
		return OK{}, "", err
	}
	if err := c.users.Enable(ctx, q.Name); err != nil {
		return OK{}, q.Name, err
	}
	return ok("user %s enabled", q.Name), q.Name, nil
}

// PasswordRequest sets a password; Name "" is yourself.
type PasswordRequest struct {
	Name     string `json:"name,omitempty"`
	Password string `json:"password"`
}

// AuditDetail is the request without its password.
func (q PasswordRequest) AuditDetail() any { return map[string]string{"name": q.Name} }

func opUserPassword(c *Core, ctx context.Context, a Actor, q PasswordRequest) (OK, string, error) {
	if err := c.needUsers(); err != nil {
		return OK{}, "", err
	}
	if q.Name == "" {
		q.Name = a.Name
	}
	if q.Name != a.Name && !a.Has(auth.RoleAdmin) {
		return OK{}, q.Name, fmt.Errorf("only an admin sets another user's password: %w", ErrForbidden)
	}
	if err := c.users.SetPassword(ctx, q.Name, q.Password); err != nil {
		return OK{}, q.Name, err
	}
	return ok("password of %s changed", q.Name), q.Name, nil
}

// TokenRequest names a user's token.
type TokenRequest struct {
	User  string `json:"user"`
	Label string `json:"label"`
}

// Token answers token.add; the token is shown only this once.
type Token struct {
	User  string `json:"user"`
	Label string `json:"label"`
	Token string `json:"token"`
}

func opTokenAdd(c *Core, ctx context.Context, a Actor, q TokenRequest) (Token, string, error) {
	if err := c.needUsers(); err != nil {
		return Token{}, "", err
	}
	if q.User == "" || q.Label == "" {
		return Token{}, "", invalidf("user and label are required")
	}
	t, err := c.users.AddToken(ctx, q.User, q.Label)
	if err != nil {
		return Token{}, q.User, err
	}
	return Token{User: q.User, Label: q.Label, Token: t}, q.User, nil
}

func opTokenRevoke(c *Core, ctx context.Context, a Actor, q TokenRequest) (OK, string, error) {
	if err := c.needUsers(); err != nil {
		return OK{}, "", err
	}
	if err := c.users.RevokeToken(ctx, q.User, q.Label); err != nil {
		return OK{}, q.User, err
	}
	return ok("token %s of %s revoked", q.Label, q.User), q.User, nil
}

func opTokenList(c *Core, ctx context.Context, a Actor, q UserRef) ([]auth.TokenInfo, string, error) {
	if err := c.needUsers(); err != nil {
		return nil, "", err
	}
	ts, err := c.users.Tokens(ctx, q.Name)
	if ts == nil {
		ts = []auth.TokenInfo{}
	}
	return ts, q.Name, err
}

// Settings are the office's switches.
type Settings struct {
	// TwoPersonAlerts makes an urgent alert a pending change that a second
	// person (an approver) must approve before it is signed.
	TwoPersonAlerts *bool `json:"two_person_alerts,omitempty"`
}

func opSettingsGet(c *Core, ctx context.Context, a Actor, _ Empty) (Settings, string, error) {
	v, err := c.b.Setting(ctx, SettingTwoPersonAlerts)
	on := v == "on"
	return Settings{TwoPersonAlerts: &on}, "", err
}

func opSettingsSet(c *Core, ctx context.Context, a Actor, q Settings) (Settings, string, error) {
	if q.TwoPersonAlerts != nil {
		v := "off"
		if *q.TwoPersonAlerts {
			v = "on"
		}
		if err := c.b.SetSetting(ctx, SettingTwoPersonAlerts, v); err != nil {
			return Settings{}, "", err
		}
	}
	s, _, err := opSettingsGet(c, ctx, a, Empty{})
	return s, "settings", err
}

// LogQuery reads the admin log; times are RFC 3339.
type LogQuery struct {
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
	Actor  string `json:"actor,omitempty"`
	Action string `json:"action,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

func opAdminLogList(c *Core, ctx context.Context, a Actor, q LogQuery) ([]adminlog.Entry, string, error) {
	r, ok := c.audit.(AuditReader)
	if !ok {
		return nil, "", fmt.Errorf("no admin log configured")
	}
	f := adminlog.Filter{Actor: q.Actor, Action: q.Action, Limit: q.Limit}
	for _, p := range []struct {
		s string
		t *time.Time
	}{{q.Since, &f.Since}, {q.Until, &f.Until}} {
		if p.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.s)
		if err != nil {
			return nil, "", invalidf("time %q: want RFC 3339", p.s)
		}
		*p.t = t
	}
	es, err := r.Entries(ctx, f)
	if es == nil {
		es = []adminlog.Entry{}
	}
	return es, "", err
}

// keepAnAdmin refuses to leave the office without a person who can manage
// users: the local admin does not count, it exists only on the server.
func (c *Core) keepAnAdmin(ctx context.Context, losing string) error {
	us, err := c.users.Users(ctx)
	if err != nil {
		return err
	}
	target := false
	others := 0
	for _, u := range us {
		if u.Disabled || !u.Has(auth.RoleAdmin) || u.Name == LocalAdmin {
			continue
		}
		if u.Name == losing {
			target = true
		} else {
			others++
		}
	}
	if target && others == 0 {
		return invalidf("%s is the last admin: make someone else admin first", losing)
	}
	return nil
}
