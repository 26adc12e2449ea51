package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
)

// Retiring, not deleting: a retired node, person, device, media file or
// playlist keeps its row (and its ID or name, which is not reused), so the
// play log, alert history and campaigns that named it stay readable and
// verifiable. It leaves listings (unless asked for), the tree, target
// resolution and the compiler.

func day(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.DateOnly) }

// names lists up to five names, then how many more.
func names(ns []string) string {
	if len(ns) <= 5 {
		return strings.Join(ns, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ns[:5], ", "), len(ns)-5)
}

func column(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// checkLiveDevice refuses a device that does not exist or is retired.
func checkLiveDevice(ctx context.Context, q queryer, id string) error {
	var retired int64
	err := q.QueryRowContext(ctx, `SELECT retired_at FROM devices WHERE id = ? AND role = 'device'`, id).Scan(&retired)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if retired != 0 {
		return fmt.Errorf("device %s was retired on %s: %w", id, day(retired), ErrNotFound)
	}
	return nil
}

// checkSamePerson refuses a second row for the same person on a node: the
// same name with the same phone, or with the same role. except is the row
// being edited.
func checkSamePerson(ctx context.Context, q queryer, p org.Person) error {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM org_people WHERE retired_at = 0 AND node = ? AND name = ? AND (phone = ? OR role = ?) AND id != ?
		ORDER BY id LIMIT 1`, p.Node, p.Name, p.Phone, p.Role, p.ID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s is already person %d on %s; change them with `org person edit %d`: %w", p.Name, id, p.Node, id, ErrExists)
}

// RetireNode retires an org node and its people. It refuses (ErrInvalid,
// naming them) while the node has children or devices in use: move or
// retire those first.
func (s *Store) RetireNode(ctx context.Context, id string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var retired int64
		err := tx.QueryRowContext(ctx, `SELECT retired_at FROM org_nodes WHERE id = ?`, id).Scan(&retired)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("node %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if retired != 0 {
			return invalid(fmt.Errorf("node %s was already retired on %s", id, day(retired)))
		}
		kids, err := column(ctx, tx, `SELECT id FROM org_nodes WHERE parent = ? AND retired_at = 0 ORDER BY id`, id)
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			return invalid(fmt.Errorf("node %s still has nodes under it: %s; retire or move them first", id, names(kids)))
		}
		devs, err := column(ctx, tx, `SELECT id FROM devices WHERE node = ? AND role = 'device' AND retired_at = 0 ORDER BY id`, id)
		if err != nil {
			return err
		}
		if len(devs) > 0 {
			return invalid(fmt.Errorf("node %s still has devices: %s; retire or move them first", id, names(devs)))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE org_nodes SET retired_at = ? WHERE id = ?`, at.Unix(), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE org_people SET retired_at = ? WHERE node = ? AND retired_at = 0`, at.Unix(), id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// RetirePerson retires a responsible person: they leave laggard lists.
func (s *Store) RetirePerson(ctx context.Context, id int64, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var retired int64
		err := tx.QueryRowContext(ctx, `SELECT retired_at FROM org_people WHERE id = ?`, id).Scan(&retired)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("person %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if retired != 0 {
			return invalid(fmt.Errorf("person %d was already retired on %s", id, day(retired)))
		}
		_, err = tx.ExecContext(ctx, `UPDATE org_people SET retired_at = ? WHERE id = ?`, at.Unix(), id)
		return err
	})
}

// PersonEdit changes some of a person's fields; nil leaves one as it is.
type PersonEdit struct {
	Name, Phone, Role *string
}

// EditPerson changes a person in use. Making them the same as another
// person on the node is ErrExists.
func (s *Store) EditPerson(ctx context.Context, id int64, e PersonEdit) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var p org.Person
		var retired int64
		err := tx.QueryRowContext(ctx, `SELECT id, node, role, name, phone, retired_at FROM org_people WHERE id = ?`, id).
			Scan(&p.ID, &p.Node, &p.Role, &p.Name, &p.Phone, &retired)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("person %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if retired != 0 {
			return fmt.Errorf("person %d was retired on %s: %w", id, day(retired), ErrNotFound)
		}
		if e.Name != nil {
			p.Name = *e.Name
		}
		if e.Phone != nil {
			p.Phone = *e.Phone
		}
		if e.Role != nil {
			p.Role = *e.Role
		}
		if err := p.Validate(); err != nil {
			return invalid(err)
		}
		if err := checkSamePerson(ctx, tx, p); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE org_people SET name = ?, phone = ?, role = ? WHERE id = ?`, p.Name, p.Phone, p.Role, id)
		return err
	})
}

// RetireDevice decommissions a device: the broker refuses its credential
// (fleet.Credentials), no desired state is compiled or published for it,
// it leaves target resolution and listings, and its legacy assignments
// are dropped. Its play log, findings and pinned key stay, so its proofs
// still verify; Device still returns it (with RetiredAt set).
func (s *Store) RetireDevice(ctx context.Context, id string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkLiveDevice(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET retired_at = ? WHERE id = ?`, at.Unix(), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE device = ?`, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// RetireMedia retires a media file (by sha256 or any reference Media
// takes): it is no longer offered for new playlists or alerts. It refuses
// while a playlist in use or an alert in force at at plays it, naming
// them. The file stays in the library and /media/ keeps serving it: old
// documents and agents' caches still name it, and an auditor checking a
// proof may fetch it.
func (s *Store) RetireMedia(ctx context.Context, ref string, at time.Time) error {
	m, err := s.Media(ctx, ref)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var retired int64
		if err := tx.QueryRowContext(ctx, `SELECT retired_at FROM media WHERE sha256 = ?`, m.SHA256).Scan(&retired); err != nil {
			return err
		}
		if retired != 0 {
			return invalid(fmt.Errorf("media %s was already retired on %s", m.Name, day(retired)))
		}
		pls, err := column(ctx, tx, `SELECT DISTINCT p.name FROM playlists p JOIN playlist_items i ON i.playlist = p.name
			WHERE i.sha256 = ? AND p.retired_at = 0 ORDER BY p.name`, m.SHA256)
		if err != nil {
			return err
		}
		if len(pls) > 0 {
			return invalid(fmt.Errorf("media %s is in playlists %s; edit or retire them first", m.Name, names(pls)))
		}
		als, err := column(ctx, tx, `SELECT id FROM alerts WHERE cancelled_at = 0 AND expires_at > ? AND instr(items, ?) > 0 ORDER BY id`,
			at.Unix(), m.SHA256)
		if err != nil {
			return err
		}
		if len(als) > 0 {
			return invalid(fmt.Errorf("media %s is the voice of alerts in force %s; cancel them or let them expire first", m.Name, names(als)))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE media SET retired_at = ? WHERE sha256 = ?`, at.Unix(), m.SHA256); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// RetirePlaylist retires a playlist. It refuses while a running campaign
// or an assignment uses it, naming them.
func (s *Store) RetirePlaylist(ctx context.Context, name string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := livePlaylist(ctx, tx, name); err != nil {
			return err
		}
		cs, err := column(ctx, tx, `SELECT DISTINCT c.name FROM campaigns c JOIN campaign_playlists p ON p.campaign = c.id
			WHERE p.playlist = ? AND c.ended_at = 0 ORDER BY c.name`, name)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			return invalid(fmt.Errorf("playlist %s is used by running campaigns %s; end them first", name, names(cs)))
		}
		as, err := column(ctx, tx, `SELECT device || ' ' || output FROM assignments WHERE playlist = ? ORDER BY device, output`, name)
		if err != nil {
			return err
		}
		if len(as) > 0 {
			return invalid(fmt.Errorf("playlist %s is assigned to %s; unassign it first", name, names(as)))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE playlists SET retired_at = ? WHERE name = ?`, at.Unix(), name); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// livePlaylist returns a playlist's output, refusing one that does not
// exist (ErrNotFound) or is retired (ErrInvalid).
func livePlaylist(ctx context.Context, q queryer, name string) (string, error) {
	var output string
	var retired int64
	err := q.QueryRowContext(ctx, `SELECT output, retired_at FROM playlists WHERE name = ?`, name).Scan(&output, &retired)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("playlist %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	if retired != 0 {
		return "", invalid(fmt.Errorf("playlist %s was retired on %s", name, day(retired)))
	}
	return output, nil
}

// UnassignPlaylist takes whatever playlist is assigned off a device's
// output; ErrNotFound when nothing is.
func (s *Store) UnassignPlaylist(ctx context.Context, device, output string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE device = ? AND output = ?`, device, output)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("no playlist assigned to %s on %s: %w", device, output, ErrNotFound)
		}
		return bump(ctx, tx)
	})
}
