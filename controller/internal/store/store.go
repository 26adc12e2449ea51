// Package store is the controller's database: the source of truth for
// devices, media, playlists, desired state and the play log. It is the only
// package that uses database/sql. SQLite (modernc, WAL, synchronous=FULL)
// is the default engine.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/guardcast/guardcast/internal/owneronly"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a named row does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid marks a refusal caused by the request itself — a bad field,
// a rule of the tree — as opposed to a database failure. Test it with
// errors.Is; the message is the reason.
var ErrInvalid = errors.New("invalid")

type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

// Invalid marks err as a refusal caused by the request (errors.Is(err,
// ErrInvalid)), keeping its message; nil stays nil.
func Invalid(err error) error { return invalid(err) }

func invalid(err error) error {
	if err == nil {
		return nil
	}
	return invalidError{err}
}

// Store wraps the database.
type Store struct {
	db *sql.DB
}

// Open opens (creating if needed) the SQLite database in dir and applies
// pending migrations.
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, "guardcast.db")
	// The database holds device credentials: the data dir is 0700 and the
	// database (with its -wal and -shm) 0600, tightened on every open.
	// SQLite gives -wal and -shm the database file's mode, so the file is
	// created 0600 before SQLite first opens it.
	if err := owneronly.Tighten(dir); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, owneronly.FileMode)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	if err := owneronly.Tighten(path, path+"-wal", path+"-shm"); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(15000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			for _, stmt := range splitSQL(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(name) VALUES (?)`, name)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// splitSQL drops "--" comments and splits on semicolons; migrations hold
// no semicolons inside strings or triggers.
func splitSQL(body string) []string {
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if i := strings.Index(l, "--"); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	var out []string
	for _, part := range strings.Split(strings.Join(lines, "\n"), ";") {
		if stmt := strings.TrimSpace(part); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Revision is bumped by every edit that can change what a device should
// play (device, media, playlist, assignment). serve polls it to notice edits
// made by CLI commands in other processes.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT rev FROM revision`).Scan(&v)
	return v, err
}

func bump(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE revision SET rev = rev + 1`)
	return err
}
