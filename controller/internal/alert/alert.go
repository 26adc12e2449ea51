// Package alert is the office side of urgent fraud warnings (预警): it
// turns a push request into a stored alert — which the fleet then compiles
// into the signed document of every device under its targets — and reports
// who has signed for it: per device, rolled up per site, unit, village and
// town, and the laggards with the people to call.
//
// A device has signed for an alert when the controller holds both its
// "received" and a "first_play" acknowledgement. Latency is measured on
// the controller's clock, from the push to the arrival of the ack, so an
// agent's unsynchronised clock cannot flatter it.
package alert

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Request is a push as the CLI and POST /api/alerts take it.
type Request struct {
	To      []string `json:"to"`                // org node or device IDs
	Text    string   `json:"text,omitempty"`    // shown on screens as-is
	Audio   string   `json:"audio,omitempty"`   // media (name or sha256) for the voice output
	Outputs []string `json:"outputs,omitempty"` // default led,tv — plus audio when Audio is set
	Expires string   `json:"expires,omitempty"` // a duration ("2h") or RFC 3339; default DefaultExpiry
	Repeat  string   `json:"repeat,omitempty"`  // replay interval ("5m"); default: once per output
	Hold    string   `json:"hold,omitempty"`    // how long text holds a screen; default DefaultHold
}

// Defaults of a push.
const (
	DefaultExpiry = 2 * time.Hour
	DefaultHold   = 15 * time.Second
	MaxExpiry     = 30 * 24 * time.Hour
)

// ErrBadRequest wraps every refusal caused by the request itself.
var ErrBadRequest = errors.New("bad alert request")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// Build turns a request into a protocol alert (without its ID) at now,
// resolving the audio clip in the media library.
func Build(ctx context.Context, st *store.Store, r Request, now time.Time) (protocol.Alert, error) {
	a := protocol.Alert{Text: strings.TrimSpace(r.Text), IssuedAt: now.Unix()}
	if len(r.To) == 0 {
		return a, bad("no targets: give --to NODE (or a device ID)")
	}
	seen := map[string]bool{}
	for _, t := range r.To {
		if err := org.ValidateID(t); err != nil {
			return a, bad("target: %v", err)
		}
		if !seen[t] {
			seen[t] = true
			a.Targets = append(a.Targets, t)
		}
	}
	outputs := r.Outputs
	if len(outputs) == 0 {
		outputs = []string{protocol.OutputLED, protocol.OutputTV}
		if r.Audio != "" {
			outputs = append(outputs, protocol.OutputAudio)
		}
	}
	seenOut := map[string]bool{}
	for _, o := range outputs {
		o = strings.TrimSpace(o)
		if !protocol.ValidOutput(o) {
			return a, bad("output %q: want led, tv, audio or printer", o)
		}
		if !seenOut[o] {
			seenOut[o] = true
			a.Outputs = append(a.Outputs, o)
		}
	}
	if r.Audio != "" {
		m, err := st.Media(ctx, r.Audio)
		if err != nil {
			return a, bad("audio: %v", err)
		}
		if m.RetiredAt != 0 {
			return a, bad("audio %s is retired media", r.Audio)
		}
		if m.Kind != "audio" || m.DurationMS <= 0 {
			return a, bad("audio %s is %s media, not a voice clip", r.Audio, m.Kind)
		}
		a.Items = []protocol.Item{{SHA256: m.SHA256, Size: m.Size, Kind: m.Kind, Title: m.Title, DurationMS: m.DurationMS}}
	}
	if seenOut[protocol.OutputAudio] && r.Audio == "" {
		return a, bad("output audio needs a voice clip (--audio MEDIA)")
	}
	if a.Text == "" && (seenOut[protocol.OutputLED] || seenOut[protocol.OutputTV] || seenOut[protocol.OutputPrinter]) {
		return a, bad("screens and printers need --text")
	}
	exp, err := parseExpiry(r.Expires, now)
	if err != nil {
		return a, err
	}
	a.ExpiresAt = exp.Unix()
	if r.Repeat != "" {
		d, err := time.ParseDuration(r.Repeat)
		if err != nil || d < 10*time.Second {
			return a, bad("repeat %q: want a duration of at least 10s, such as 5m", r.Repeat)
		}
		a.RepeatEveryMS = d.Milliseconds()
	}
	hold := DefaultHold
	if r.Hold != "" {
		d, err := time.ParseDuration(r.Hold)
		if err != nil || d < time.Second || d > time.Hour {
			return a, bad("hold %q: want a duration from 1s to 1h, such as 15s", r.Hold)
		}
		hold = d
	}
	if a.Text != "" {
		a.HoldMS = hold.Milliseconds()
	}
	a.ID = "a-pending" // Validate wants one; the store assigns the real ID
	if err := a.Validate(); err != nil {
		return a, bad("%v", err)
	}
	a.ID = ""
	return a, nil
}

func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Add(DefaultExpiry), nil
	}
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return t, bad("expires %q: want a duration (2h) or an RFC 3339 time", s)
	}
	if !t.After(now.Add(time.Second)) || t.After(now.Add(MaxExpiry)) {
		return t, bad("expires %q: must be in the future and within %v", s, MaxExpiry)
	}
	return t, nil
}

// Push builds and stores an alert; the revision bump makes the running
// controller compile and publish it.
func Push(ctx context.Context, st *store.Store, r Request, now time.Time) (store.Alert, error) {
	a, err := Build(ctx, st, r, now)
	if err != nil {
		return store.Alert{}, err
	}
	sa, err := st.CreateAlert(ctx, a, now)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return sa, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return sa, err
}

// DeviceAck is one recipient's acknowledgements of an alert.
type DeviceAck struct {
	Device string `json:"device"`
	Site   string `json:"site,omitempty"` // its site when the alert was pushed
	// Outputs are the alert's outputs the device had at the push.
	Outputs []string `json:"outputs,omitempty"`
	// Retired is set for a device decommissioned since the push: it still
	// counts, but nobody is called about it (it is no laggard).
	Retired bool `json:"retired,omitempty"`
	// ReceivedMS and FirstPlayMS are the controller's receive times (unix
	// ms) of the first such ack; 0 if none yet.
	ReceivedMS      int64  `json:"received_ms,omitempty"`
	FirstPlayMS     int64  `json:"first_play_ms,omitempty"`
	FirstPlayOutput string `json:"first_play_output,omitempty"`
	Signed          bool   `json:"signed"`
	// LatencyMS is from the push to the signing ack (the later of the
	// two); -1 while not signed for.
	LatencyMS int64 `json:"latency_ms"`
}

// Rollup is one node's tally of its recipients.
type Rollup struct {
	Node          string `json:"node"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	Depth         int    `json:"depth"`
	Devices       int    `json:"devices"`
	Received      int    `json:"received"`
	Signed        int    `json:"signed"`
	SlowestMS     int64  `json:"slowest_ms"` // slowest signed-for latency, -1 if none signed
	SlowestDevice string `json:"slowest_device,omitempty"`
}

// Status is who has signed for an alert.
type Status struct {
	Alert   store.Alert `json:"alert"`
	Devices []DeviceAck `json:"devices"`
	// Rollup lists, in tree order, every node with recipients under it;
	// devices reached by ID outside the tree are tallied under "(no site)".
	Rollup []Rollup `json:"rollup"`
	Total  Rollup   `json:"total"`
}

// NoSite labels devices outside the org tree in roll-ups.
const NoSite = "(no site)"

// Recipients lists the devices targets reach now on any output, with
// their sites. An alert's own recipients were frozen at its push
// (store.AlertRecipients; StatusOf counts those); this is what a push
// would reach before capabilities are considered (see
// store.ResolveTargets for that).
func Recipients(ctx context.Context, st *store.Store, tree *org.Tree, targets []string) ([]store.DesiredHead, error) {
	heads, err := st.DesiredHeads(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.DesiredHead
	for _, h := range heads {
		if org.Addressed(targets, h.ID, tree.Chain(h.Node)) {
			out = append(out, h)
		}
	}
	return out, nil
}

// StatusOf reports an alert's acknowledgements.
func StatusOf(ctx context.Context, st *store.Store, id string) (*Status, *org.Tree, error) {
	a, err := st.Alert(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	tree, err := st.Tree(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The frozen set: devices added under the targets after the push are
	// not counted against it, even though the compiler shows them the
	// alert.
	recips, err := st.AlertRecipients(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	devs, err := st.DevicesWith(ctx, store.ListOptions{IncludeRetired: true})
	if err != nil {
		return nil, nil, err
	}
	retired := map[string]bool{}
	for _, d := range devs {
		if d.RetiredAt != 0 {
			retired[d.ID] = true
		}
	}
	acks, err := st.Acks(ctx, store.AckFilter{Alert: id})
	if err != nil {
		return nil, nil, err
	}
	type got struct {
		received, first int64
		output          string
	}
	by := map[string]*got{}
	for _, k := range acks {
		g := by[k.Device]
		if g == nil {
			g = &got{}
			by[k.Device] = g
		}
		switch k.Event {
		case protocol.AckReceived:
			if g.received == 0 || k.ReceivedMS < g.received {
				g.received = k.ReceivedMS
			}
		case protocol.AckFirstPlay:
			if g.first == 0 || k.ReceivedMS < g.first {
				g.first, g.output = k.ReceivedMS, k.Output
			}
		}
	}
	s := &Status{Alert: a, Devices: []DeviceAck{}}
	roll := map[string]*Rollup{}
	tally := func(key string, d DeviceAck) {
		r := roll[key]
		if r == nil {
			r = &Rollup{Node: key, SlowestMS: -1}
			roll[key] = r
		}
		r.Devices++
		if d.ReceivedMS != 0 {
			r.Received++
		}
		if d.Signed {
			r.Signed++
			if d.LatencyMS > r.SlowestMS {
				r.SlowestMS, r.SlowestDevice = d.LatencyMS, d.Device
			}
		}
	}
	s.Total = Rollup{Node: "total", SlowestMS: -1}
	for _, h := range recips {
		d := DeviceAck{Device: h.Device, Site: h.Node, Outputs: h.Outputs, Retired: retired[h.Device], LatencyMS: -1}
		if g := by[h.Device]; g != nil {
			d.ReceivedMS, d.FirstPlayMS, d.FirstPlayOutput = g.received, g.first, g.output
			if g.received != 0 && g.first != 0 {
				d.Signed = true
				d.LatencyMS = max(g.received, g.first) - a.PushedMS
			}
		}
		s.Devices = append(s.Devices, d)
		chain := tree.Chain(h.Node)
		if len(chain) == 0 {
			tally(NoSite, d)
		}
		for _, n := range chain {
			tally(n, d)
		}
		r := &s.Total
		r.Devices++
		if d.ReceivedMS != 0 {
			r.Received++
		}
		if d.Signed {
			r.Signed++
			if d.LatencyMS > r.SlowestMS {
				r.SlowestMS, r.SlowestDevice = d.LatencyMS, d.Device
			}
		}
	}
	tree.Walk(func(n org.Node, depth int) {
		if r := roll[n.ID]; r != nil {
			r.Kind, r.Name, r.Depth = n.Kind, n.Name, depth
			s.Rollup = append(s.Rollup, *r)
		}
	})
	if r := roll[NoSite]; r != nil {
		r.Name = "devices outside the org tree"
		s.Rollup = append(s.Rollup, *r)
	}
	return s, tree, nil
}

// Laggard is a recipient that has not signed for an alert (or a version),
// with the people to call.
type Laggard struct {
	Device string `json:"device"`
	Site   string `json:"site,omitempty"`
	// Missing says what is outstanding ("received and first play").
	Missing string `json:"missing"`
	// Holder is the node whose people are listed: the site, or its nearest
	// ancestor with people when the site has none.
	Holder string       `json:"holder,omitempty"`
	People []org.Person `json:"people"`
}

// Laggards lists the recipients that have not signed for the alert,
// except devices retired since the push. Each device appears once, and
// each person once per device.
func Laggards(s *Status, tree *org.Tree) []Laggard {
	out := []Laggard{}
	seen := map[string]bool{}
	for _, d := range s.Devices {
		if d.Signed || d.Retired || seen[d.Device] {
			continue
		}
		seen[d.Device] = true
		var miss []string
		if d.ReceivedMS == 0 {
			miss = append(miss, "received")
		}
		if d.FirstPlayMS == 0 {
			miss = append(miss, "first play")
		}
		holder, people := Responsible(tree, d.Site)
		out = append(out, Laggard{Device: d.Device, Site: d.Site, Missing: strings.Join(miss, " and "), Holder: holder, People: people})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Device < out[j].Device
	})
	return out
}

// Responsible is tree.Responsible with each person listed once (the same
// name and phone, or name and role, twice is one person) and never nil.
func Responsible(tree *org.Tree, site string) (holder string, people []org.Person) {
	holder, all := tree.Responsible(site)
	people = []org.Person{}
	seen := map[string]bool{}
	for _, p := range all {
		k1, k2 := "p\x00"+p.Name+"\x00"+p.Phone, "r\x00"+p.Name+"\x00"+p.Role
		if seen[k1] || seen[k2] {
			continue
		}
		seen[k1], seen[k2] = true, true
		people = append(people, p)
	}
	return holder, people
}
