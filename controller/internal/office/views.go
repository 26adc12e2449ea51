package office

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// DeviceView is a device as the office sees it (no secrets).
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
	Clock          string           `json:"clock"` // ClockTrusted, ClockUntrusted or ClockUnknown, from the last status
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
	v.Clock = ClockOf(v.Status)
	if v.Clock == ClockUntrusted {
		v.State = untrustedState(vs)
	}
	return v
}

// Clock states of a device (DeviceView.Clock).
const (
	ClockTrusted   = "trusted"
	ClockUntrusted = "untrusted" // the agent plays only each output's safe loop
	// ClockUnknown: no status yet, a last will (written when the agent
	// connects, so it says nothing of the clock) or an older agent.
	ClockUnknown = "unknown"
)

// ClockOf is the clock state a device's last status reports.
func ClockOf(st *protocol.Status) string {
	switch {
	case st == nil || st.ClockSource == "":
		return ClockUnknown
	case st.ClockSynced:
		return ClockTrusted
	}
	return ClockUntrusted
}

// untrustedState is the version state of a device whose clock is not
// trusted: what it verified, and that it plays the safe loop.
func untrustedState(vs report.VersionState) string {
	const what = "playing the safe loop (clock not synchronised)"
	switch {
	case vs.Published > 0 && vs.Adopted >= vs.Published:
		return fmt.Sprintf("version %d verified, %s", vs.Adopted, what)
	case vs.Adopted > 0:
		return fmt.Sprintf("version %d verified, %d published, %s", vs.Adopted, vs.Published, what)
	}
	return vs.State + " (clock not synchronised)" // nothing verified to play
}

// DeviceBrief is a device as the org tree lists it.
type DeviceBrief struct {
	ID    string   `json:"id"`
	Tags  []string `json:"tags,omitempty"`
	State string   `json:"state"`
}

// NodeView is one node of the org tree.
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

// OrgTree builds the tree view with devices and their version states;
// phones are left out unless withPhones.
func OrgTree(ctx context.Context, b Backend, withPhones bool) (*OrgView, error) {
	tree, err := b.Tree(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := b.Versions(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := b.DeviceTags(ctx)
	if err != nil {
		return nil, err
	}
	bySite := map[string][]DeviceBrief{}
	out := &OrgView{Roots: []*NodeView{}, Unplaced: []DeviceBrief{}}
	for _, v := range vs {
		d := DeviceBrief{ID: v.Device, Tags: tags[v.Device], State: v.State}
		if _, ok := tree.Node(v.Site); ok {
			bySite[v.Site] = append(bySite[v.Site], d)
		} else {
			out.Unplaced = append(out.Unplaced, d)
		}
	}
	var build func(id string) *NodeView
	build = func(id string) *NodeView {
		n, _ := tree.Node(id)
		v := &NodeView{Node: n, EffectiveTZ: tree.TZ(id), People: []org.Person{}, Devices: bySite[id]}
		for _, p := range tree.People(id) {
			if !withPhones {
				p.Phone = ""
			}
			v.People = append(v.People, p)
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
