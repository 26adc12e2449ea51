package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Media is one stored file's metadata; the bytes live in the media library.
type Media struct {
	SHA256     string
	Kind       string
	MIME       string
	Size       int64
	Name       string
	Title      string
	DurationMS int64
	AddedAt    int64
	RetiredAt  int64 // unix s; 0 while offered for new playlists
}

// PutMedia records a media file; adding the same sha256 again is a no-op
// that keeps the first title.
func (s *Store) PutMedia(ctx context.Context, m Media) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO media(sha256, kind, mime, size, name, title, duration_ms, added_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING`,
			m.SHA256, m.Kind, m.MIME, m.Size, m.Name, m.Title, m.DurationMS, time.Now().Unix())
		if err != nil {
			return fmt.Errorf("put media %s: %w", m.SHA256, err)
		}
		return bump(ctx, tx)
	})
}

// Media finds media by full sha256, a unique sha256 prefix (at least 8 hex
// digits) or a unique file name; a name shared with retired files finds
// the one in use. Retired media is found too (RetiredAt set).
func (s *Store) Media(ctx context.Context, ref string) (Media, error) {
	q := `SELECT sha256, kind, mime, size, name, title, duration_ms, added_at, retired_at FROM media WHERE `
	var args []any
	if len(ref) >= 8 && strings.Trim(ref, "0123456789abcdef") == "" {
		q += `sha256 >= ? AND sha256 < ? OR name = ?`
		args = []any{ref, ref + "g", ref}
	} else {
		q += `name = ?`
		args = []any{ref}
	}
	// Media in use first: a retired file may share its name with the one
	// that replaced it.
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY retired_at != 0 LIMIT 2`, args...)
	if err != nil {
		return Media{}, err
	}
	defer rows.Close()
	var found []Media
	for rows.Next() {
		var m Media
		if err := rows.Scan(&m.SHA256, &m.Kind, &m.MIME, &m.Size, &m.Name, &m.Title, &m.DurationMS, &m.AddedAt, &m.RetiredAt); err != nil {
			return Media{}, err
		}
		found = append(found, m)
	}
	if err := rows.Err(); err != nil {
		return Media{}, err
	}
	switch len(found) {
	case 0:
		return Media{}, fmt.Errorf("media %q: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	}
	if found[0].RetiredAt == 0 && found[1].RetiredAt != 0 {
		return found[0], nil
	}
	return Media{}, fmt.Errorf("media %q is ambiguous: give more of the sha256", ref)
}

// ListMedia lists the media in use by name (retired media left out).
func (s *Store) ListMedia(ctx context.Context) ([]Media, error) {
	return s.ListMediaWith(ctx, ListOptions{})
}

// ListMediaWith lists media by name, retired media too when asked.
func (s *Store) ListMediaWith(ctx context.Context, o ListOptions) ([]Media, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, kind, mime, size, name, title, duration_ms, added_at, retired_at FROM media
		WHERE ? OR retired_at = 0 ORDER BY name, sha256`, o.IncludeRetired)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Media
	for rows.Next() {
		var m Media
		if err := rows.Scan(&m.SHA256, &m.Kind, &m.MIME, &m.Size, &m.Name, &m.Title, &m.DurationMS, &m.AddedAt, &m.RetiredAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// PlaylistItem is one entry of a playlist.
type PlaylistItem struct {
	SHA256     string
	DurationMS int64
	// ValidFrom and ValidUntil bound the item by local date (YYYY-MM-DD,
	// until exclusive) where the playlist is scheduled; "" is open.
	ValidFrom, ValidUntil string
}

// Playlist is a named loop for one output kind.
type Playlist struct {
	Name      string
	Output    string
	Items     []PlaylistItem
	CreatedAt int64 // unix s (set by the store)
	RetiredAt int64 // unix s; 0 while in use
}

// CreatePlaylist stores a new playlist. A name that exists is ErrExists
// (change a playlist with EditPlaylist); its items must be media in use.
func (s *Store) CreatePlaylist(ctx context.Context, p Playlist) error {
	if !protocol.ValidOutput(p.Output) {
		return invalid(fmt.Errorf("playlist %s: output %q: want led, tv, audio or printer", p.Name, p.Output))
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var output string
		var retired int64
		err := tx.QueryRowContext(ctx, `SELECT output, retired_at FROM playlists WHERE name = ?`, p.Name).Scan(&output, &retired)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case retired != 0:
			return fmt.Errorf("playlist %s was retired on %s; playlist names are not reused: %w", p.Name, day(retired), ErrExists)
		default:
			return fmt.Errorf("playlist %s exists; change it with `playlist edit %s`: %w", p.Name, p.Name, ErrExists)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO playlists(name, output, created_at) VALUES (?, ?, ?)`, p.Name, p.Output, time.Now().Unix()); err != nil {
			return err
		}
		if err := writeItems(ctx, tx, p); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// EditPlaylist replaces a playlist's items (and so what every device it is
// assigned to, or a campaign places it on, plays). Its output cannot
// change: create another playlist for another output.
func (s *Store) EditPlaylist(ctx context.Context, p Playlist) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		output, err := livePlaylist(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if p.Output != "" && p.Output != output {
			return invalid(fmt.Errorf("playlist %s plays on %s, not %s; create another playlist for %s", p.Name, output, p.Output, p.Output))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM playlist_items WHERE playlist = ?`, p.Name); err != nil {
			return err
		}
		if err := writeItems(ctx, tx, p); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

func writeItems(ctx context.Context, tx *sql.Tx, p Playlist) error {
	for i, it := range p.Items {
		var retired int64
		err := tx.QueryRowContext(ctx, `SELECT retired_at FROM media WHERE sha256 = ?`, it.SHA256).Scan(&retired)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("playlist %s item %d: media %s: %w", p.Name, i, it.SHA256, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if retired != 0 {
			return invalid(fmt.Errorf("playlist %s item %d: media %s was retired on %s", p.Name, i, it.SHA256, day(retired)))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO playlist_items(playlist, pos, sha256, duration_ms, valid_from, valid_until) VALUES (?, ?, ?, ?, ?, ?)`,
			p.Name, i, it.SHA256, it.DurationMS, it.ValidFrom, it.ValidUntil); err != nil {
			return fmt.Errorf("playlist %s item %d: %w", p.Name, i, err)
		}
	}
	return nil
}

// Playlists lists playlists with their items by name, retired ones when
// asked.
func (s *Store) Playlists(ctx context.Context, o ListOptions) ([]Playlist, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, output, created_at, retired_at FROM playlists WHERE ? OR retired_at = 0 ORDER BY name`, o.IncludeRetired)
	if err != nil {
		return nil, err
	}
	var out []Playlist
	index := map[string]int{}
	for rows.Next() {
		var p Playlist
		if err := rows.Scan(&p.Name, &p.Output, &p.CreatedAt, &p.RetiredAt); err != nil {
			rows.Close()
			return nil, err
		}
		index[p.Name] = len(out)
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT playlist, sha256, duration_ms, valid_from, valid_until FROM playlist_items ORDER BY playlist, pos`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var it PlaylistItem
		if err := rows.Scan(&name, &it.SHA256, &it.DurationMS, &it.ValidFrom, &it.ValidUntil); err != nil {
			return nil, err
		}
		if i, ok := index[name]; ok {
			out[i].Items = append(out[i].Items, it)
		}
	}
	return out, rows.Err()
}

// AssignPlaylist puts a playlist on a device's output (replacing whatever
// was on that output). The device must have the output.
func (s *Store) AssignPlaylist(ctx context.Context, playlist, device string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		output, err := livePlaylist(ctx, tx, playlist)
		if err != nil {
			return err
		}
		if err := checkLiveDevice(ctx, tx, device); err != nil {
			return err
		}
		has, err := allDeviceOutputs(ctx, tx, device)
		if err != nil {
			return err
		}
		if _, ok := has[device][output]; !ok {
			return invalid(fmt.Errorf("device %s has no output %s (it has %s); playlist %s cannot play there", device, output, outputList(has[device]), playlist))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO assignments(device, output, playlist) VALUES (?, ?, ?)
			ON CONFLICT(device, output) DO UPDATE SET playlist = excluded.playlist`, device, output, playlist); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

func outputList(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// AssignedItem is one row of what a device should play.
type AssignedItem struct {
	Playlist   string
	Output     string
	SHA256     string
	Size       int64
	Kind       string
	Title      string
	DurationMS int64
}

// Assigned lists a device's playlists with their items in order.
func (s *Store) Assigned(ctx context.Context, device string) ([]AssignedItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.playlist, a.output, m.sha256, m.size, m.kind, m.title, i.duration_ms
		FROM assignments a JOIN playlist_items i ON i.playlist = a.playlist JOIN media m ON m.sha256 = i.sha256
		WHERE a.device = ? ORDER BY a.output, i.pos`, device)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AssignedItem
	for rows.Next() {
		var a AssignedItem
		if err := rows.Scan(&a.Playlist, &a.Output, &a.SHA256, &a.Size, &a.Kind, &a.Title, &a.DurationMS); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
