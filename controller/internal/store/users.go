package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/guardcast/guardcast/controller/internal/auth"
)

// The store implements auth.Store.
var _ auth.Store = (*Store)(nil)

// authNotFound is ErrNotFound for users, sessions and tokens; it also
// matches auth.ErrNotFound, which is how package auth (which cannot import
// this one) tells a missing row from a failing database.
type authNotFound struct{ what string }

func (e authNotFound) Error() string { return e.what + ": " + ErrNotFound.Error() }
func (e authNotFound) Is(target error) bool {
	return target == ErrNotFound || target == auth.ErrNotFound
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func checkNode(ctx context.Context, q queryer, id string) error {
	if id == "" {
		return nil
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM org_nodes WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("org node %s: %w", id, ErrNotFound)
	}
	return nil
}

func writeRoles(ctx context.Context, tx *sql.Tx, name string, roles []auth.Role) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user = ?`, name); err != nil {
		return err
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO user_roles(user, role) VALUES (?, ?)`, name, string(r)); err != nil {
			return err
		}
	}
	return nil
}

// AddUser stores a new user with its password hash.
func (s *Store) AddUser(ctx context.Context, u auth.User, hash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name = ?`, u.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("user %s: %w", u.Name, ErrExists)
		}
		if err := checkNode(ctx, tx, u.Node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users(name, display, node, lang, disabled, pw_hash, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.Name, u.Display, nullable(u.Node), u.Lang, u.Disabled, hash, timeNS(u.CreatedAt))
		if err != nil {
			return err
		}
		return writeRoles(ctx, tx, u.Name, u.Roles)
	})
}

const userCols = `name, display, coalesce(node, ''), lang, disabled, created_ns, pw_hash`

func scanUser(sc interface{ Scan(...any) error }) (auth.User, string, error) {
	var u auth.User
	var created int64
	var hash string
	err := sc.Scan(&u.Name, &u.Display, &u.Node, &u.Lang, &u.Disabled, &created, &hash)
	u.CreatedAt = nsTime(created)
	u.Roles = []auth.Role{}
	return u, hash, err
}

func loadRoles(ctx context.Context, q queryer, names []string) (map[string][]auth.Role, error) {
	out := map[string][]auth.Role{}
	query := `SELECT user, role FROM user_roles ORDER BY user, role`
	var args []any
	if len(names) == 1 {
		query = `SELECT user, role FROM user_roles WHERE user = ? ORDER BY role`
		args = []any{names[0]}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, role string
		if err := rows.Scan(&name, &role); err != nil {
			return nil, err
		}
		out[name] = append(out[name], auth.Role(role))
	}
	return out, rows.Err()
}

func loadUser(ctx context.Context, q queryer, name string) (auth.User, string, error) {
	u, hash, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", authNotFound{"user " + name}
	}
	if err != nil {
		return u, "", err
	}
	roles, err := loadRoles(ctx, q, []string{name})
	if err != nil {
		return u, "", err
	}
	if r := roles[name]; r != nil {
		u.Roles = r
	}
	return u, hash, nil
}

// User returns one user (without its password hash).
func (s *Store) User(ctx context.Context, name string) (auth.User, error) {
	u, _, err := loadUser(ctx, s.db, name)
	return u, err
}

// Credentials returns a user with its password hash.
func (s *Store) Credentials(ctx context.Context, name string) (auth.Credentials, error) {
	u, hash, err := loadUser(ctx, s.db, name)
	return auth.Credentials{User: u, Hash: hash}, err
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]auth.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []auth.User{}
	for rows.Next() {
		u, _, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	roles, err := loadRoles(ctx, s.db, nil)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if r := roles[out[i].Name]; r != nil {
			out[i].Roles = r
		}
	}
	return out, nil
}

// UpdateUser applies edit to a user in one transaction. The name, creation
// time and disabled flag are kept whatever edit does to them.
func (s *Store) UpdateUser(ctx context.Context, name string, edit func(*auth.User) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, _, err := loadUser(ctx, tx, name)
		if err != nil {
			return err
		}
		keep := u
		if err := edit(&u); err != nil {
			return err
		}
		u.Name, u.CreatedAt, u.Disabled = keep.Name, keep.CreatedAt, keep.Disabled
		if u.Node != keep.Node {
			if err := checkNode(ctx, tx, u.Node); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET display = ?, node = ?, lang = ? WHERE name = ?`,
			u.Display, nullable(u.Node), u.Lang, name); err != nil {
			return err
		}
		return writeRoles(ctx, tx, name, u.Roles)
	})
}

func updateOne(ctx context.Context, tx *sql.Tx, what, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return authNotFound{what}
	}
	return nil
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, name, hash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, "user "+name, `UPDATE users SET pw_hash = ? WHERE name = ?`, hash, name)
	})
}

// SetUserDisabled disables or enables a user; disabling deletes the
// user's sessions and API tokens with it.
func (s *Store) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := updateOne(ctx, tx, "user "+name, `UPDATE users SET disabled = ? WHERE name = ?`, disabled, name); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE user = ?`, name)
		return err
	})
}

// LoginFailures reports the consecutive failed logins recorded for name.
func (s *Store) LoginFailures(ctx context.Context, name string) (int, time.Time, error) {
	var n int
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT count, last_ns FROM login_failures WHERE name = ?`, name).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	return n, nsTime(last), err
}

// AddLoginFailure counts a failed login for name at at; a count whose last
// failure is not after since starts again.
func (s *Store) AddLoginFailure(ctx context.Context, name string, at, since time.Time) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT count, last_ns FROM login_failures WHERE name = ?`, name).Scan(&n, &last)
		if errors.Is(err, sql.ErrNoRows) {
			n = 0
		} else if err != nil {
			return err
		}
		if !nsTime(last).After(since) {
			n = 0
		}
		n++
		_, err = tx.ExecContext(ctx, `INSERT INTO login_failures(name, count, last_ns) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET count = excluded.count, last_ns = excluded.last_ns`, name, n, timeNS(at))
		return err
	})
	return n, err
}

// ClearLoginFailures forgets name's failed logins.
func (s *Store) ClearLoginFailures(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE name = ?`, name)
	return err
}

// AddSession stores a session.
func (s *Store) AddSession(ctx context.Context, r auth.SessionRecord) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions(id_hash, user, csrf, created_ns, expires_ns) VALUES (?, ?, ?, ?, ?)`,
		r.IDHash, r.User, r.CSRF, timeNS(r.Created), timeNS(r.Expires))
	return err
}

// SessionByHash returns the session stored under idHash.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (auth.SessionRecord, error) {
	r := auth.SessionRecord{IDHash: idHash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT user, csrf, created_ns, expires_ns FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&r.User, &r.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return r, authNotFound{"session"}
	}
	r.Created, r.Expires = nsTime(created), nsTime(expires)
	return r, err
}

// ExtendSession moves a session's expiry.
func (s *Store) ExtendSession(ctx context.Context, idHash string, expires time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, "session", `UPDATE sessions SET expires_ns = ? WHERE id_hash = ?`, timeNS(expires), idHash)
	})
}

// DeleteSession deletes a session; an unknown one is no error.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return err
}

// DeleteUserSessions ends every session of user.
func (s *Store) DeleteUserSessions(ctx context.Context, user string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, user)
	return err
}

// DeleteExpiredSessions drops sessions expired at now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_ns <= ?`, timeNS(now))
	return err
}

// AddToken stores an API token; a label the user already has is ErrExists.
func (s *Store) AddToken(ctx context.Context, r auth.TokenRecord) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, _, err := loadUser(ctx, tx, r.User); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_tokens WHERE user = ? AND label = ?`, r.User, r.Label).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("token %s of %s: %w", r.Label, r.User, ErrExists)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens(hash, user, label, prefix, created_ns, used_ns) VALUES (?, ?, ?, ?, ?, ?)`,
			r.Hash, r.User, r.Label, r.Prefix, timeNS(r.CreatedAt), timeNS(r.LastUsed))
		return err
	})
}

const tokenCols = `hash, user, label, prefix, created_ns, used_ns`

func scanToken(sc interface{ Scan(...any) error }) (auth.TokenRecord, error) {
	var r auth.TokenRecord
	var created, used int64
	err := sc.Scan(&r.Hash, &r.User, &r.Label, &r.Prefix, &created, &used)
	r.CreatedAt, r.LastUsed = nsTime(created), nsTime(used)
	return r, err
}

// TokenByHash returns the token stored under hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.TokenRecord, error) {
	r, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return r, authNotFound{"token"}
	}
	return r, err
}

// TouchToken records a token's use.
func (s *Store) TouchToken(ctx context.Context, hash string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET used_ns = ? WHERE hash = ?`, timeNS(at), hash)
	return err
}

// DeleteToken deletes a user's token by label.
func (s *Store) DeleteToken(ctx context.Context, user, label string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, "token "+label+" of "+user, `DELETE FROM api_tokens WHERE user = ? AND label = ?`, user, label)
	})
}

// Tokens lists a user's tokens by label; an unknown user is ErrNotFound.
func (s *Store) Tokens(ctx context.Context, user string) ([]auth.TokenRecord, error) {
	if _, _, err := loadUser(ctx, s.db, user); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE user = ? ORDER BY label`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []auth.TokenRecord{}
	for rows.Next() {
		r, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
