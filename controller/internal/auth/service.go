package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/internal/clock"
)

// TokenPrefix starts every API token, so that a leaked one is recognisable
// (and scanners can find it).
const TokenPrefix = "gct_"

// Service is the front of this package: the office and the HTTP layer call
// it, never the Store directly.
type Service struct {
	st   Store
	clk  clock.Clock
	opts Options
	lim  *limiter

	dummyOnce sync.Once
	dummy     string // a hash checked for unknown users, so they cost the same
}

// New returns a service over st. Zero fields of opts take DefaultOptions.
func New(st Store, clk clock.Clock, opts Options) *Service {
	opts = opts.withDefaults()
	return &Service{st: st, clk: clk, opts: opts, lim: newLimiter(opts.LoginBurst, opts.LoginEvery)}
}

// Options returns the options in force (defaults filled in).
func (s *Service) Options() Options { return s.opts }

// AddUser creates a user with a password. A taken name is an error
// matching the store's "already exists".
func (s *Service) AddUser(ctx context.Context, u User, password string) error {
	u, err := normalize(u)
	if err != nil {
		return err
	}
	if err := ValidatePassword(u.Name, password); err != nil {
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	h, err := HashPassword(password, s.opts.Hash)
	if err != nil {
		return err
	}
	u.CreatedAt = s.clk.Now().UTC().Truncate(time.Millisecond)
	if err := s.st.AddUser(ctx, u, h); err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	return nil
}

// UserEdit changes the fields that are not nil.
type UserEdit struct {
	Roles   *[]Role
	Node    *string
	Display *string
	Lang    *string
}

// EditUser changes a user's roles, node, display name or language. The
// user's sessions continue: every request reads the user afresh.
func (s *Service) EditUser(ctx context.Context, name string, e UserEdit) error {
	err := s.st.UpdateUser(ctx, name, func(u *User) error {
		if e.Roles != nil {
			u.Roles = append([]Role(nil), (*e.Roles)...)
		}
		if e.Node != nil {
			u.Node = *e.Node
		}
		if e.Display != nil {
			u.Display = *e.Display
		}
		if e.Lang != nil {
			u.Lang = *e.Lang
		}
		n, err := normalize(*u)
		*u = n
		return err
	})
	if err != nil {
		return fmt.Errorf("edit user %s: %w", name, err)
	}
	return nil
}

// SetPassword replaces a user's password, ends their sessions (their API
// tokens stay) and lifts a lockout.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := ValidatePassword(name, password); err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	h, err := HashPassword(password, s.opts.Hash)
	if err != nil {
		return err
	}
	if err := s.st.SetPasswordHash(ctx, name, h); err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	if err := s.st.DeleteUserSessions(ctx, name); err != nil {
		return fmt.Errorf("end sessions of %s: %w", name, err)
	}
	if err := s.st.ClearLoginFailures(ctx, name); err != nil {
		return fmt.Errorf("clear failed logins of %s: %w", name, err)
	}
	return nil
}

// Disable stops a user logging in and ends their sessions and API tokens
// (tokens are deleted: Enable does not bring them back).
func (s *Service) Disable(ctx context.Context, name string) error {
	if err := s.st.SetUserDisabled(ctx, name, true); err != nil {
		return fmt.Errorf("disable user %s: %w", name, err)
	}
	return nil
}

// Enable lets a disabled user log in again.
func (s *Service) Enable(ctx context.Context, name string) error {
	if err := s.st.SetUserDisabled(ctx, name, false); err != nil {
		return fmt.Errorf("enable user %s: %w", name, err)
	}
	return nil
}

// User returns one user.
func (s *Service) User(ctx context.Context, name string) (User, error) {
	u, err := s.st.User(ctx, name)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// Users lists every user by name.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	us, err := s.st.Users(ctx)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return us, nil
}

// Session is a logged-in browser.
type Session struct {
	// ID is the secret that goes in the cookie; only its SHA-256 is stored.
	ID string
	// CSRF must accompany every state-changing request of the session.
	CSRF    string
	User    User
	Expires time.Time
}

// CheckCSRF reports, in constant time, whether token is the session's.
func (s Session) CheckCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}

// Login checks a user name and password from remote (an IP address, with
// or without a port) and opens a session. Unknown users and wrong
// passwords are the same ErrBadLogin and cost the same hashing;
// ErrLockedOut after Options.MaxFailures consecutive failures for the
// name; ErrRateLimited when remote tries too often; ErrDisabled when the
// password is right but the account is disabled.
func (s *Service) Login(ctx context.Context, name, password, remote string) (Session, error) {
	now := s.clk.Now()
	if !s.lim.allow(remoteHost(remote), now) {
		return Session{}, ErrRateLimited
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if ValidateName(name) != nil {
		s.checkDummy(password)
		return Session{}, ErrBadLogin
	}
	n, last, err := s.st.LoginFailures(ctx, name)
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if n >= s.opts.MaxFailures && now.Before(last.Add(s.opts.LockoutFor)) {
		return Session{}, ErrLockedOut
	}
	cr, err := s.st.Credentials(ctx, name)
	if errors.Is(err, ErrNotFound) {
		s.checkDummy(password)
		return Session{}, s.fail(ctx, name, now)
	}
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	ok, stale, err := VerifyPassword(cr.Hash, password, s.opts.Hash)
	if err != nil {
		return Session{}, fmt.Errorf("login %s: stored password: %w", name, err)
	}
	if !ok {
		return Session{}, s.fail(ctx, name, now)
	}
	if cr.User.Disabled {
		return Session{}, ErrDisabled
	}
	if n > 0 {
		if err := s.st.ClearLoginFailures(ctx, name); err != nil {
			return Session{}, fmt.Errorf("login: %w", err)
		}
	}
	if stale {
		if h, err := HashPassword(password, s.opts.Hash); err == nil {
			// Best effort: a failure leaves the old hash, retried next login.
			_ = s.st.SetPasswordHash(ctx, name, h)
		}
	}
	if err := s.st.DeleteExpiredSessions(ctx, now); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	id, csrf := randomString(32), randomString(32)
	rec := SessionRecord{IDHash: Digest(id), User: name, CSRF: csrf, Created: now, Expires: now.Add(s.opts.SessionTTL)}
	if err := s.st.AddSession(ctx, rec); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return Session{ID: id, CSRF: csrf, User: cr.User, Expires: rec.Expires}, nil
}

func (s *Service) fail(ctx context.Context, name string, now time.Time) error {
	if _, err := s.st.AddLoginFailure(ctx, name, now, now.Add(-s.opts.LockoutFor)); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return ErrBadLogin
}

func (s *Service) checkDummy(password string) {
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword("guardcast-no-such-user", s.opts.Hash)
	})
	VerifyPassword(s.dummy, password, s.opts.Hash)
}

// slideEvery limits how often a session's or token's use is written back.
const slideEvery = time.Minute

// Session returns the live session with this ID, sliding its expiry
// forward. ErrNoSession when it is unknown, expired, or its user disabled.
func (s *Service) Session(ctx context.Context, id string) (Session, error) {
	if id == "" {
		return Session{}, ErrNoSession
	}
	h := Digest(id)
	rec, err := s.st.SessionByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	now := s.clk.Now()
	if !now.Before(rec.Expires) {
		if err := s.st.DeleteSession(ctx, h); err != nil {
			return Session{}, fmt.Errorf("session: %w", err)
		}
		return Session{}, ErrNoSession
	}
	u, err := s.liveUser(ctx, rec.User)
	if err != nil {
		return Session{}, err
	}
	exp := now.Add(s.opts.SessionTTL)
	if max := rec.Created.Add(s.opts.SessionMaxAge); exp.After(max) {
		exp = max
	}
	if exp.Sub(rec.Expires) >= slideEvery {
		if err := s.st.ExtendSession(ctx, h, exp); err != nil {
			return Session{}, fmt.Errorf("session: %w", err)
		}
		rec.Expires = exp
	}
	return Session{ID: id, CSRF: rec.CSRF, User: u, Expires: rec.Expires}, nil
}

func (s *Service) liveUser(ctx context.Context, name string) (User, error) {
	u, err := s.st.User(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrNoSession
	}
	if err != nil {
		return User{}, fmt.Errorf("session user %s: %w", name, err)
	}
	if u.Disabled {
		return User{}, ErrNoSession
	}
	return u, nil
}

// Logout ends the session with this ID; an unknown one is no error.
func (s *Service) Logout(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.st.DeleteSession(ctx, Digest(id)); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// TokenInfo describes an API token without the token.
type TokenInfo struct {
	User      string    `json:"user"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"` // zero: never used
	Prefix    string    `json:"prefix"`    // the token's first 12 characters
}

// AddToken issues an API token for user, labelled (unique per user). The
// token is returned once and stored only as its SHA-256.
func (s *Service) AddToken(ctx context.Context, user, label string) (string, error) {
	label = strings.TrimSpace(label)
	if label == "" {
		return "", invalidf("token label: empty")
	}
	if err := validateText("token label", label, MaxLabelLen); err != nil {
		return "", err
	}
	u, err := s.st.User(ctx, user)
	if err != nil {
		return "", fmt.Errorf("token for %s: %w", user, err)
	}
	if u.Disabled {
		return "", fmt.Errorf("token for %s: %w", user, ErrDisabled)
	}
	tok := TokenPrefix + randomString(32)
	rec := TokenRecord{Hash: Digest(tok), User: user, Label: label, Prefix: tok[:12], CreatedAt: s.clk.Now()}
	if err := s.st.AddToken(ctx, rec); err != nil {
		return "", fmt.Errorf("token %s of %s: %w", label, user, err)
	}
	return tok, nil
}

// Token returns the user an API token belongs to. ErrNoSession when it is
// unknown, revoked, or its user disabled.
func (s *Service) Token(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return User{}, ErrNoSession
	}
	h := Digest(token)
	rec, err := s.st.TokenByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrNoSession
	}
	if err != nil {
		return User{}, fmt.Errorf("token: %w", err)
	}
	u, err := s.liveUser(ctx, rec.User)
	if err != nil {
		return User{}, err
	}
	if now := s.clk.Now(); now.Sub(rec.LastUsed) >= slideEvery {
		if err := s.st.TouchToken(ctx, h, now); err != nil {
			return User{}, fmt.Errorf("token: %w", err)
		}
	}
	return u, nil
}

// RevokeToken deletes a user's token by label.
func (s *Service) RevokeToken(ctx context.Context, user, label string) error {
	if err := s.st.DeleteToken(ctx, user, label); err != nil {
		return fmt.Errorf("revoke token %s of %s: %w", label, user, err)
	}
	return nil
}

// Tokens lists a user's tokens by label.
func (s *Service) Tokens(ctx context.Context, user string) ([]TokenInfo, error) {
	recs, err := s.st.Tokens(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("tokens of %s: %w", user, err)
	}
	out := make([]TokenInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, TokenInfo{User: r.User, Label: r.Label, CreatedAt: r.CreatedAt, LastUsed: r.LastUsed, Prefix: r.Prefix})
	}
	return out, nil
}

// Digest is the hex SHA-256 under which a session ID or token is stored.
func Digest(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// randomString returns n random bytes as unpadded URL-safe base64.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
