package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// MaxBody bounds a JSON request body.
const MaxBody = 1 << 20

// MaxUpload bounds a media upload.
const MaxUpload = 512 << 20

// SessionCookie is the session cookie's name.
const SessionCookie = "gc_session"

// CSRFHeader carries the session's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

// Sessions is what the API needs of the user service.
type Sessions interface {
	Login(ctx context.Context, name, password, remote string) (auth.Session, error)
	Session(ctx context.Context, id string) (auth.Session, error)
	Logout(ctx context.Context, id string) error
	Token(ctx context.Context, token string) (auth.User, error)
}

// Server is the office API.
type Server struct {
	core     *office.Core
	sessions Sessions
	log      *slog.Logger
	routes   []Route
	// TempDir holds uploads while they are validated ("" for the system's).
	TempDir string
}

// Route is one registered route, for documentation and for the tests that
// prove every write refuses anonymous and wrong-role callers.
type Route struct {
	Method, Pattern string
	Op              string // the office operation it performs; "" for login/logout/me
	Write           bool
}

// New returns the API over the operations core.
func New(core *office.Core, sessions Sessions, log *slog.Logger) *Server {
	return &Server{core: core, sessions: sessions, log: log}
}

// Routes lists every route Handler serves.
func (s *Server) Routes() []Route {
	if s.routes == nil {
		s.Handler()
	}
	return s.routes
}

// who is the caller of a request.
type who struct {
	actor   *office.Actor
	session *auth.Session // nil for token callers
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes = nil
	handle := func(method, pattern, op string, write bool, h http.HandlerFunc) {
		s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Op: op, Write: write})
		mux.HandleFunc(method+" "+pattern, h)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	handle("POST", "/api/login", "", true, s.login)
	handle("POST", "/api/logout", "", true, s.logout)
	handle("GET", "/api/me", "", false, s.me)

	// Every operation by name: what the CLI uses.
	for _, o := range office.Ops() {
		if o.Name == "media.add" {
			continue
		}
		name := o.Name
		handle("POST", "/api/op/"+name, name, o.Write, func(w http.ResponseWriter, r *http.Request) {
			s.invoke(w, r, name, nil, http.StatusOK)
		})
	}
	handle("POST", "/api/media", "media.add", true, s.upload)
	handle("GET", "/api/proofs", "proofs.list", false, s.exportProofs)

	// REST names for the same operations.
	rest := []struct {
		method, pattern, op string
		build               func(r *http.Request) map[string]any
		code                int
	}{
		{"GET", "/api/org", "org.tree", nil, 200},
		{"POST", "/api/org/nodes", "org.add", nil, 201},
		{"PATCH", "/api/org/nodes/{id}", "org.edit", path("id", "id"), 200},
		{"POST", "/api/org/nodes/{id}/people", "person.add", path("id", "node"), 201},
		{"GET", "/api/devices", "device.list", nil, 200},
		{"POST", "/api/devices", "device.add", nil, 201},
		{"POST", "/api/devices/{id}/move", "device.move", path("id", "id"), 200},
		{"POST", "/api/devices/{id}/tags", "device.tag", path("id", "id"), 200},
		{"GET", "/api/devices/{id}/preview", "schedule.preview", query(map[string]string{"output": "output", "from": "from", "to": "to"}, path("id", "device")), 200},
		{"GET", "/api/media", "media.list", nil, 200},
		{"GET", "/api/playlists", "playlist.list", nil, 200},
		{"POST", "/api/playlists", "playlist.create", nil, 201},
		{"PUT", "/api/playlists/{name}", "playlist.edit", path("name", "name"), 201},
		{"POST", "/api/playlists/{name}/assign", "playlist.assign", path("name", "playlist"), 201},
		{"GET", "/api/campaigns", "campaign.list", flag("all"), 200},
		{"POST", "/api/campaigns", "campaign.create", nil, 201},
		{"POST", "/api/campaigns/{name}/end", "campaign.end", path("name", "name"), 200},
		{"GET", "/api/changes", "change.list", query(map[string]string{"state": "state"}, flag("all")), 200},
		{"GET", "/api/changes/{id}", "change.show", pathInt("id", "id"), 200},
		{"POST", "/api/changes/{id}/approve", "change.approve", pathInt("id", "id"), 200},
		{"POST", "/api/changes/{id}/reject", "change.reject", pathInt("id", "id"), 200},
		{"POST", "/api/changes/{id}/withdraw", "change.withdraw", pathInt("id", "id"), 200},
		{"GET", "/api/alerts", "alert.list", flag("active"), 200},
		{"POST", "/api/alerts", "alert.push", nil, 201},
		{"GET", "/api/alerts/{id}", "alert.status", path("id", "id"), 200},
		{"GET", "/api/alerts/{id}/laggards", "alert.laggards", path("id", "id"), 200},
		{"POST", "/api/alerts/{id}/cancel", "alert.cancel", path("id", "id"), 200},
		{"GET", "/api/quota-misses", "quota.misses", query(map[string]string{"device": "device"}), 200},
		{"GET", "/api/versions", "versions.list", nil, 200},
		{"GET", "/api/versions/laggards", "versions.laggards", nil, 200},
		{"GET", "/api/findings", "findings.list", query(map[string]string{"device": "device"}), 200},
		{"GET", "/api/adminlog", "adminlog.list", query(map[string]string{"since": "since", "until": "until", "actor": "actor", "action": "action"}), 200},
		{"GET", "/api/users", "user.list", nil, 200},
		{"POST", "/api/users", "user.add", nil, 201},
	}
	for _, rt := range rest {
		o, ok := office.Lookup(rt.op)
		if !ok {
			panic("web: route " + rt.pattern + " names unknown operation " + rt.op)
		}
		rt := rt
		handle(rt.method, rt.pattern, rt.op, o.Write, func(w http.ResponseWriter, r *http.Request) {
			var extra map[string]any
			if rt.build != nil {
				extra = rt.build(r)
				if bad, ok := extra[badKey]; ok {
					httpError(w, http.StatusBadRequest, fmt.Sprint(bad))
					return
				}
			}
			s.invoke(w, r, rt.op, extra, rt.code)
		})
	}
	return securityHeaders(mux)
}

const badKey = "\x00bad"

func path(param, field string) func(*http.Request) map[string]any {
	return func(r *http.Request) map[string]any { return map[string]any{field: r.PathValue(param)} }
}

func pathInt(param, field string) func(*http.Request) map[string]any {
	return func(r *http.Request) map[string]any {
		n, err := strconv.ParseInt(r.PathValue(param), 10, 64)
		if err != nil {
			return map[string]any{badKey: param + ": want a number"}
		}
		return map[string]any{field: n}
	}
}

func flag(name string) func(*http.Request) map[string]any {
	return func(r *http.Request) map[string]any {
		if r.URL.Query().Get(name) != "" {
			return map[string]any{name: true}
		}
		return nil
	}
}

func query(fields map[string]string, more ...func(*http.Request) map[string]any) func(*http.Request) map[string]any {
	return func(r *http.Request) map[string]any {
		out := map[string]any{}
		for q, f := range fields {
			if v := r.URL.Query().Get(q); v != "" {
				out[f] = v
			}
		}
		for _, m := range more {
			for k, v := range m(r) {
				out[k] = v
			}
		}
		return out
	}
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="guardcast"`)
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

// Status maps an office error to its HTTP status.
func Status(err error) int {
	switch {
	case errors.Is(err, office.ErrUnauthenticated), errors.Is(err, auth.ErrNoSession), errors.Is(err, auth.ErrBadLogin):
		return http.StatusUnauthorized
	case errors.Is(err, office.ErrForbidden), errors.Is(err, auth.ErrDisabled):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrLockedOut), errors.Is(err, auth.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, store.ErrInvalid), errors.Is(err, auth.ErrInvalid), errors.Is(err, alert.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, office.ErrUnknownOp), errors.Is(err, store.ErrNotFound), errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	code := Status(err)
	if code == http.StatusInternalServerError {
		s.log.Error("api", "err", err)
	}
	httpError(w, code, err.Error())
}

// caller works out who sent r: an API token, or a session cookie.
func (s *Server) caller(r *http.Request) (who, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return who{}, fmt.Errorf("authorization: want \"Bearer TOKEN\": %w", auth.ErrNoSession)
		}
		u, err := s.sessions.Token(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			return who{}, err
		}
		a := office.ActorOf(u)
		return who{actor: &a}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return who{}, nil
	}
	sess, err := s.sessions.Session(r.Context(), c.Value)
	if err != nil {
		return who{}, err
	}
	a := office.ActorOf(sess.User)
	return who{actor: &a, session: &sess}, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin refuses browser requests from other sites: a present Origin
// must be this host, and Sec-Fetch-Site, when the browser sends it, must
// not be cross-site.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request (Sec-Fetch-Site: %s) refused", site)
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return fmt.Errorf("origin %q refused", o)
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("origin %s is not this controller (%s): refused", o, r.Host)
	}
	return nil
}

// checkWrite applies the rules of a state-changing request: same origin,
// a JSON body, and the session's CSRF token when a cookie signs it in.
func checkWrite(r *http.Request, c who, jsonBody bool) (int, error) {
	if err := sameOrigin(r); err != nil {
		return http.StatusForbidden, err
	}
	if jsonBody && r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, errors.New("send the request body as Content-Type: application/json")
		}
	}
	if c.session != nil && !c.session.CheckCSRF(r.Header.Get(CSRFHeader)) {
		return http.StatusForbidden, fmt.Errorf("missing or wrong %s header (read it from GET /api/me)", CSRFHeader)
	}
	return 0, nil
}

// invoke runs an office operation for the request, with extra fields
// (path and query values) merged into the JSON body.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request, op string, extra map[string]any, code int) {
	c, err := s.caller(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if c.actor == nil {
		httpError(w, http.StatusUnauthorized, "sign in first: POST /api/login, or send an API token as Authorization: Bearer")
		return
	}
	if !safeMethod(r.Method) {
		if st, err := checkWrite(r, c, true); err != nil {
			httpError(w, st, err.Error())
			return
		}
	}
	var body []byte
	if !safeMethod(r.Method) {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			httpError(w, http.StatusRequestEntityTooLarge, "request body: "+err.Error())
			return
		}
	}
	if len(extra) > 0 {
		if body, err = merge(body, extra); err != nil {
			httpError(w, http.StatusBadRequest, "request body: "+err.Error())
			return
		}
	}
	resp, err := s.core.Invoke(r.Context(), c.actor, op, body)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, code, resp)
}

func merge(body []byte, extra map[string]any) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
	}
	for k, v := range extra {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = b
	}
	return json.Marshal(m)
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Me answers GET /api/me and a login: who is signed in, and the CSRF
// token to send on state-changing requests.
type Me struct {
	User    office.Actor `json:"user"`
	CSRF    string       `json:"csrf,omitempty"`
	Expires string       `json:"expires,omitempty"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if st, err := checkWrite(r, who{}, true); err != nil {
		httpError(w, st, err.Error())
		return
	}
	var q LoginRequest
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err == nil {
		err = office.DecodeStrict(b, &q)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	sess, err := s.sessions.Login(r.Context(), q.Name, q.Password, host)
	if err != nil {
		s.core.Log(r.Context(), "", "login_failed", q.Name, map[string]string{"remote": host, "why": err.Error()})
		s.fail(w, err)
		return
	}
	s.core.Log(r.Context(), sess.User.Name, "login", sess.User.Name, map[string]string{"remote": host})
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.ID, Path: "/", Expires: sess.Expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, Me{User: office.ActorOf(sess.User), CSRF: sess.CSRF, Expires: sess.Expires.UTC().Format(time.RFC3339)})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil || c.actor == nil {
		httpError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	if st, err := checkWrite(r, c, false); err != nil {
		httpError(w, st, err.Error())
		return
	}
	if c.session != nil {
		if err := s.sessions.Logout(r.Context(), c.session.ID); err != nil {
			s.fail(w, err)
			return
		}
	}
	s.core.Log(r.Context(), c.actor.Name, "logout", c.actor.Name, map[string]string{})
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if c.actor == nil {
		httpError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	m := Me{User: *c.actor}
	if c.session != nil {
		m.CSRF = c.session.CSRF
		m.Expires = c.session.Expires.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, m)
}

// upload takes POST /api/media?name=NAME[&title=T] with the file as the
// body, and validates and stores it as `media add` does.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if c.actor == nil {
		httpError(w, http.StatusUnauthorized, "sign in first")
		return
	}
	if st, err := checkWrite(r, c, false); err != nil {
		httpError(w, st, err.Error())
		return
	}
	if o, _ := office.Lookup("media.add"); !o.Allowed(*c.actor) {
		s.fail(w, fmt.Errorf("media.add needs one of the roles %s: %w", o.RoleNames(), office.ErrForbidden))
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		httpError(w, http.StatusBadRequest, "name: the file's name (with its extension) is required")
		return
	}
	f, err := os.CreateTemp(s.TempDir, "upload-*")
	if err != nil {
		s.fail(w, err)
		return
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, http.MaxBytesReader(w, r.Body, MaxUpload))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, "upload: "+err.Error())
		return
	}
	info, err := s.core.AddMedia(r.Context(), *c.actor, f.Name(), name, r.URL.Query().Get("title"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

// exportProofs streams the play log as JSON lines (auditors).
func (s *Server) exportProofs(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if c.actor == nil {
		httpError(w, http.StatusUnauthorized, "sign in first")
		return
	}
	q := r.URL.Query()
	since, err := ParseSince(q.Get("since"), time.Now())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := store.ProofFilter{Device: q.Get("device")}
	if f.Device != "" {
		if err := protocol.ValidateDeviceID(f.Device); err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if !since.IsZero() {
		f.SinceNS = since.UnixNano()
	}
	format := q.Get("format")
	if format == "" {
		format = "jsonl"
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	}
	if err := s.core.ExportProofs(r.Context(), *c.actor, f, format, w); err != nil {
		s.fail(w, err)
	}
}
