package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Alert is a stored urgent warning: what travels in devices' documents,
// plus when it was pushed and whether it was cancelled.
type Alert struct {
	protocol.Alert
	PushedMS    int64 `json:"pushed_ms"`              // unix ms: acknowledgement latency runs from here
	CancelledAt int64 `json:"cancelled_at,omitempty"` // unix s, 0 unless cancelled
}

// Active reports whether the alert still belongs in documents at now.
func (a *Alert) Active(now time.Time) bool {
	return a.CancelledAt == 0 && now.Unix() < a.ExpiresAt
}

// CreateAlert stores an alert and bumps the revision. It assigns the ID
// (a-YYYYMMDD-NNNN by the controller's local date of now, numbered within
// that day) and returns the stored alert. Every target must be an
// existing org node or device that reaches at least one device with one
// of the alert's outputs (see ResolveTargets).
//
// The recipients — each device reached and the alert's outputs it has —
// are frozen in the same transaction (AlertRecipients): status, sign-for
// counts and laggards are counted over them only. A device added under a
// target later is still shown the alert by the compiler while it is in
// force (a warning should reach a new sign too), but it is not counted
// against the push.
func (s *Store) CreateAlert(ctx context.Context, a protocol.Alert, now time.Time) (Alert, error) {
	day := "a-" + now.Format("20060102") + "-"
	out := Alert{Alert: a, PushedMS: now.UnixMilli()}
	out.Targets = append([]string(nil), a.Targets...)
	sort.Strings(out.Targets)
	if len(out.Targets) == 0 {
		return Alert{}, invalid(errors.New("alert: no targets"))
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		targets, err := alertTargets(ctx, tx, out.Targets)
		if err != nil {
			return err
		}
		res, err := resolve(ctx, tx, targets, out.Outputs)
		if err != nil {
			return err
		}
		var last sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM alerts WHERE id >= ? AND id < ?`, day, day+"~").Scan(&last); err != nil {
			return err
		}
		seq := 1
		if last.Valid {
			fmt.Sscanf(strings.TrimPrefix(last.String, day), "%d", &seq)
			seq++
		}
		out.ID = fmt.Sprintf("%s%04d", day, seq)
		if err := out.Alert.Validate(); err != nil {
			return invalid(err)
		}
		items, _ := json.Marshal(out.Items)
		if out.Items == nil {
			items = []byte("[]")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO alerts(id, text, items, outputs, issued_at, pushed_ms, expires_at, repeat_ms, hold_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, out.ID, out.Text, string(items), strings.Join(out.Outputs, ","), out.IssuedAt,
			out.PushedMS, out.ExpiresAt, out.RepeatEveryMS, out.HoldMS); err != nil {
			return err
		}
		for _, t := range out.Targets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_targets(alert, target) VALUES (?, ?) ON CONFLICT DO NOTHING`, out.ID, t); err != nil {
				return err
			}
		}
		for _, r := range res.Recipients {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_recipients(alert, device, node, outputs) VALUES (?, ?, ?, ?)`,
				out.ID, r.Device, r.Node, strings.Join(r.Outputs, ",")); err != nil {
				return err
			}
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return Alert{}, err
	}
	return out, nil
}

// CancelAlert withdraws an alert before it expires.
func (s *Store) CancelAlert(ctx context.Context, id string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET cancelled_at = ? WHERE id = ? AND cancelled_at = 0`, at.Unix(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("alert %s: %w (or already cancelled)", id, ErrNotFound)
		}
		return bump(ctx, tx)
	})
}

// Alert returns one alert.
func (s *Store) Alert(ctx context.Context, id string) (Alert, error) {
	as, err := s.alerts(ctx, `WHERE id = ?`, id)
	if err != nil {
		return Alert{}, err
	}
	if len(as) == 0 {
		return Alert{}, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	return as[0], nil
}

// Alerts lists alerts, newest first: those still active at now, or all
// when now is zero.
func (s *Store) Alerts(ctx context.Context, now time.Time) ([]Alert, error) {
	if now.IsZero() {
		return s.alerts(ctx, `WHERE 1`)
	}
	return s.alerts(ctx, `WHERE cancelled_at = 0 AND expires_at > ?`, now.Unix())
}

func (s *Store) alerts(ctx context.Context, where string, args ...any) ([]Alert, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, text, items, outputs, issued_at, pushed_ms, expires_at, repeat_ms, hold_ms, cancelled_at
		FROM alerts `+where+` ORDER BY pushed_ms DESC, id DESC`, args...)
	if err != nil {
		return nil, err
	}
	var out []Alert
	index := map[string]int{}
	for rows.Next() {
		var a Alert
		var items, outputs string
		if err := rows.Scan(&a.ID, &a.Text, &items, &outputs, &a.IssuedAt, &a.PushedMS, &a.ExpiresAt, &a.RepeatEveryMS, &a.HoldMS, &a.CancelledAt); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(items), &a.Items); err != nil {
			rows.Close()
			return nil, fmt.Errorf("alert %s items: %w", a.ID, err)
		}
		if len(a.Items) == 0 {
			a.Items = nil
		}
		a.Outputs = strings.Split(outputs, ",")
		index[a.ID] = len(out)
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	q := `SELECT alert, target FROM alert_targets ORDER BY alert, target`
	var targs []any
	if len(out) == 1 {
		q = `SELECT alert, target FROM alert_targets WHERE alert = ? ORDER BY target`
		targs = []any{out[0].ID}
	}
	rows, err = s.db.QueryContext(ctx, q, targs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, t string
		if err := rows.Scan(&id, &t); err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			out[i].Targets = append(out[i].Targets, t)
		}
	}
	return out, rows.Err()
}

// AlertRecipients lists the devices an alert was pushed to, frozen at the
// push, by device ID, each with the alert's outputs it has. Alerts pushed
// before recipients were frozen got the devices they reached when the
// controller was upgraded, on all of the alert's outputs.
func (s *Store) AlertRecipients(ctx context.Context, id string) ([]Recipient, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE id = ?`, id).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT device, node, outputs FROM alert_recipients WHERE alert = ? ORDER BY device`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Recipient{}
	for rows.Next() {
		var r Recipient
		var outputs string
		if err := rows.Scan(&r.Device, &r.Node, &outputs); err != nil {
			return nil, err
		}
		if outputs != "" {
			r.Outputs = strings.Split(outputs, ",")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// NextAlertExpiry is the earliest expiry after now of an alert still in
// force, or 0: the fleet re-signs documents then, so an expired warning
// leaves them without waiting for another edit.
func (s *Store) NextAlertExpiry(ctx context.Context, now time.Time) (int64, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT min(expires_at) FROM alerts WHERE cancelled_at = 0 AND expires_at > ?`, now.Unix()).Scan(&v)
	return v.Int64, err
}
