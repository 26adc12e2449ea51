// Package web is the controller's HTTP side: media by sha256 (for agents)
// and a JSON API for the office (the org tree, campaigns, urgent alerts),
// supervisors (who has signed for what) and auditors (the play log).
//
// The API has no authentication yet: bind it to a management network or
// put an authenticating reverse proxy in front of /api/. Request bodies
// are decoded strictly: an unknown field is a 400 naming it.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/guardcast/guardcast/controller/internal/httpserve"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Server serves media and the API.
type Server struct {
	st    *store.Store
	media http.Handler
	log   *slog.Logger

	// Changed, when set, is called after every edit made through the API,
	// so the fleet publishes at once instead of at its next poll.
	Changed func()
	// Preview, when set, serves GET /api/devices/{id}/preview.
	Preview Previewer
	now     func() time.Time
}

// New returns the HTTP handler set; media serves GET /media/{sha256}.
func New(st *store.Store, media http.Handler, log *slog.Logger) *Server {
	return &Server{st: st, media: media, log: log, now: time.Now}
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /media/", s.media)
	mux.Handle("HEAD /media/", s.media)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /api/devices", s.devices)
	mux.HandleFunc("GET /api/media", s.listMedia)
	mux.HandleFunc("GET /api/proofs", s.proofs)
	mux.HandleFunc("GET /api/findings", s.findings)
	s.routes(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// DeviceView is a device as the API shows it (no secrets).
type DeviceView struct {
	ID             string           `json:"id"`
	Site           string           `json:"site"`
	Node           string           `json:"node,omitempty"`
	Tags           []string         `json:"tags,omitempty"`
	Profile        string           `json:"profile"`
	Enrolled       bool             `json:"enrolled"`
	KeyID          string           `json:"key_id,omitempty"`
	PublicKey      string           `json:"public_key,omitempty"` // base64 Ed25519; auditors verify head_sig with it
	DesiredVersion uint64           `json:"desired_version"`
	DesiredExpires int64            `json:"desired_expires"`
	AdoptedVersion uint64           `json:"adopted_version"`
	AdoptedAt      string           `json:"adopted_at,omitempty"`
	State          string           `json:"state"` // "version 7 verified and playing"
	LastSeq        uint64           `json:"last_seq"`
	LastSeen       int64            `json:"last_seen"`
	Status         *protocol.Status `json:"status,omitempty"`
}

// ViewDevice turns a stored device and its tags into its public view.
func ViewDevice(d store.Device, tags []string) DeviceView {
	v := DeviceView{ID: d.ID, Site: d.Site, Node: d.Node, Tags: tags, Profile: d.Profile, Enrolled: d.PubKey != nil,
		DesiredVersion: d.DesiredVersion, DesiredExpires: d.DesiredExpires, LastSeq: d.LastSeq, LastSeen: d.LastSeen,
		AdoptedVersion: d.AdoptedVersion}
	if d.AdoptedMS > 0 {
		v.AdoptedAt = time.UnixMilli(d.AdoptedMS).UTC().Format(time.RFC3339Nano)
	}
	vs := report.VersionState{Published: d.DesiredVersion, Adopted: d.AdoptedVersion}
	vs.Describe()
	v.State = vs.State
	if d.PubKey != nil {
		v.KeyID = protocol.KeyID(d.PubKey)
		v.PublicKey = protocol.EncodeKey(d.PubKey)
	}
	if d.Status != "" {
		var st protocol.Status
		if json.Unmarshal([]byte(d.Status), &st) == nil {
			v.Status = &st
		}
	}
	return v
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	devs, err := s.st.Devices(r.Context())
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	tags, err := s.st.DeviceTags(r.Context())
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	out := []DeviceView{}
	for _, d := range devs {
		out = append(out, ViewDevice(d, tags[d.ID]))
	}
	writeJSON(w, out)
}

func (s *Server) listMedia(w http.ResponseWriter, r *http.Request) {
	ms, err := s.st.ListMedia(r.Context())
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	type view struct {
		SHA256     string `json:"sha256"`
		Kind       string `json:"kind"`
		MIME       string `json:"mime"`
		Size       int64  `json:"size"`
		Name       string `json:"name"`
		Title      string `json:"title"`
		DurationMS int64  `json:"duration_ms,omitempty"`
	}
	out := []view{}
	for _, m := range ms {
		out = append(out, view{m.SHA256, m.Kind, m.MIME, m.Size, m.Name, m.Title, m.DurationMS})
	}
	writeJSON(w, out)
}

// ParseSince accepts RFC 3339, a date (2006-01-02) or a duration back from
// now ("24h").
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("since: want RFC 3339 time, YYYY-MM-DD, or a duration such as 24h")
}

func (s *Server) proofs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := ParseSince(q.Get("since"), time.Now())
	if err != nil {
		httpError(w, 400, err.Error())
		return
	}
	limit := 1000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > 100000 {
			httpError(w, 400, "limit: want 1..100000")
			return
		}
		limit = n
	}
	dev := q.Get("device")
	if dev != "" {
		if err := protocol.ValidateDeviceID(dev); err != nil {
			httpError(w, 400, err.Error())
			return
		}
	}
	f := store.ProofFilter{Device: dev, Limit: limit}
	if !since.IsZero() {
		f.SinceNS = since.UnixNano()
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := report.Export(r.Context(), s.st, f, "jsonl", w); err != nil {
		s.log.Warn("api proofs", "err", err)
	}
}

func (s *Server) findings(w http.ResponseWriter, r *http.Request) {
	fs, err := s.st.Findings(r.Context(), r.URL.Query().Get("device"))
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	type view struct {
		Device string `json:"device"`
		Seq    uint64 `json:"seq,omitempty"`
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
		At     string `json:"at"`
	}
	out := []view{}
	for _, f := range fs {
		out = append(out, view{f.Device, f.Seq, f.Kind, f.Detail, time.Unix(f.At, 0).UTC().Format(time.RFC3339)})
	}
	writeJSON(w, out)
}

// Serve runs an HTTP server on ln until ctx is cancelled, with
// httpserve.DefaultOptions: header, body, write and idle timeouts, bounded
// headers and bodies, and media downloads that may run long while they
// keep moving. Use httpserve.Serve for other limits.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	return httpserve.Serve(ctx, ln, h, log, httpserve.DefaultOptions)
}
