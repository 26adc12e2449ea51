package report

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// VersionState is where a device stands with its desired-state versions:
// what the controller published, what the device acknowledged as verified
// and playing ("adopted"), and what its last status says it plays.
type VersionState struct {
	Device      string `json:"device"`
	Site        string `json:"site,omitempty"`
	Published   uint64 `json:"published"`
	PublishedAt int64  `json:"published_at,omitempty"`
	Adopted     uint64 `json:"adopted"`
	AdoptedMS   int64  `json:"adopted_ms,omitempty"`
	Playing     uint64 `json:"playing"` // from the last status; 0 if none
	Online      bool   `json:"online"`
	LastSeen    int64  `json:"last_seen,omitempty"`
	// State is one line for people: "version 7 verified and playing".
	State string `json:"state"`
	// Behind is set when the device has not acknowledged the published
	// version.
	Behind bool `json:"behind"`
}

// Describe fills State and Behind.
func (v *VersionState) Describe() {
	v.Behind = v.Published > 0 && v.Adopted < v.Published
	switch {
	case v.Published == 0:
		v.State = "nothing published yet"
	case v.Adopted >= v.Published:
		v.State = fmt.Sprintf("version %d verified and playing", v.Adopted)
	case v.Adopted == 0:
		v.State = fmt.Sprintf("version %d published, not acknowledged", v.Published)
	default:
		v.State = fmt.Sprintf("version %d playing, %d published", v.Adopted, v.Published)
	}
}

// Versions lists every device's version state, ordered by device.
func Versions(ctx context.Context, st *store.Store) ([]VersionState, error) {
	rows, err := st.DeviceVersions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VersionState, 0, len(rows))
	for _, r := range rows {
		v := VersionState{Device: r.ID, Site: r.Node, Published: r.Published, PublishedAt: r.PublishedAt,
			Adopted: r.AdoptedVersion, AdoptedMS: r.AdoptedMS, LastSeen: r.LastSeen}
		if r.Status != "" {
			var s protocol.Status
			if json.Unmarshal([]byte(r.Status), &s) == nil {
				v.Playing, v.Online = s.Version, s.Online
			}
		}
		v.Describe()
		out = append(out, v)
	}
	return out, nil
}

// VersionLaggard is a device behind the published version, with the
// people to call.
type VersionLaggard struct {
	VersionState
	Holder string       `json:"holder,omitempty"`
	People []org.Person `json:"people"`
}

// VersionLaggards lists the devices that have not acknowledged their
// published version.
func VersionLaggards(ctx context.Context, st *store.Store) ([]VersionLaggard, error) {
	vs, err := Versions(ctx, st)
	if err != nil {
		return nil, err
	}
	tree, err := st.Tree(ctx)
	if err != nil {
		return nil, err
	}
	out := []VersionLaggard{}
	for _, v := range vs {
		if !v.Behind {
			continue
		}
		holder, people := alert.Responsible(tree, v.Site)
		out = append(out, VersionLaggard{VersionState: v, Holder: holder, People: people})
	}
	return out, nil
}
