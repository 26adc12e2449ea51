package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
)

// The store implements adminlog.Store.
var _ adminlog.Store = (*Store)(nil)

const adminCols = `seq, at_ns, actor, action, target, detail, prev, hash, sig`

func scanAdminEntry(sc interface{ Scan(...any) error }) (adminlog.Entry, error) {
	var e adminlog.Entry
	var detail string
	err := sc.Scan(&e.Seq, &e.AtNS, &e.Actor, &e.Action, &e.Target, &detail, &e.Prev, &e.Hash, &e.Sig)
	e.Detail = []byte(detail)
	return e, err
}

// AppendAdminLog reads the last admin-log entry and inserts the one next
// builds from it, in one immediate transaction: appends from other
// processes (the CLI beside serve) queue behind it.
func (s *Store) AppendAdminLog(ctx context.Context, next func(last adminlog.Entry, ok bool) (adminlog.Entry, error)) (adminlog.Entry, error) {
	var e adminlog.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		last, err := scanAdminEntry(tx.QueryRowContext(ctx, `SELECT `+adminCols+` FROM admin_log ORDER BY seq DESC LIMIT 1`))
		ok := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if e, err = next(last, ok); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO admin_log(`+adminCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.AtNS, e.Actor, e.Action, e.Target, string(e.Detail), e.Prev, e.Hash, e.Sig)
		return err
	})
	if err != nil {
		return adminlog.Entry{}, err
	}
	return e, nil
}

// AdminLog returns the admin-log entries f selects, in ascending seq.
func (s *Store) AdminLog(ctx context.Context, f adminlog.Filter) ([]adminlog.Entry, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, `at_ns >= ?`), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, `at_ns < ?`), append(args, f.Until.UnixNano())
	}
	if f.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, f.Actor)
	}
	if f.Action != "" {
		where, args = append(where, `action = ?`), append(args, f.Action)
	}
	if f.AfterSeq > 0 {
		where, args = append(where, `seq > ?`), append(args, f.AfterSeq)
	}
	q := `SELECT ` + adminCols + ` FROM admin_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if f.Limit > 0 {
		q = `SELECT * FROM (` + q + ` ORDER BY seq DESC LIMIT ?) ORDER BY seq`
		args = append(args, f.Limit)
	} else {
		q += ` ORDER BY seq`
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []adminlog.Entry{}
	for rows.Next() {
		e, err := scanAdminEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
