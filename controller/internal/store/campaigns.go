package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Target kinds of a campaign.
const (
	TargetNode   = "node"   // every device under an org node
	TargetTag    = "tag"    // every device with a tag
	TargetDevice = "device" // one device
)

// Target is one thing a campaign is aimed at.
type Target struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

func (t Target) String() string { return t.Kind + ":" + t.Value }

// Validate checks a target's shape.
func (t Target) Validate() error {
	switch t.Kind {
	case TargetNode:
		return org.ValidateID(t.Value)
	case TargetDevice:
		return protocol.ValidateDeviceID(t.Value)
	case TargetTag:
		return org.ValidateTag(t.Value)
	}
	return fmt.Errorf("target %q: kind must be node, tag or device", t.String())
}

// Campaign places playlists on one output of every device it targets,
// with rules. Its playlists become schedule entries "NAME/PLAYLIST".
type Campaign struct {
	// ID is the row's number, set by the store: names are unique among
	// running campaigns only, so an ended campaign's name can be used
	// again while the ended one keeps its history.
	ID        int64
	Name      string
	Output    string
	Targets   []Target
	Playlists []string
	Priority  int
	// From and Until are local dates (YYYY-MM-DD), Until exclusive.
	From, Until string
	Dayparts    []protocol.Daypart
	MinEveryMS  int64
	MinShare    float64
	Trigger     string
	CreatedAt   int64
	EndedAt     int64 // 0 while running
}

// MaxPriority bounds a campaign's priority (either sign).
const MaxPriority = 1000

// Validate checks a campaign's own fields; CreateCampaign checks that what
// it names exists.
func (c *Campaign) Validate() error {
	if err := protocol.ValidateDeviceID(c.Name); err != nil || len(c.Name) > 64 {
		return fmt.Errorf("campaign name %q: 1..64 of a-z, 0-9 and - _ . (not first)", c.Name)
	}
	if !protocol.ValidOutput(c.Output) {
		return fmt.Errorf("campaign %s: output %q: want led, tv, audio or printer", c.Name, c.Output)
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("campaign %s: no targets", c.Name)
	}
	for _, t := range c.Targets {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("campaign %s: %w", c.Name, err)
		}
	}
	if len(c.Playlists) == 0 || len(c.Playlists) > 16 {
		return fmt.Errorf("campaign %s: %d playlists (1..16)", c.Name, len(c.Playlists))
	}
	if c.Priority < -MaxPriority || c.Priority > MaxPriority {
		return fmt.Errorf("campaign %s: priority %d outside ±%d", c.Name, c.Priority, MaxPriority)
	}
	// The protocol's own entry rules, applied once here so that a bad rule
	// is refused at the command instead of breaking every device's document.
	e := protocol.Entry{ID: c.Name + "/x", Campaign: c.Name, Priority: c.Priority, From: c.From, Until: c.Until,
		Dayparts: c.Dayparts, MinEveryMS: c.MinEveryMS, MinShare: c.MinShare, Trigger: c.Trigger,
		Items: []protocol.EntryItem{{Item: protocol.Item{SHA256: strings.Repeat("0", 64), Size: 1, Kind: "text", DurationMS: 1}}}}
	s := protocol.Schedule{TZ: "UTC", Outputs: []protocol.OutputPlan{{Output: c.Output, Entries: []protocol.Entry{e}}}}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("campaign %s: %w", c.Name, err)
	}
	if c.Trigger != "" {
		if err := org.ValidateTag(c.Trigger); err != nil {
			return fmt.Errorf("campaign %s: trigger %q: a-z, 0-9 and - _ .", c.Name, c.Trigger)
		}
		if c.MinEveryMS != 0 || c.MinShare != 0 {
			return fmt.Errorf("campaign %s: a trigger-bound campaign plays once per trigger; --min-every and --min-share do not apply", c.Name)
		}
	}
	return nil
}

// CreateCampaign stores a new campaign. Its playlists must be in use and
// play on its output; node and device targets must exist, and every target
// must reach at least one device that has the output (see ResolveTargets).
// A running campaign of the same name is ErrExists; ended ones are not.
func (s *Store) CreateCampaign(ctx context.Context, c Campaign) error {
	if err := c.Validate(); err != nil {
		return invalid(err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, p := range c.Playlists {
			output, err := livePlaylist(ctx, tx, p)
			if err != nil {
				return err
			}
			if output != c.Output {
				return invalid(fmt.Errorf("playlist %s plays on %s, not on the campaign's output %s", p, output, c.Output))
			}
		}
		var running int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM campaigns WHERE name = ? AND ended_at = 0`, c.Name).Scan(&running); err != nil {
			return err
		}
		if running > 0 {
			return fmt.Errorf("campaign %s is running; to change it, end it with `campaign end %s` and create it again: %w", c.Name, c.Name, ErrExists)
		}
		// Every target must reach a device that has the campaign's output:
		// a town campaign for printers must not reach the town's signs.
		if _, err := resolve(ctx, tx, c.Targets, []string{c.Output}); err != nil {
			return err
		}
		dp, _ := json.Marshal(c.Dayparts)
		if c.Dayparts == nil {
			dp = []byte("[]")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO campaigns(name, output, priority, from_date, until_date, dayparts, min_every_ms, min_share,
			trigger_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Name, c.Output, c.Priority, c.From, c.Until, string(dp), c.MinEveryMS, c.MinShare, c.Trigger, time.Now().Unix())
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, t := range c.Targets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_targets(campaign, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				id, t.Kind, t.Value); err != nil {
				return err
			}
		}
		for i, p := range c.Playlists {
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_playlists(campaign, pos, playlist) VALUES (?, ?, ?)`, id, i, p); err != nil {
				return err
			}
		}
		return bump(ctx, tx)
	})
}

// EndCampaign stops the running campaign of that name: the next documents
// drop its entries.
func (s *Store) EndCampaign(ctx context.Context, name string, at int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var id, ended int64
		err := tx.QueryRowContext(ctx, `SELECT id, ended_at FROM campaigns WHERE name = ? ORDER BY ended_at = 0 DESC, id DESC LIMIT 1`, name).Scan(&id, &ended)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("campaign %s: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if ended != 0 {
			return invalid(fmt.Errorf("campaign %s already ended at %s", name, time.Unix(ended, 0).Format(time.DateTime)))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET ended_at = ? WHERE id = ?`, at, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// Campaigns lists campaigns by name (several ended ones may share a name:
// then oldest first); ended ones only when all is set.
func (s *Store) Campaigns(ctx context.Context, all bool) ([]Campaign, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, output, priority, from_date, until_date, dayparts, min_every_ms, min_share,
		trigger_name, created_at, ended_at FROM campaigns WHERE ? OR ended_at = 0 ORDER BY name, id`, all)
	if err != nil {
		return nil, err
	}
	var out []Campaign
	index := map[int64]int{}
	for rows.Next() {
		var c Campaign
		var dp string
		if err := rows.Scan(&c.ID, &c.Name, &c.Output, &c.Priority, &c.From, &c.Until, &dp, &c.MinEveryMS, &c.MinShare,
			&c.Trigger, &c.CreatedAt, &c.EndedAt); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(dp), &c.Dayparts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("campaign %s dayparts: %w", c.Name, err)
		}
		if len(c.Dayparts) == 0 {
			c.Dayparts = nil
		}
		index[c.ID] = len(out)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT campaign, kind, value FROM campaign_targets ORDER BY campaign, kind, value`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var t Target
		if err := rows.Scan(&id, &t.Kind, &t.Value); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := index[id]; ok {
			out[i].Targets = append(out[i].Targets, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT campaign, playlist FROM campaign_playlists ORDER BY campaign, pos`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			out[i].Playlists = append(out[i].Playlists, p)
		}
	}
	return out, rows.Err()
}

// PlaylistItemRow is one item of a playlist with its media.
type PlaylistItemRow struct {
	Playlist   string
	Output     string
	Item       protocol.Item
	ValidFrom  string
	ValidUntil string
}

// AllPlaylistItems returns every playlist's items in order, keyed by
// playlist: the compiler loads them once per pass.
func (s *Store) AllPlaylistItems(ctx context.Context) (map[string][]PlaylistItemRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.name, p.output, m.sha256, m.size, m.kind, m.title, i.duration_ms, i.valid_from, i.valid_until
		FROM playlists p JOIN playlist_items i ON i.playlist = p.name JOIN media m ON m.sha256 = i.sha256
		ORDER BY p.name, i.pos`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]PlaylistItemRow{}
	for rows.Next() {
		var r PlaylistItemRow
		if err := rows.Scan(&r.Playlist, &r.Output, &r.Item.SHA256, &r.Item.Size, &r.Item.Kind, &r.Item.Title, &r.Item.DurationMS,
			&r.ValidFrom, &r.ValidUntil); err != nil {
			return nil, err
		}
		out[r.Playlist] = append(out[r.Playlist], r)
	}
	return out, rows.Err()
}

// Assignment is a legacy `playlist assign`: one playlist on one output of
// one device.
type Assignment struct {
	Device, Output, Playlist string
}

// AllAssignments returns every device's assignments keyed by device,
// ordered by output.
func (s *Store) AllAssignments(ctx context.Context) (map[string][]Assignment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, output, playlist FROM assignments ORDER BY device, output`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]Assignment{}
	for rows.Next() {
		var a Assignment
		if err := rows.Scan(&a.Device, &a.Output, &a.Playlist); err != nil {
			return nil, err
		}
		out[a.Device] = append(out[a.Device], a)
	}
	return out, rows.Err()
}
