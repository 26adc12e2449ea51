package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
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
// digits) or a unique file name.
func (s *Store) Media(ctx context.Context, ref string) (Media, error) {
	q := `SELECT sha256, kind, mime, size, name, title, duration_ms, added_at FROM media WHERE `
	var args []any
	if len(ref) >= 8 && strings.Trim(ref, "0123456789abcdef") == "" {
		q += `sha256 >= ? AND sha256 < ? OR name = ?`
		args = []any{ref, ref + "g", ref}
	} else {
		q += `name = ?`
		args = []any{ref}
	}
	rows, err := s.db.QueryContext(ctx, q+` LIMIT 2`, args...)
	if err != nil {
		return Media{}, err
	}
	defer rows.Close()
	var found []Media
	for rows.Next() {
		var m Media
		if err := rows.Scan(&m.SHA256, &m.Kind, &m.MIME, &m.Size, &m.Name, &m.Title, &m.DurationMS, &m.AddedAt); err != nil {
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
	return Media{}, fmt.Errorf("media %q is ambiguous: give more of the sha256", ref)
}

// ListMedia lists all media by name.
func (s *Store) ListMedia(ctx context.Context) ([]Media, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, kind, mime, size, name, title, duration_ms, added_at FROM media ORDER BY name, sha256`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Media
	for rows.Next() {
		var m Media
		if err := rows.Scan(&m.SHA256, &m.Kind, &m.MIME, &m.Size, &m.Name, &m.Title, &m.DurationMS, &m.AddedAt); err != nil {
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
	Name   string
	Output string
	Items  []PlaylistItem
}

// CreatePlaylist stores a new playlist; re-creating a name replaces its items
// (and so changes what every device it is assigned to should play).
func (s *Store) CreatePlaylist(ctx context.Context, p Playlist) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var output string
		err := tx.QueryRowContext(ctx, `SELECT output FROM playlists WHERE name = ?`, p.Name).Scan(&output)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO playlists(name, output, created_at) VALUES (?, ?, ?)`, p.Name, p.Output, time.Now().Unix()); err != nil {
				return err
			}
		case err != nil:
			return err
		case output != p.Output:
			return fmt.Errorf("playlist %s exists for output %s, not %s", p.Name, output, p.Output)
		default:
			if _, err := tx.ExecContext(ctx, `DELETE FROM playlist_items WHERE playlist = ?`, p.Name); err != nil {
				return err
			}
		}
		for i, it := range p.Items {
			if _, err := tx.ExecContext(ctx, `INSERT INTO playlist_items(playlist, pos, sha256, duration_ms, valid_from, valid_until) VALUES (?, ?, ?, ?, ?, ?)`,
				p.Name, i, it.SHA256, it.DurationMS, it.ValidFrom, it.ValidUntil); err != nil {
				return fmt.Errorf("playlist %s item %d: %w", p.Name, i, err)
			}
		}
		return bump(ctx, tx)
	})
}

// AssignPlaylist puts a playlist on a device's output (replacing whatever
// was on that output).
func (s *Store) AssignPlaylist(ctx context.Context, playlist, device string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var output string
		if err := tx.QueryRowContext(ctx, `SELECT output FROM playlists WHERE name = ?`, playlist).Scan(&output); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("playlist %s: %w", playlist, ErrNotFound)
			}
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM devices WHERE id = ? AND role = 'device'`, device).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("device %s: %w", device, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO assignments(device, output, playlist) VALUES (?, ?, ?)
			ON CONFLICT(device, output) DO UPDATE SET playlist = excluded.playlist`, device, output, playlist); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
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
