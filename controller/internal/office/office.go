// Package office is the controller's one front door for people: every
// operation the office performs — the org tree, people, devices, media,
// playlists, campaigns, urgent alerts, approvals and users — with its rules,
// its permission check and its admin-log entry in one place. The CLI and
// the HTTP API are thin adapters over Invoke.
//
// What changes a screen is never written straight to the tables the
// compiler signs from: a campaign, a playlist or an assignment becomes a
// pending change, and only an approver other than its author applies it.
// Urgent alerts are pushed by an alert issuer in one step (speed matters)
// unless the two-person-alerts setting is on. Removing content (ending a
// campaign, unassigning, retiring) is immediate: a stolen editor login can
// take a message down, never put one up.
package office

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/clock"
)

// LocalAdmin is the principal of the server's own CLI: `serve` writes its
// token to DIR/admin.token (0600), and a CLI run with the controller
// stopped acts as it directly.
const LocalAdmin = "local-admin"

// Actor is who performs an operation.
type Actor struct {
	Name  string      `json:"name"`
	Roles []auth.Role `json:"roles"`
	Node  string      `json:"node,omitempty"`
}

// ActorOf is the actor a signed-in user acts as.
func ActorOf(u auth.User) Actor { return Actor{Name: u.Name, Roles: u.Roles, Node: u.Node} }

// Has reports whether the actor holds role r; an admin holds every role,
// but the rule that nobody approves their own change still binds them.
func (a Actor) Has(r auth.Role) bool {
	return slices.Contains(a.Roles, auth.RoleAdmin) || slices.Contains(a.Roles, r)
}

// HasAny reports whether the actor holds one of roles.
func (a Actor) HasAny(roles []auth.Role) bool {
	for _, r := range roles {
		if a.Has(r) {
			return true
		}
	}
	return false
}

// Errors an adapter maps to its own codes (HTTP 401, 403, 400, 404, 409).
var (
	ErrUnauthenticated = errors.New("sign in first")
	ErrForbidden       = errors.New("forbidden")
	ErrUnknownOp       = errors.New("unknown operation")
)

// Audit is the admin log as the office uses it.
type Audit interface {
	Append(ctx context.Context, actor, action, target string, detail any) (adminlog.Entry, error)
}

// Users is the user service as the office uses it.
type Users interface {
	AddUser(ctx context.Context, u auth.User, password string) error
	EditUser(ctx context.Context, name string, e auth.UserEdit) error
	SetPassword(ctx context.Context, name, password string) error
	Disable(ctx context.Context, name string) error
	Enable(ctx context.Context, name string) error
	User(ctx context.Context, name string) (auth.User, error)
	Users(ctx context.Context) ([]auth.User, error)
	AddToken(ctx context.Context, user, label string) (string, error)
	RevokeToken(ctx context.Context, user, label string) error
	Tokens(ctx context.Context, user string) ([]auth.TokenInfo, error)
}

// Core performs office operations.
type Core struct {
	b       Backend
	users   Users
	audit   Audit
	clk     clock.Clock
	changed func()
}

// Options are what New needs besides the backend.
type Options struct {
	Users Users
	Audit Audit
	Clock clock.Clock
	// Changed is called after every write that can change what a device
	// plays, so the fleet publishes at once instead of at its next poll.
	Changed func()
}

// New returns the operations core.
func New(b Backend, opts Options) *Core {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Changed == nil {
		opts.Changed = func() {}
	}
	return &Core{b: b, users: opts.Users, audit: opts.Audit, clk: opts.Clock, changed: opts.Changed}
}

// Op is one operation: its name (also its HTTP path, /api/op/NAME), who may
// perform it (an admin always may) and whether it writes.
type Op struct {
	Name  string
	Write bool
	// Roles that may perform it; nil means any signed-in user.
	Roles []auth.Role
	Help  string
	run   func(c *Core, ctx context.Context, a Actor, body []byte) (resp any, target string, detail any, err error)
}

// auditDetailer is a request that says what the admin log keeps of it
// (a user request without its password).
type auditDetailer interface{ AuditDetail() any }

// Allowed reports whether a may perform the operation.
func (o Op) Allowed(a Actor) bool { return o.Roles == nil || a.HasAny(o.Roles) }

// RoleNames lists who may perform the operation, for messages.
func (o Op) RoleNames() string {
	if o.Roles == nil {
		return "any signed-in user"
	}
	var s []string
	for _, r := range o.Roles {
		if r != auth.RoleAdmin {
			s = append(s, string(r))
		}
	}
	return strings.Join(append(s, string(auth.RoleAdmin)), ", ")
}

// def declares an operation with a typed request and response.
func def[Req, Resp any](name string, write bool, roles []auth.Role, help string,
	fn func(c *Core, ctx context.Context, a Actor, req Req) (Resp, string, error)) Op {
	return Op{Name: name, Write: write, Roles: roles, Help: help,
		run: func(c *Core, ctx context.Context, a Actor, body []byte) (any, string, any, error) {
			var req Req
			if err := DecodeStrict(body, &req); err != nil {
				return nil, "", nil, store.Invalid(fmt.Errorf("request body: %w", err))
			}
			// The request as sent, as one string: canonical whatever it
			// holds (the admin log's canonical JSON has no fractions).
			var detail any = map[string]string{"request": string(compactOr(body))}
			if d, ok := any(req).(auditDetailer); ok {
				detail = d.AuditDetail()
			}
			resp, target, err := fn(c, ctx, a, req)
			return resp, target, detail, err
		}}
}

// DecodeStrict decodes one JSON value; unknown fields and trailing data
// are errors; an empty body is the zero request.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

var opIndex = indexOps()

func indexOps() map[string]Op {
	m := map[string]Op{}
	for _, o := range ops {
		if _, dup := m[o.Name]; dup {
			panic("office: operation " + o.Name + " declared twice")
		}
		m[o.Name] = o
	}
	return m
}

// Ops lists every operation, sorted by name.
func Ops() []Op {
	out := slices.Clone(ops)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds an operation by name.
func Lookup(name string) (Op, bool) {
	o, ok := opIndex[name]
	return o, ok
}

// Invoke performs the named operation for a (nil: nobody is signed in)
// with a JSON request body, and returns the response to encode.
func (c *Core) Invoke(ctx context.Context, a *Actor, name string, body []byte) (any, error) {
	o, ok := opIndex[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownOp, name)
	}
	if a == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrUnauthenticated)
	}
	if !o.Allowed(*a) {
		if o.Write {
			c.log(ctx, a.Name, "denied", name, map[string]any{"needs": o.RoleNames()})
		}
		return nil, fmt.Errorf("%s needs one of the roles %s: %w", name, o.RoleNames(), ErrForbidden)
	}
	resp, target, detail, err := o.run(c, ctx, *a, body)
	if err != nil {
		return nil, err
	}
	if o.Write {
		if err := c.log(ctx, a.Name, name, target, detail); err != nil {
			// The change is made; an admin log that cannot be written is
			// a failure the operator must see.
			return resp, fmt.Errorf("%s done, but the admin log could not record it: %w", name, err)
		}
	}
	return resp, nil
}

func compactOr(body []byte) []byte {
	var b bytes.Buffer
	if len(bytes.TrimSpace(body)) == 0 || json.Compact(&b, body) != nil {
		return []byte("{}")
	}
	return b.Bytes()
}

func (c *Core) log(ctx context.Context, actor, action, target string, detail any) error {
	if c.audit == nil {
		return nil
	}
	_, err := c.audit.Append(ctx, actor, action, target, detail)
	return err
}

// Log records an action performed outside Invoke (a login, a failed
// login) in the admin log.
func (c *Core) Log(ctx context.Context, actor, action, target string, detail any) error {
	return c.log(ctx, actor, action, target, detail)
}

// Backend is the store side of the office.
func (c *Core) Backend() Backend { return c.b }

func (c *Core) allowed(a Actor, name string) error {
	o := opIndex[name]
	if !o.Allowed(a) {
		return fmt.Errorf("%s needs one of the roles %s: %w", name, o.RoleNames(), ErrForbidden)
	}
	return nil
}

// MediaAdded answers a media upload.
type MediaAdded struct {
	SHA256     string `json:"sha256"`
	Kind       string `json:"kind"`
	Size       int64  `json:"size"`
	Name       string `json:"name"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

// AddMedia validates and stores the file at path (an upload, or `media
// add` with the controller stopped) under name. Adding media changes no
// screen: it reaches devices only through an approved playlist.
func (c *Core) AddMedia(ctx context.Context, a Actor, path, name, title string) (MediaAdded, error) {
	if err := c.allowed(a, "media.add"); err != nil {
		return MediaAdded{}, err
	}
	info, err := c.b.AddMediaFile(ctx, path, name, title)
	if media.IsRejection(err) {
		return MediaAdded{}, store.Invalid(err)
	}
	if err != nil {
		return MediaAdded{}, err
	}
	out := MediaAdded{SHA256: info.SHA256, Kind: string(info.Kind), Size: info.Size, Name: info.Name, DurationMS: info.DurationMS}
	if err := c.log(ctx, a.Name, "media.add", info.SHA256, out); err != nil {
		return out, fmt.Errorf("media added, but the admin log could not record it: %w", err)
	}
	return out, nil
}

// ExportProofs writes the play log (csv or jsonl) for an auditor.
func (c *Core) ExportProofs(ctx context.Context, a Actor, f store.ProofFilter, format string, w io.Writer) error {
	if err := c.allowed(a, "proofs.list"); err != nil {
		return err
	}
	if format != "csv" && format != "jsonl" {
		return store.Invalid(fmt.Errorf("format %q: want csv or jsonl", format))
	}
	return c.b.ExportProofs(ctx, f, format, w)
}
