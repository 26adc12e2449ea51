package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
)

// CampaignRequest is a campaign as people write it — the CLI's flags and
// the JSON of POST /api/campaigns.
type CampaignRequest struct {
	Name      string   `json:"name"`
	Targets   []string `json:"targets"` // "node:ID", "tag:atm", "device:ID"
	Output    string   `json:"output"`
	Playlists []string `json:"playlists"`
	Priority  int      `json:"priority,omitempty"`
	From      string   `json:"from,omitempty"`     // first local date it runs, YYYY-MM-DD
	Until     string   `json:"until,omitempty"`    // first local date it no longer runs
	Dayparts  []string `json:"dayparts,omitempty"` // "mon-fri,09:00-17:00"
	MinEvery  string   `json:"min_every,omitempty"`
	MinShare  float64  `json:"min_share,omitempty"`
	Trigger   string   `json:"trigger,omitempty"` // "large-transfer"
}

// Campaign parses the request into a checked store campaign.
func (r CampaignRequest) Campaign() (store.Campaign, error) {
	c := store.Campaign{Name: r.Name, Output: r.Output, Playlists: r.Playlists, Priority: r.Priority,
		From: r.From, Until: r.Until, MinShare: r.MinShare, Trigger: r.Trigger}
	for _, s := range r.Targets {
		t, err := store.ParseTarget(s)
		if err != nil {
			return c, err
		}
		c.Targets = append(c.Targets, t)
	}
	for _, s := range r.Dayparts {
		d, err := org.ParseDaypart(s)
		if err != nil {
			return c, invalid(err)
		}
		c.Dayparts = append(c.Dayparts, d)
	}
	if r.MinEvery != "" {
		d, err := time.ParseDuration(r.MinEvery)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return c, invalid(fmt.Errorf("min-every %q: want a duration from 1s to 24h, such as 10m", r.MinEvery))
		}
		c.MinEveryMS = d.Milliseconds()
	}
	return c, invalid(c.Validate())
}

// CampaignView is a stored campaign as the CLI and API show it.
type CampaignView struct {
	CampaignRequest
	Created string `json:"created"`
	Ended   string `json:"ended,omitempty"`
}

// ViewCampaign is the inverse of CampaignRequest.Campaign.
func ViewCampaign(c store.Campaign) CampaignView {
	v := CampaignView{CampaignRequest: CampaignRequest{Name: c.Name, Output: c.Output, Playlists: c.Playlists, Priority: c.Priority,
		From: c.From, Until: c.Until, MinShare: c.MinShare, Trigger: c.Trigger},
		Created: time.Unix(c.CreatedAt, 0).UTC().Format(time.RFC3339)}
	for _, t := range c.Targets {
		v.Targets = append(v.Targets, t.String())
	}
	for _, d := range c.Dayparts {
		v.Dayparts = append(v.Dayparts, org.FormatDaypart(d))
	}
	if c.MinEveryMS > 0 {
		v.MinEvery = (time.Duration(c.MinEveryMS) * time.Millisecond).String()
	}
	if c.EndedAt != 0 {
		v.Ended = time.Unix(c.EndedAt, 0).UTC().Format(time.RFC3339)
	}
	return v
}

// Rules is a campaign's rules in one line ("mon-fri,09:00-17:00; every
// 10m; 20%; prio 5").
func (v CampaignView) Rules() string {
	var parts []string
	if v.From != "" || v.Until != "" {
		parts = append(parts, fmt.Sprintf("%s..%s", v.From, v.Until))
	}
	parts = append(parts, v.Dayparts...)
	if v.MinEvery != "" {
		parts = append(parts, "at least every "+v.MinEvery)
	}
	if v.MinShare > 0 {
		parts = append(parts, fmt.Sprintf("at least %g%%", v.MinShare*100))
	}
	if v.Trigger != "" {
		parts = append(parts, "on trigger "+v.Trigger)
	}
	if len(parts) == 0 {
		return "always"
	}
	return strings.Join(parts, "; ")
}

// invalid marks a request error the way the store does, so callers can
// tell a bad request from a failure with errors.Is(err, store.ErrInvalid).
func invalid(err error) error {
	return store.Invalid(err)
}
