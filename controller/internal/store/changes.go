package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Change states.
const (
	ChangePending   = "pending"
	ChangeApproving = "approving" // claimed by an approver, being applied
	ChangeApproved  = "approved"
	ChangeRejected  = "rejected"
	ChangeWithdrawn = "withdrawn"
	ChangeFailed    = "failed" // approved, but applying it no longer worked
)

// ErrConflict is returned when a change is no longer in the state the
// caller expected (approved twice, rejected after approval).
var ErrConflict = errors.New("conflict")

// Change is a pending (or decided) change to what devices play.
type Change struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Target    string `json:"target"`
	Payload   []byte `json:"-"`
	Summary   string `json:"summary"`
	Author    string `json:"author"`
	CreatedMS int64  `json:"created_ms"`
	State     string `json:"state"`
	DecidedBy string `json:"decided_by,omitempty"`
	DecidedMS int64  `json:"decided_ms,omitempty"`
	Note      string `json:"note,omitempty"`
}

// AddChange stores a new pending change and returns its ID.
func (s *Store) AddChange(ctx context.Context, c Change) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO changes(kind, target, payload, summary, author, created_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Kind, c.Target, string(c.Payload), c.Summary, c.Author, c.CreatedMS)
	if err != nil {
		return 0, fmt.Errorf("add change: %w", err)
	}
	return res.LastInsertId()
}

const changeCols = `id, kind, target, payload, summary, author, created_ms, state, decided_by, decided_ms, note`

func scanChange(row interface{ Scan(...any) error }) (Change, error) {
	var c Change
	var payload string
	err := row.Scan(&c.ID, &c.Kind, &c.Target, &payload, &c.Summary, &c.Author, &c.CreatedMS, &c.State, &c.DecidedBy, &c.DecidedMS, &c.Note)
	c.Payload = []byte(payload)
	return c, err
}

// GetChange returns one change.
func (s *Store) GetChange(ctx context.Context, id int64) (Change, error) {
	c, err := scanChange(s.db.QueryRowContext(ctx, `SELECT `+changeCols+` FROM changes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("change %d: %w", id, ErrNotFound)
	}
	return c, err
}

// Changes lists changes, newest first; state "" lists all.
func (s *Store) Changes(ctx context.Context, state string, limit int) ([]Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT ` + changeCols + ` FROM changes`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// MoveChange moves a change from one state to another, recording who and
// when; it fails with ErrConflict when the change is not in state from.
func (s *Store) MoveChange(ctx context.Context, id int64, from, to, by string, atMS int64, note string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE changes SET state = ?, decided_by = ?, decided_ms = ?, note = ? WHERE id = ? AND state = ?`,
		to, by, atMS, note, id, from)
	if err != nil {
		return fmt.Errorf("change %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		c, err := s.GetChange(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("change %d is %s, not %s: %w", id, c.State, from, ErrConflict)
	}
	return nil
}

// Provenance says who authored and who approved something devices play.
type Provenance struct {
	Kind     string `json:"kind"`
	Ref      string `json:"ref"`
	Change   int64  `json:"change,omitempty"`
	Author   string `json:"author"`
	Approver string `json:"approver,omitempty"`
	AtMS     int64  `json:"at_ms"`
}

// SetProvenance records (or replaces) who authored and approved kind/ref.
// It bumps the revision: signed documents carry these names.
func (s *Store) SetProvenance(ctx context.Context, p Provenance) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO provenance(kind, ref, change, author, approver, at_ms) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(kind, ref) DO UPDATE SET change = excluded.change, author = excluded.author, approver = excluded.approver, at_ms = excluded.at_ms`,
			p.Kind, p.Ref, p.Change, p.Author, p.Approver, p.AtMS)
		if err != nil {
			return fmt.Errorf("provenance %s %s: %w", p.Kind, p.Ref, err)
		}
		return bump(ctx, tx)
	})
}

// AllProvenance returns every record, keyed by kind then ref.
func (s *Store) AllProvenance(ctx context.Context) (map[string]map[string]Provenance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, ref, change, author, approver, at_ms FROM provenance`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]Provenance{}
	for rows.Next() {
		var p Provenance
		if err := rows.Scan(&p.Kind, &p.Ref, &p.Change, &p.Author, &p.Approver, &p.AtMS); err != nil {
			return nil, err
		}
		if out[p.Kind] == nil {
			out[p.Kind] = map[string]Provenance{}
		}
		out[p.Kind][p.Ref] = p
	}
	return out, rows.Err()
}

// Setting returns a setting's value ("" when unset).
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetSetting stores a setting.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}
