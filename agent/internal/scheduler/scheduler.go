// Package scheduler turns the held desired state into what the agent's
// players need: an evaluator (package internal/plan) per output, the
// urgent alerts addressed to this device with the items each output plays
// for them, and the media the document needs. It is pure: the document,
// the device and the time go in.
//
// The decisions about what plays when live in internal/plan, shared with
// the controller's `schedule preview`, so that the two cannot disagree.
package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// DefaultAlertHold is how long an alert's text holds a screen when the
// alert does not say (HoldMS 0).
const DefaultAlertHold = 10 * time.Second

// For builds the evaluator of one output of doc: its schedule plan, or
// its plain playlist (protocol v1) when the schedule has none for it.
func For(doc *protocol.DesiredState, output string) (*plan.Evaluator, error) {
	if doc == nil {
		return plan.New(nil, output, nil)
	}
	return plan.New(doc.Schedule, output, doc.Playlists)
}

// ForQuiet is For on an output that keeps quiet hours of its own: its
// firmware profile's limits.quiet_hours (hours, "22:00-07:00"; "" none),
// which its driver keeps in loc (nil: the schedule's zone). The
// evaluator schedules nothing in them nor in the schedule's own.
func ForQuiet(doc *protocol.DesiredState, output, hours string, loc *time.Location) (*plan.Evaluator, error) {
	q, err := plan.ProfileQuiet(hours)
	if err != nil {
		return nil, fmt.Errorf("output %s profile quiet hours: %w", output, err)
	}
	o := plan.Options{Quiet: q, QuietLoc: loc}
	if doc == nil {
		return plan.NewWith(nil, output, nil, o)
	}
	return plan.NewWith(doc.Schedule, output, doc.Playlists, o)
}

// Outputs lists, sorted, every output doc places something on: playlists,
// schedule plans, and the alerts addressed to device that are active at
// now.
func Outputs(doc *protocol.DesiredState, device string, now time.Time) []string {
	if doc == nil {
		return nil
	}
	var out []string
	add := func(o string) {
		if protocol.ValidOutput(o) && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, pl := range doc.Playlists {
		add(pl.Output)
	}
	if doc.Schedule != nil {
		for _, op := range doc.Schedule.Outputs {
			add(op.Output)
		}
	}
	for _, a := range Alerts(doc, device, now) {
		for _, o := range a.Outputs {
			add(o)
		}
	}
	sort.Strings(out)
	return out
}

// Addressed reports whether alert a is for a device with this ID that
// sits under nodes: its targets name the device or one of the nodes.
func Addressed(a *protocol.Alert, device string, nodes []string) bool {
	for _, t := range a.Targets {
		if t == device || slices.Contains(nodes, t) {
			return true
		}
	}
	return false
}

// Alerts returns doc's alerts addressed to device and not expired at now
// (the agent's clock), oldest first.
func Alerts(doc *protocol.DesiredState, device string, now time.Time) []protocol.Alert {
	if doc == nil {
		return nil
	}
	var out []protocol.Alert
	for _, a := range doc.Alerts {
		if Addressed(&a, device, doc.Nodes) && now.Unix() < a.ExpiresAt {
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].IssuedAt != out[j].IssuedAt {
			return out[i].IssuedAt < out[j].IssuedAt
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// AlertText is the content-addressed text item an alert's Text becomes,
// and its bytes (UTF-8, stored in the media cache under their SHA-256).
func AlertText(a *protocol.Alert) (protocol.Item, []byte, bool) {
	if a.Text == "" {
		return protocol.Item{}, nil, false
	}
	b := []byte(a.Text)
	sum := sha256.Sum256(b)
	hold := time.Duration(a.HoldMS) * time.Millisecond
	if hold <= 0 {
		hold = DefaultAlertHold
	}
	return protocol.Item{
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), Kind: "text",
		Title: "alert " + a.ID, DurationMS: hold.Milliseconds(),
	}, b, true
}

// Shows reports whether an output can present media of kind: a speaker
// plays audio, a sign shows text and pictures, a TV shows those and
// video, a printer prints templates and text.
func Shows(output, kind string) bool {
	switch output {
	case protocol.OutputAudio:
		return kind == "audio"
	case protocol.OutputLED:
		return kind == "text" || kind == "image"
	case protocol.OutputTV:
		return kind == "text" || kind == "image" || kind == "video"
	case protocol.OutputPrinter:
		return kind == "print" || kind == "text"
	}
	return false
}

// AlertItems is what output plays for alert a, in order: its text (on an
// output that shows text), then its items the output can present. An
// alert that does not name output plays nothing there.
func AlertItems(a *protocol.Alert, output string) []protocol.Item {
	if !slices.Contains(a.Outputs, output) {
		return nil
	}
	var out []protocol.Item
	if it, _, ok := AlertText(a); ok && Shows(output, it.Kind) {
		out = append(out, it)
	}
	for _, it := range a.Items {
		if Shows(output, it.Kind) {
			out = append(out, it)
		}
	}
	return out
}

// Media lists, once each, the items doc needs fetched from the media
// server: playlists, schedule entries and safe loops, and the items of
// alerts addressed to device and active at now. Alert texts are not
// fetched (the agent writes them itself; see AlertTexts).
func Media(doc *protocol.DesiredState, device string, now time.Time) []protocol.Item {
	if doc == nil {
		return nil
	}
	var out []protocol.Item
	seen := map[string]bool{}
	add := func(it protocol.Item) {
		if !seen[it.SHA256] {
			seen[it.SHA256] = true
			out = append(out, it)
		}
	}
	for _, pl := range doc.Playlists {
		for _, it := range pl.Items {
			add(it)
		}
	}
	if doc.Schedule != nil {
		for _, op := range doc.Schedule.Outputs {
			for _, it := range op.Safe {
				add(it)
			}
			for _, e := range op.Entries {
				for _, it := range e.Items {
					add(it.Item)
				}
			}
		}
	}
	for _, a := range Alerts(doc, device, now) {
		for _, it := range a.Items {
			add(it)
		}
	}
	return out
}

// AlertTexts lists the text items (and their bytes) of the alerts
// addressed to device and active at now.
func AlertTexts(doc *protocol.DesiredState, device string, now time.Time) map[protocol.Item][]byte {
	out := map[protocol.Item][]byte{}
	for _, a := range Alerts(doc, device, now) {
		if it, b, ok := AlertText(&a); ok {
			out[it] = b
		}
	}
	return out
}
