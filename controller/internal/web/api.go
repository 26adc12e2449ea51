package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Previewer answers GET /api/devices/{id}/preview: what the device will
// play between from and to (output "" for all).
type Previewer func(ctx context.Context, device, output string, from, to time.Time) (any, error)

// MaxBody bounds an API request body.
const MaxBody = 1 << 20

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/org", s.getOrg)
	mux.HandleFunc("POST /api/org/nodes", s.postNode)
	mux.HandleFunc("PATCH /api/org/nodes/{id}", s.patchNode)
	mux.HandleFunc("POST /api/org/nodes/{id}/people", s.postPerson)
	mux.HandleFunc("POST /api/devices/{id}/move", s.moveDevice)
	mux.HandleFunc("POST /api/devices/{id}/tags", s.tagDevice)
	mux.HandleFunc("GET /api/devices/{id}/preview", s.preview)
	mux.HandleFunc("GET /api/campaigns", s.listCampaigns)
	mux.HandleFunc("POST /api/campaigns", s.postCampaign)
	mux.HandleFunc("POST /api/campaigns/{name}/end", s.endCampaign)
	mux.HandleFunc("GET /api/alerts", s.listAlerts)
	mux.HandleFunc("POST /api/alerts", s.postAlert)
	mux.HandleFunc("GET /api/alerts/{id}", s.alertStatus)
	mux.HandleFunc("GET /api/alerts/{id}/laggards", s.alertLaggards)
	mux.HandleFunc("POST /api/alerts/{id}/cancel", s.cancelAlert)
	mux.HandleFunc("GET /api/quota-misses", s.quotaMisses)
	mux.HandleFunc("GET /api/versions", s.versions)
	mux.HandleFunc("GET /api/versions/laggards", s.versionLaggards)
}

// decode reads a JSON body strictly: bounded, unknown fields and trailing
// data refused with the reason.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		httpError(w, http.StatusBadRequest, "request body: trailing data after the JSON object")
		return false
	}
	return true
}

// fail maps an error to its status: a bad request 400, a missing name 404,
// a duplicate 409, anything else 500.
func (s *Server) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrInvalid), errors.Is(err, alert.ErrBadRequest):
		httpError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrExists):
		httpError(w, http.StatusConflict, err.Error())
	default:
		s.log.Error("api", "err", err)
		httpError(w, http.StatusInternalServerError, err.Error())
	}
}

func (s *Server) changed() {
	if s.Changed != nil {
		s.Changed()
	}
}

func created(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// DeviceBrief is a device as the org tree lists it.
type DeviceBrief struct {
	ID    string   `json:"id"`
	Tags  []string `json:"tags,omitempty"`
	State string   `json:"state"`
}

// NodeView is one node of GET /api/org.
type NodeView struct {
	org.Node
	EffectiveTZ string        `json:"effective_tz,omitempty"`
	People      []org.Person  `json:"people"`
	Devices     []DeviceBrief `json:"devices,omitempty"`
	Children    []*NodeView   `json:"children,omitempty"`
}

// OrgView is the whole tree; Unplaced are devices on no site.
type OrgView struct {
	Roots    []*NodeView   `json:"roots"`
	Unplaced []DeviceBrief `json:"unplaced"`
}

// OrgTree builds the tree view with devices and their version states.
func OrgTree(ctx context.Context, st *store.Store) (*OrgView, error) {
	tree, err := st.Tree(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := report.Versions(ctx, st)
	if err != nil {
		return nil, err
	}
	tags, err := st.DeviceTags(ctx)
	if err != nil {
		return nil, err
	}
	bySite := map[string][]DeviceBrief{}
	out := &OrgView{Roots: []*NodeView{}, Unplaced: []DeviceBrief{}}
	for _, v := range vs {
		b := DeviceBrief{ID: v.Device, Tags: tags[v.Device], State: v.State}
		if _, ok := tree.Node(v.Site); ok {
			bySite[v.Site] = append(bySite[v.Site], b)
		} else {
			out.Unplaced = append(out.Unplaced, b)
		}
	}
	var build func(id string) *NodeView
	build = func(id string) *NodeView {
		n, _ := tree.Node(id)
		v := &NodeView{Node: n, EffectiveTZ: tree.TZ(id), People: tree.People(id), Devices: bySite[id]}
		if v.People == nil {
			v.People = []org.Person{}
		}
		for _, c := range tree.Children(id) {
			v.Children = append(v.Children, build(c))
		}
		return v
	}
	for _, r := range tree.Roots() {
		out.Roots = append(out.Roots, build(r))
	}
	return out, nil
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	v, err := OrgTree(r.Context(), s.st)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, v)
}

// NodeRequest is the body of POST /api/org/nodes; Quiet takes the CLI's
// "daily,22:00-07:00" form ("none": no quiet hours, left out: inherit).
type NodeRequest struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Parent string   `json:"parent,omitempty"`
	TZ     string   `json:"tz,omitempty"`
	Quiet  []string `json:"quiet,omitempty"`
}

// Node parses the request.
func (q NodeRequest) Node() (org.Node, error) {
	n := org.Node{ID: q.ID, Kind: q.Kind, Name: q.Name, Parent: q.Parent, TZ: q.TZ}
	if q.Quiet != nil {
		quiet, err := org.ParseQuiet(q.Quiet)
		if err != nil {
			return n, store.Invalid(err)
		}
		n.Quiet = quiet
	}
	return n, nil
}

func (s *Server) postNode(w http.ResponseWriter, r *http.Request) {
	var q NodeRequest
	if !decode(w, r, &q) {
		return
	}
	n, err := q.Node()
	if err == nil {
		err = s.st.AddNode(r.Context(), n)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	created(w, n)
}

// NodePatch is the body of PATCH /api/org/nodes/{id}: only the fields
// present change. Quiet ["inherit"] goes back to the parent's.
type NodePatch struct {
	Name   *string   `json:"name,omitempty"`
	Parent *string   `json:"parent,omitempty"`
	TZ     *string   `json:"tz,omitempty"`
	Quiet  *[]string `json:"quiet,omitempty"`
}

// Edit parses the patch.
func (p NodePatch) Edit() (store.NodeEdit, error) {
	e := store.NodeEdit{Name: p.Name, Parent: p.Parent, TZ: p.TZ}
	if p.Quiet != nil {
		var q []protocol.Daypart
		if len(*p.Quiet) != 1 || (*p.Quiet)[0] != "inherit" {
			var err error
			if q, err = org.ParseQuiet(*p.Quiet); err != nil {
				return e, store.Invalid(err)
			}
		}
		e.Quiet = &q
	}
	return e, nil
}

func (s *Server) patchNode(w http.ResponseWriter, r *http.Request) {
	var p NodePatch
	if !decode(w, r, &p) {
		return
	}
	e, err := p.Edit()
	if err == nil {
		err = s.st.EditNode(r.Context(), r.PathValue("id"), e)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	tree, err := s.st.Tree(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	n, _ := tree.Node(r.PathValue("id"))
	writeJSON(w, n)
}

// PersonRequest is the body of POST /api/org/nodes/{id}/people.
type PersonRequest struct {
	Role  string `json:"role"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

func (s *Server) postPerson(w http.ResponseWriter, r *http.Request) {
	var q PersonRequest
	if !decode(w, r, &q) {
		return
	}
	p := org.Person{Node: r.PathValue("id"), Role: q.Role, Name: q.Name, Phone: q.Phone}
	id, err := s.st.AddPerson(r.Context(), p)
	if err != nil {
		s.fail(w, err)
		return
	}
	p.ID = id
	created(w, p)
}

func (s *Server) moveDevice(w http.ResponseWriter, r *http.Request) {
	var q struct {
		To string `json:"to"`
	}
	if !decode(w, r, &q) {
		return
	}
	if err := s.st.MoveDevice(r.Context(), r.PathValue("id"), q.To); err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	writeJSON(w, map[string]string{"device": r.PathValue("id"), "site": q.To})
}

func (s *Server) tagDevice(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Add    []string `json:"add,omitempty"`
		Remove []string `json:"remove,omitempty"`
	}
	if !decode(w, r, &q) {
		return
	}
	id := r.PathValue("id")
	if err := s.st.TagDevice(r.Context(), id, q.Add, q.Remove); err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	tags, err := s.st.DeviceTags(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	t := tags[id]
	if t == nil {
		t = []string{}
	}
	writeJSON(w, map[string]any{"device": id, "tags": t})
}

func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	if s.Preview == nil {
		httpError(w, http.StatusNotImplemented, "preview not available")
		return
	}
	q := r.URL.Query()
	now := s.now()
	from, to := now, now.Add(24*time.Hour)
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			httpError(w, http.StatusBadRequest, "from: want RFC 3339")
			return
		}
		to = from.Add(24 * time.Hour)
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			httpError(w, http.StatusBadRequest, "to: want RFC 3339")
			return
		}
	}
	if !to.After(from) || to.Sub(from) > 31*24*time.Hour {
		httpError(w, http.StatusBadRequest, "to must be after from, at most 31 days")
		return
	}
	out := q.Get("output")
	if out != "" && !protocol.ValidOutput(out) {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("output %q: want led, tv, audio or printer", out))
		return
	}
	v, err := s.Preview(r.Context(), r.PathValue("id"), out, from, to)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, v)
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := s.st.Campaigns(r.Context(), r.URL.Query().Get("all") != "")
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []schedule.CampaignView{}
	for _, c := range cs {
		out = append(out, schedule.ViewCampaign(c))
	}
	writeJSON(w, out)
}

func (s *Server) postCampaign(w http.ResponseWriter, r *http.Request) {
	var q schedule.CampaignRequest
	if !decode(w, r, &q) {
		return
	}
	c, err := q.Campaign()
	if err == nil {
		err = s.st.CreateCampaign(r.Context(), c)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	cs, err := s.st.Campaigns(r.Context(), true)
	if err != nil {
		s.fail(w, err)
		return
	}
	for _, x := range cs {
		if x.Name == c.Name {
			created(w, schedule.ViewCampaign(x))
			return
		}
	}
	created(w, q)
}

func (s *Server) endCampaign(w http.ResponseWriter, r *http.Request) {
	if err := s.st.EndCampaign(r.Context(), r.PathValue("name"), s.now().Unix()); err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	writeJSON(w, map[string]string{"campaign": r.PathValue("name"), "ended": s.now().UTC().Format(time.RFC3339)})
}

// AlertView is an alert as listed.
type AlertView struct {
	protocol.Alert
	Pushed    string `json:"pushed"`
	Expires   string `json:"expires"`
	Cancelled string `json:"cancelled,omitempty"`
	Active    bool   `json:"active"`
}

// ViewAlert is an alert with readable times.
func ViewAlert(a store.Alert, now time.Time) AlertView {
	v := AlertView{Alert: a.Alert, Pushed: time.UnixMilli(a.PushedMS).UTC().Format(time.RFC3339Nano),
		Expires: time.Unix(a.ExpiresAt, 0).UTC().Format(time.RFC3339), Active: a.Active(now)}
	if a.CancelledAt != 0 {
		v.Cancelled = time.Unix(a.CancelledAt, 0).UTC().Format(time.RFC3339)
	}
	return v
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if r.URL.Query().Get("active") != "" {
		since = s.now()
	}
	as, err := s.st.Alerts(r.Context(), since)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []AlertView{}
	for _, a := range as {
		out = append(out, ViewAlert(a, s.now()))
	}
	writeJSON(w, out)
}

// PushResult answers POST /api/alerts.
type PushResult struct {
	Alert      AlertView `json:"alert"`
	Recipients int       `json:"recipients"`
}

func (s *Server) postAlert(w http.ResponseWriter, r *http.Request) {
	var q alert.Request
	if !decode(w, r, &q) {
		return
	}
	a, err := alert.Push(r.Context(), s.st, q, s.now())
	if err != nil {
		s.fail(w, err)
		return
	}
	// Publish first, count after: the count must not delay the warning.
	s.changed()
	res := PushResult{Alert: ViewAlert(a, s.now())}
	if tree, err := s.st.Tree(r.Context()); err == nil {
		if rs, err := alert.Recipients(r.Context(), s.st, tree, a.Targets); err == nil {
			res.Recipients = len(rs)
		}
	}
	created(w, res)
}

func (s *Server) alertStatus(w http.ResponseWriter, r *http.Request) {
	st, _, err := alert.StatusOf(r.Context(), s.st, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) alertLaggards(w http.ResponseWriter, r *http.Request) {
	st, tree, err := alert.StatusOf(r.Context(), s.st, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, alert.Laggards(st, tree))
}

func (s *Server) cancelAlert(w http.ResponseWriter, r *http.Request) {
	if err := s.st.CancelAlert(r.Context(), r.PathValue("id"), s.now()); err != nil {
		s.fail(w, err)
		return
	}
	s.changed()
	writeJSON(w, map[string]string{"alert": r.PathValue("id"), "cancelled": s.now().UTC().Format(time.RFC3339)})
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	vs, err := report.Versions(r.Context(), s.st)
	if err != nil {
		s.fail(w, err)
		return
	}
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Device < vs[j].Device })
	writeJSON(w, vs)
}

func (s *Server) versionLaggards(w http.ResponseWriter, r *http.Request) {
	ls, err := report.VersionLaggards(r.Context(), s.st)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, ls)
}

func (s *Server) quotaMisses(w http.ResponseWriter, r *http.Request) {
	rows, err := s.st.Acks(r.Context(), store.AckFilter{Device: r.URL.Query().Get("device"), Event: protocol.AckQuotaMiss})
	if err != nil {
		s.fail(w, err)
		return
	}
	type view struct {
		protocol.Ack
		ReceivedMS int64 `json:"received_ms"`
	}
	out := []view{}
	for _, k := range rows {
		out = append(out, view{k.Ack, k.ReceivedMS})
	}
	writeJSON(w, out)
}
