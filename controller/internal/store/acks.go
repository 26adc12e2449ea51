package store

import (
	"context"
	"database/sql"
	"iter"

	"github.com/guardcast/guardcast/internal/protocol"
)

// AckRow is a stored acknowledgement with the controller's receive time.
type AckRow struct {
	protocol.Ack
	ReceivedMS int64
}

// CommitAcks stores acknowledgements in one transaction. A resent ack (same
// device, event, version, alert, output and entry) is a no-op, so the first
// receipt time stands. An "adopted" ack also moves the device's adopted
// version forward (never back).
func (s *Store) CommitAcks(ctx context.Context, rows []AckRow) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO acks(device, event, version, alert, output, entry, detail, at_ms, clock_synced, received_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		var adopt *sql.Stmt
		for _, r := range rows {
			if _, err := ins.ExecContext(ctx, r.Device, r.Event, r.Version, r.Alert, r.Output, r.Entry, r.Detail, r.At, r.ClockSynced, r.ReceivedMS); err != nil {
				return err
			}
			if r.Event != protocol.AckAdopted {
				continue
			}
			if adopt == nil {
				if adopt, err = tx.PrepareContext(ctx, `UPDATE devices SET adopted_version = ?, adopted_ms = ? WHERE id = ? AND adopted_version < ?`); err != nil {
					return err
				}
				defer adopt.Close()
			}
			if _, err := adopt.ExecContext(ctx, r.Version, r.ReceivedMS, r.Device, r.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

// AckFilter selects acknowledgements.
type AckFilter struct {
	Alert  string // "" for any
	Device string // "" for any
	Event  string // "" for any
}

// Acks lists acknowledgements by device, then receive time.
func (s *Store) Acks(ctx context.Context, f AckFilter) ([]AckRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, event, version, alert, output, entry, detail, at_ms, clock_synced, received_ms
		FROM acks WHERE (? = '' OR alert = ?) AND (? = '' OR device = ?) AND (? = '' OR event = ?) ORDER BY device, received_ms, id`,
		f.Alert, f.Alert, f.Device, f.Device, f.Event, f.Event)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AckRow
	for rows.Next() {
		var r AckRow
		if err := rows.Scan(&r.Device, &r.Event, &r.Version, &r.Alert, &r.Output, &r.Entry, &r.Detail, &r.At, &r.ClockSynced, &r.ReceivedMS); err != nil {
			return nil, err
		}
		r.V = protocol.Version
		out = append(out, r)
	}
	return out, rows.Err()
}

// DesiredHead is what the compiler needs of a device to decide whether
// its document must be re-signed: no document bytes.
type DesiredHead struct {
	ID      string
	Node    string
	Version uint64
	Hash    string
	Issued  int64
	Expires int64
	HasDoc  bool
	// Capability is what the device's agent announced (1 if nothing).
	Capability int
}

// DesiredHeads lists every device's desired-state head, ordered by ID;
// retired devices have none (nothing is compiled or published for them).
func (s *Store) DesiredHeads(ctx context.Context) ([]DesiredHead, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, coalesce(node, ''), desired_version, desired_hash, desired_issued, desired_expires,
		desired_doc IS NOT NULL, capability FROM devices WHERE role = 'device' AND retired_at = 0 ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DesiredHead
	for rows.Next() {
		var h DesiredHead
		if err := rows.Scan(&h.ID, &h.Node, &h.Version, &h.Hash, &h.Issued, &h.Expires, &h.HasDoc, &h.Capability); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// DesiredDocs returns the stored signed documents of the given devices.
func (s *Store) DesiredDocs(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	stmt, err := s.db.PrepareContext(ctx, `SELECT desired_doc FROM devices WHERE id = ?`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for _, id := range ids {
		var doc []byte
		if err := stmt.QueryRowContext(ctx, id).Scan(&doc); err != nil {
			return nil, err
		}
		out[id] = doc
	}
	return out, nil
}

// DesiredWrite is one newly signed document.
type DesiredWrite struct {
	ID      string
	Version uint64
	Hash    string
	Doc     []byte
	Issued  int64
	Expires int64
}

// SetDesiredBatch stores many newly signed documents in one transaction.
// Like SetDesired it never goes backwards: a write whose version is not
// above the stored one is skipped and reported false in stored.
func (s *Store) SetDesiredBatch(ctx context.Context, ws []DesiredWrite) (stored []bool, err error) {
	return s.SetDesiredSeq(ctx, func(yield func(DesiredWrite) bool) {
		for _, w := range ws {
			if !yield(w) {
				return
			}
		}
	})
}

// SetDesiredSeq is SetDesiredBatch for documents still being signed: it
// stores each as seq yields it, inside one transaction, so storing
// overlaps signing. stored is in yield order.
func (s *Store) SetDesiredSeq(ctx context.Context, seq iter.Seq[DesiredWrite]) (stored []bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		up, err := tx.PrepareContext(ctx, `UPDATE devices SET desired_version = ?, desired_hash = ?, desired_doc = ?, desired_issued = ?, desired_expires = ?
			WHERE id = ? AND desired_version < ?`)
		if err != nil {
			return err
		}
		defer up.Close()
		for w := range seq {
			res, err := up.ExecContext(ctx, w.Version, w.Hash, w.Doc, w.Issued, w.Expires, w.ID, w.Version)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			stored = append(stored, n == 1)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// VersionRow is a device's published and adopted desired-state versions.
type VersionRow struct {
	ID             string
	Node           string
	Published      uint64 // the version the controller signed last
	PublishedAt    int64  // unix s
	AdoptedVersion uint64 // the highest the device acknowledged as verified and playing
	AdoptedMS      int64
	LastSeen       int64
	Status         string // the device's last status message (JSON)
}

// DeviceVersions lists every device's versions, ordered by ID.
func (s *Store) DeviceVersions(ctx context.Context) ([]VersionRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, coalesce(node, ''), desired_version, desired_issued, adopted_version, adopted_ms, last_seen, status
		FROM devices WHERE role = 'device' AND retired_at = 0 ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []VersionRow
	for rows.Next() {
		var v VersionRow
		if err := rows.Scan(&v.ID, &v.Node, &v.Published, &v.PublishedAt, &v.AdoptedVersion, &v.AdoptedMS, &v.LastSeen, &v.Status); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
