package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SetCapability records the capability version a device's agent announced
// (protocol.Hello.Cap). It reports whether the value changed. It does not
// bump the revision: the device's next document is compiled for it anyway
// (the controller answers every hello with a refresh), and a revision bump
// on every hello would make every reconnect resync the fleet.
func (s *Store) SetCapability(ctx context.Context, id string, capability int) (bool, error) {
	if capability < 1 {
		return false, fmt.Errorf("capability of %s: %d, want ≥ 1", id, capability)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE devices SET capability = ? WHERE id = ? AND capability != ?`, capability, id, capability)
	if err != nil {
		return false, fmt.Errorf("set capability of %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Capability returns the capability version a device last announced (1
// if it never did).
func (s *Store) Capability(ctx context.Context, id string) (int, error) {
	var c int
	err := s.db.QueryRowContext(ctx, `SELECT capability FROM devices WHERE id = ?`, id).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	return c, err
}

// Capabilities returns every device's capability version, for a
// compilation pass over the fleet.
func (s *Store) Capabilities(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, capability FROM devices WHERE role = 'device'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var c int
		if err := rows.Scan(&id, &c); err != nil {
			return nil, err
		}
		out[id] = c
	}
	return out, rows.Err()
}
