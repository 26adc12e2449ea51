// Package auth owns the office's people: users, roles, password hashing,
// sessions, API tokens and login throttling. It decides who someone is;
// what they may do with that is the operations core's business (User.Has
// reports a role literally — admin does not imply the others here).
//
// Secrets never rest in the database: passwords are stored as argon2id
// hashes, and session IDs and API tokens only as their SHA-256.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a user may do in the office. A user holds any set of them.
type Role string

// The roles. What each operation requires is decided by the office.
const (
	RoleAdmin       Role = "admin"        // users, devices, org; everything else too, but never approves its own change
	RoleEditor      Role = "editor"       // media, playlists, campaigns (changes become pending)
	RoleApprover    Role = "approver"     // approves/rejects pending changes
	RoleAlertIssuer Role = "alert_issuer" // pushes/cancels urgent alerts, enters fraud cases
	RoleSupervisor  Role = "supervisor"   // reads everything incl. people's phones, chases laggards
	RoleAuditor     Role = "auditor"      // read-only: proofs, findings, exports, admin log
	RoleResponsible Role = "responsible"  // a unit's responsible person: sees and signs for what reaches their node
)

// AllRoles lists every role, in the order above.
func AllRoles() []Role {
	return []Role{RoleAdmin, RoleEditor, RoleApprover, RoleAlertIssuer, RoleSupervisor, RoleAuditor, RoleResponsible}
}

// ParseRole parses a role name; the error lists the valid ones.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if slices.Contains(AllRoles(), r) {
		return r, nil
	}
	names := make([]string, 0, 7)
	for _, r := range AllRoles() {
		names = append(names, string(r))
	}
	return "", invalidf("unknown role %q (valid: %s)", s, strings.Join(names, ", "))
}

// User is a person who can log in to the office.
type User struct {
	Name      string    `json:"name"`              // login name: ASCII slug a-z0-9._- (1..64)
	Display   string    `json:"display,omitempty"` // may be Chinese
	Roles     []Role    `json:"roles"`
	Node      string    `json:"node,omitempty"` // org node a responsible person belongs to
	Lang      string    `json:"lang,omitempty"` // "zh" (default) or "en"
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Has reports whether u holds role r itself. Admin does not imply the
// other roles here; the office decides what an admin may do.
func (u User) Has(r Role) bool { return slices.Contains(u.Roles, r) }

// Languages a user's console may speak; "" means DefaultLang.
const (
	LangZH      = "zh"
	LangEN      = "en"
	DefaultLang = LangZH
)

// Limits on user fields.
const (
	MaxNameLen    = 64
	MaxDisplayLen = 100 // runes
	MinPassword   = 10  // runes
	MaxPassword   = 1024
	MaxLabelLen   = 64
)

// Errors. Refusals caused by the request (a bad name, role, language,
// label) match ErrInvalid; a taken name or token label carries the store's
// "already exists" error and a missing user the store's "not found" error,
// both wrapped, so callers test them with the store's sentinels.
var (
	// ErrBadLogin: unknown user or wrong password — deliberately the same.
	ErrBadLogin = errors.New("wrong user name or password")
	// ErrLockedOut: too many consecutive failed logins for this name.
	ErrLockedOut = errors.New("too many failed logins: try again later")
	// ErrRateLimited: too many login attempts from this address.
	ErrRateLimited = errors.New("too many login attempts from this address: slow down")
	// ErrDisabled: right password, but the account is disabled.
	ErrDisabled = errors.New("account disabled")
	// ErrNoSession: the session or token is unknown, expired, revoked, or
	// its user disabled.
	ErrNoSession = errors.New("not logged in")
	// ErrWeakPassword: the password breaks the rules (it also matches
	// ErrInvalid).
	ErrWeakPassword = errors.New("password too weak")
	// ErrInvalid marks a refusal caused by the request itself.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound is what a Store's error for a missing user, session or
	// token must match (errors.Is) — besides its own not-found sentinel —
	// so that this package can tell "no such row" from a failing
	// database without importing the store.
	ErrNotFound = errors.New("not found")
)

type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

func invalidf(format string, args ...any) error {
	return invalidError{fmt.Errorf(format, args...)}
}

// ValidateName checks a login name: 1..64 of a-z 0-9 . _ -, starting with a
// letter or digit.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return invalidf("user name %q: 1 to %d characters", name, MaxNameLen)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			return invalidf("user name %q: only a-z, 0-9 and . _ - (not first), lower case", name)
		}
	}
	return nil
}

// ValidatePassword checks the password rules for user name.
func ValidatePassword(name, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return weak("not valid UTF-8")
	case n < MinPassword:
		return weak(fmt.Sprintf("at least %d characters", MinPassword))
	case len(password) > MaxPassword:
		return weak(fmt.Sprintf("at most %d bytes", MaxPassword))
	case strings.EqualFold(password, name):
		return weak("must not be the user name")
	case strings.TrimSpace(password) == "":
		return weak("must not be blank")
	}
	return nil
}

func weak(why string) error {
	return invalidError{fmt.Errorf("%w: %s", ErrWeakPassword, why)}
}

func validateText(what, s string, max int) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return invalidf("%s: at most %d characters of valid UTF-8", what, max)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return invalidf("%s %q: no control characters", what, s)
		}
	}
	return nil
}

// normalize checks u's fields and returns it with roles sorted and
// de-duplicated and the language defaulted.
func normalize(u User) (User, error) {
	if err := ValidateName(u.Name); err != nil {
		return u, err
	}
	if err := validateText("display name", u.Display, MaxDisplayLen); err != nil {
		return u, err
	}
	roles := make([]Role, 0, len(u.Roles))
	for _, r := range u.Roles {
		p, err := ParseRole(string(r))
		if err != nil {
			return u, fmt.Errorf("user %s: %w", u.Name, err)
		}
		if !slices.Contains(roles, p) {
			roles = append(roles, p)
		}
	}
	slices.Sort(roles)
	u.Roles = roles
	switch u.Lang {
	case "":
		u.Lang = DefaultLang
	case LangZH, LangEN:
	default:
		return u, invalidf("user %s: language %q: zh or en", u.Name, u.Lang)
	}
	if u.Node != "" {
		if err := validateText("node", u.Node, MaxNameLen); err != nil {
			return u, err
		}
	}
	if u.Has(RoleResponsible) && u.Node == "" {
		return u, invalidf("user %s: a responsible person needs a node", u.Name)
	}
	return u, nil
}

// Options tune passwords, sessions and login throttling. Zero fields take
// DefaultOptions' values.
type Options struct {
	// SessionTTL is how long a session lives without use; each use slides
	// it forward, up to SessionMaxAge after login.
	SessionTTL    time.Duration
	SessionMaxAge time.Duration
	// MaxFailures consecutive failed logins for one name (each within
	// LockoutFor of the previous) lock that name for LockoutFor after the
	// last failure, whatever the password.
	MaxFailures int
	LockoutFor  time.Duration
	// LoginBurst login attempts are allowed from one remote address at
	// once, refilled at one per LoginEvery.
	LoginBurst int
	LoginEvery time.Duration
	// Hash is the argon2id cost of new password hashes. Hashes verify at
	// whatever cost they were made with; tests lower it (CheapHash).
	Hash HashParams
}

// DefaultOptions suit an office on a Raspberry Pi.
var DefaultOptions = Options{
	SessionTTL:    8 * time.Hour,
	SessionMaxAge: 24 * time.Hour,
	MaxFailures:   5,
	LockoutFor:    15 * time.Minute,
	LoginBurst:    10,
	LoginEvery:    6 * time.Second, // 10 a minute
	Hash:          DefaultHash,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.SessionTTL <= 0 {
		o.SessionTTL = d.SessionTTL
	}
	if o.SessionMaxAge <= 0 {
		o.SessionMaxAge = d.SessionMaxAge
	}
	if o.SessionMaxAge < o.SessionTTL {
		o.SessionMaxAge = o.SessionTTL
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = d.MaxFailures
	}
	if o.LockoutFor <= 0 {
		o.LockoutFor = d.LockoutFor
	}
	if o.LoginBurst <= 0 {
		o.LoginBurst = d.LoginBurst
	}
	if o.LoginEvery <= 0 {
		o.LoginEvery = d.LoginEvery
	}
	if o.Hash == (HashParams{}) {
		o.Hash = d.Hash
	}
	return o
}

// Credentials are a user with their password hash, for Login.
type Credentials struct {
	User User
	Hash string // PHC-encoded argon2id
}

// SessionRecord is a stored session: IDHash is the hex SHA-256 of the
// session ID, which itself is only ever in the user's cookie.
type SessionRecord struct {
	IDHash  string
	User    string
	CSRF    string
	Created time.Time
	Expires time.Time
}

// TokenRecord is a stored API token: Hash is the hex SHA-256 of the token.
type TokenRecord struct {
	Hash      string
	User      string
	Label     string
	Prefix    string // the token's first characters, to recognise it
	CreatedAt time.Time
	LastUsed  time.Time // zero: never used
}

// Store keeps users, sessions, tokens and login failures. A missing user,
// session or token is an error matching ErrNotFound; adding a user or a
// token label that exists is the store's "already exists" error.
type Store interface {
	AddUser(ctx context.Context, u User, hash string) error
	// UpdateUser reads the user, applies edit and writes it back in one
	// transaction. Name, CreatedAt and Disabled are not changed by it.
	UpdateUser(ctx context.Context, name string, edit func(*User) error) error
	SetPasswordHash(ctx context.Context, name, hash string) error
	// SetUserDisabled (true) also deletes the user's sessions and tokens
	// in the same transaction.
	SetUserDisabled(ctx context.Context, name string, disabled bool) error
	User(ctx context.Context, name string) (User, error)
	Users(ctx context.Context) ([]User, error)
	Credentials(ctx context.Context, name string) (Credentials, error)

	// LoginFailures reports the consecutive failed logins recorded for a
	// login name (which need not be a user): 0 and zero time for none.
	LoginFailures(ctx context.Context, name string) (n int, last time.Time, err error)
	// AddLoginFailure counts a failure at at, atomically, and returns the
	// new count; a count whose last failure is not after since starts
	// again from zero.
	AddLoginFailure(ctx context.Context, name string, at, since time.Time) (int, error)
	ClearLoginFailures(ctx context.Context, name string) error

	AddSession(ctx context.Context, r SessionRecord) error
	SessionByHash(ctx context.Context, idHash string) (SessionRecord, error)
	ExtendSession(ctx context.Context, idHash string, expires time.Time) error
	DeleteSession(ctx context.Context, idHash string) error
	DeleteUserSessions(ctx context.Context, user string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) error

	AddToken(ctx context.Context, r TokenRecord) error
	TokenByHash(ctx context.Context, hash string) (TokenRecord, error)
	TouchToken(ctx context.Context, hash string, at time.Time) error
	DeleteToken(ctx context.Context, user, label string) error
	Tokens(ctx context.Context, user string) ([]TokenRecord, error)
}
