package protocol

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schedule is a device's compiled plan: what each output plays when, in
// the site's time zone. It travels inside the signed DesiredState, so it
// has the same signature, version and rollback rules, and the agent
// evaluates it locally (package internal/plan) — offline for as long as
// the document lasts. The controller's `schedule preview` runs the same
// evaluation code.
type Schedule struct {
	// TZ is the site's IANA time zone ("Asia/Shanghai", "Europe/Berlin").
	TZ      string       `json:"tz"`
	Outputs []OutputPlan `json:"outputs"`
}

// OutputPlan is everything placed on one output.
type OutputPlan struct {
	Output string `json:"output"`
	// Entries are campaigns' playlists placed on this output.
	Entries []Entry `json:"entries"`
	// Safe plays when the clock is not synchronised (after a power cut on
	// a Pi without a battery clock) or when nothing else is scheduled; it
	// never depends on the date.
	Safe []Item `json:"safe,omitempty"`
	// Quiet lists weekly windows in which this output must stay silent
	// (audio): nothing plays, alerts included.
	Quiet []Daypart `json:"quiet,omitempty"`
}

// Entry is one campaign's playlist on one output with its rules.
type Entry struct {
	ID       string `json:"id"` // unique within the output: "campaign/playlist"
	Campaign string `json:"campaign"`
	Priority int    `json:"priority"` // higher wins when nothing is owed
	// From and Until bound the entry by local date (YYYY-MM-DD, Until
	// exclusive); empty is open.
	From  string `json:"from,omitempty"`
	Until string `json:"until,omitempty"`
	// Dayparts are weekly local-time windows (bank opening hours, hotel
	// check-in hours); none means all day, every day.
	Dayparts []Daypart `json:"dayparts,omitempty"`
	// MinEveryMS asks for at least one play every so often while the entry
	// is active ("the ATM voice prompt at least once every 10 minutes").
	MinEveryMS int64 `json:"min_every_ms,omitempty"`
	// MinShare asks for at least this fraction of the output's time while
	// active ("the hotline at least 20% of the time"), 0..1.
	MinShare float64 `json:"min_share,omitempty"`
	// Trigger binds the entry to a local trigger ("large-transfer") instead
	// of time: it plays once per trigger event and never otherwise.
	Trigger string      `json:"trigger,omitempty"`
	Items   []EntryItem `json:"items"`
	// By says who authored the entry and who approved it (capability 2;
	// agents ignore it): a proof names the document version and entry it
	// played, which leads an auditor to these names.
	By *Provenance `json:"by,omitempty"`
}

// Provenance is who authored something a device plays and who approved
// it, with the office's change number.
type Provenance struct {
	Author   string `json:"author"`
	Approver string `json:"approver,omitempty"`
	Change   int64  `json:"change,omitempty"`
}

// EntryItem is an item with its own validity dates (local, YYYY-MM-DD).
type EntryItem struct {
	Item
	ValidFrom  string `json:"valid_from,omitempty"`
	ValidUntil string `json:"valid_until,omitempty"`
}

// Daypart is a weekly window: on Days, from Start to End local time
// ("HH:MM"). End before Start crosses midnight (22:00–07:00 on Mon runs into
// Tue morning). "24:00" is allowed as an End.
type Daypart struct {
	Days  string `json:"days"` // "mon-fri", "sat,sun", "daily"
	Start string `json:"start"`
	End   string `json:"end"`
}

// ParseDays turns "mon-fri", "sat,sun", "daily" into a weekday bit set
// (bit 0 = Sunday, as time.Weekday).
func ParseDays(s string) (uint8, error) {
	names := map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	if s == "daily" || s == "" {
		return 0x7f, nil
	}
	var set uint8
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		a, b, isRange := strings.Cut(part, "-")
		from, ok1 := names[a]
		to := from
		ok2 := true
		if isRange {
			to, ok2 = names[b]
		}
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("days %q: want e.g. mon-fri, sat,sun or daily", s)
		}
		for d := from; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == to {
				break
			}
		}
	}
	return set, nil
}

// ParseClock parses "HH:MM" (00:00..24:00) into minutes after midnight.
func ParseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err == nil && len(s) == 5 {
		return t.Hour()*60 + t.Minute(), nil
	}
	if s == "24:00" {
		return 24 * 60, nil
	}
	return 0, fmt.Errorf("time of day %q: want HH:MM", s)
}

// Validate checks a daypart.
func (d Daypart) Validate() error {
	if _, err := ParseDays(d.Days); err != nil {
		return err
	}
	s, err := ParseClock(d.Start)
	if err != nil {
		return err
	}
	e, err := ParseClock(d.End)
	if err != nil {
		return err
	}
	if s == e {
		return fmt.Errorf("daypart %s %s-%s is empty", d.Days, d.Start, d.End)
	}
	return nil
}

func validDate(s string) error {
	if s == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return nil
}

// Validate checks a schedule's shape; the evaluator can then trust it.
func (s *Schedule) Validate() error {
	if _, err := time.LoadLocation(s.TZ); err != nil || s.TZ == "" {
		return fmt.Errorf("schedule: time zone %q: %v", s.TZ, err)
	}
	seen := map[string]bool{}
	for _, o := range s.Outputs {
		if !ValidOutput(o.Output) {
			return fmt.Errorf("schedule: unknown output %q", o.Output)
		}
		if seen[o.Output] {
			return fmt.Errorf("schedule: output %q twice", o.Output)
		}
		seen[o.Output] = true
		for _, q := range o.Quiet {
			if err := q.Validate(); err != nil {
				return fmt.Errorf("schedule %s quiet hours: %w", o.Output, err)
			}
		}
		for _, it := range o.Safe {
			if err := it.validate(); err != nil {
				return fmt.Errorf("schedule %s safe loop: %w", o.Output, err)
			}
		}
		ids := map[string]bool{}
		for _, e := range o.Entries {
			if e.ID == "" || ids[e.ID] {
				return fmt.Errorf("schedule %s: entry id %q empty or repeated", o.Output, e.ID)
			}
			ids[e.ID] = true
			if err := validDate(e.From); err != nil {
				return fmt.Errorf("schedule entry %s: %w", e.ID, err)
			}
			if err := validDate(e.Until); err != nil {
				return fmt.Errorf("schedule entry %s: %w", e.ID, err)
			}
			if e.From != "" && e.Until != "" && e.Until <= e.From {
				return fmt.Errorf("schedule entry %s: until %s not after from %s", e.ID, e.Until, e.From)
			}
			for _, d := range e.Dayparts {
				if err := d.Validate(); err != nil {
					return fmt.Errorf("schedule entry %s: %w", e.ID, err)
				}
			}
			if e.MinShare < 0 || e.MinShare > 1 || e.MinEveryMS < 0 {
				return fmt.Errorf("schedule entry %s: min_share must be 0..1 and min_every_ms ≥ 0", e.ID)
			}
			if len(e.Items) == 0 || len(e.Items) > 1000 {
				return fmt.Errorf("schedule entry %s: %d items (1..1000)", e.ID, len(e.Items))
			}
			for _, it := range e.Items {
				if err := it.validate(); err != nil {
					return fmt.Errorf("schedule entry %s: %w", e.ID, err)
				}
				if err := validDate(it.ValidFrom); err != nil {
					return err
				}
				if err := validDate(it.ValidUntil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (it *Item) validate() error {
	if !ValidSHA256(it.SHA256) {
		return fmt.Errorf("item: bad sha256 %q", it.SHA256)
	}
	if it.Size <= 0 {
		return fmt.Errorf("item %.12s: size %d", it.SHA256, it.Size)
	}
	if it.DurationMS <= 0 || it.DurationMS > int64(24*time.Hour/time.Millisecond) {
		return fmt.Errorf("item %.12s: duration %d ms out of range", it.SHA256, it.DurationMS)
	}
	return nil
}

// Alert is an urgent fraud warning (预警). It travels inside the signed
// DesiredState of every device under its targets, so it is signed,
// versioned and rollback-protected like all content. While active it
// preempts normal content on its outputs.
type Alert struct {
	ID        string   `json:"id"`
	Targets   []string `json:"targets"` // org node IDs or device IDs it was pushed to
	Outputs   []string `json:"outputs"` // outputs it preempts
	Text      string   `json:"text,omitempty"`
	Items     []Item   `json:"items,omitempty"` // e.g. the warning's voice clip; text is shown as-is
	IssuedAt  int64    `json:"issued_at"`       // unix seconds
	ExpiresAt int64    `json:"expires_at"`
	// RepeatEveryMS replays the alert this often while active; 0 plays it
	// once per output.
	RepeatEveryMS int64 `json:"repeat_every_ms,omitempty"`
	// HoldMS is how long a text-only alert holds a screen.
	HoldMS int64 `json:"hold_ms,omitempty"`
	// By is who issued the alert (and who approved it, with two-person
	// alerts); capability 2, agents ignore it.
	By *Provenance `json:"by,omitempty"`
}

// Validate checks an alert's shape.
func (a *Alert) Validate() error {
	if a.ID == "" || len(a.ID) > 64 {
		return errors.New("alert: id empty or longer than 64")
	}
	if a.ExpiresAt <= a.IssuedAt {
		return fmt.Errorf("alert %s: expires_at not after issued_at", a.ID)
	}
	if len(a.Outputs) == 0 {
		return fmt.Errorf("alert %s: no outputs", a.ID)
	}
	for _, o := range a.Outputs {
		if !ValidOutput(o) {
			return fmt.Errorf("alert %s: unknown output %q", a.ID, o)
		}
	}
	if a.Text == "" && len(a.Items) == 0 {
		return fmt.Errorf("alert %s: neither text nor items", a.ID)
	}
	if len(a.Text) > 2000 {
		return fmt.Errorf("alert %s: text longer than 2000 bytes", a.ID)
	}
	for _, it := range a.Items {
		if err := it.validate(); err != nil {
			return fmt.Errorf("alert %s: %w", a.ID, err)
		}
	}
	if a.RepeatEveryMS < 0 || a.HoldMS < 0 {
		return fmt.Errorf("alert %s: negative repeat or hold", a.ID)
	}
	return nil
}

// Ack events a device reports ("signs for").
const (
	AckAdopted   = "adopted"    // a desired-state version verified, stored and playing
	AckReceived  = "received"   // an alert arrived and verified
	AckFirstPlay = "first_play" // an alert's first play on an output
	AckQuotaMiss = "quota_miss" // a schedule entry's minimum could not be met
)

// Ack is a device's receipt for a directive.
type Ack struct {
	V           int    `json:"v"`
	Device      string `json:"device"`
	Event       string `json:"event"`
	Version     uint64 `json:"version"`          // desired-state version concerned
	Alert       string `json:"alert,omitempty"`  // alert ID, for alert events
	Output      string `json:"output,omitempty"` // for first_play and quota_miss
	Entry       string `json:"entry,omitempty"`  // schedule entry, for quota_miss
	Detail      string `json:"detail,omitempty"`
	At          int64  `json:"at"` // agent wall clock, unix ms
	ClockSynced bool   `json:"clock_synced"`
}

// Validate checks an ack's shape.
func (a *Ack) Validate() error {
	if a.V != Version {
		return fmt.Errorf("ack: protocol version %d, want %d", a.V, Version)
	}
	if err := ValidateDeviceID(a.Device); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	switch a.Event {
	case AckAdopted:
	case AckReceived, AckFirstPlay:
		if a.Alert == "" {
			return fmt.Errorf("ack %s without an alert id", a.Event)
		}
	case AckQuotaMiss:
		if a.Entry == "" {
			return errors.New("ack quota_miss without an entry")
		}
	default:
		return fmt.Errorf("ack: unknown event %q", a.Event)
	}
	if len(a.Detail) > 500 || len(a.Alert) > 64 || len(a.Entry) > 200 {
		return errors.New("ack: field too long")
	}
	return nil
}
