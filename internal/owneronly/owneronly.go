// Package owneronly keeps a daemon's state private to the user it runs as:
// directories 0700, files 0600. Modes are tightened on every open, so an
// install made before this rule (0755 directories, 0644 databases) is fixed
// the next time it starts rather than staying world-readable.
package owneronly

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirMode and FileMode are the modes state is created with.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// MkdirAll creates dir (and parents, which are left as the umask makes
// them) and tightens dir itself to owner-only.
func MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	return Tighten(dir)
}

// Tighten removes group and other permissions from each path that exists.
// Missing paths are skipped (a -wal file comes and goes); symbolic links
// are skipped, since chmod would change what they point to.
func Tighten(paths ...string) error {
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tighten mode: %w", err)
		}
		if err := tighten(p, fi); err != nil {
			return err
		}
	}
	return nil
}

// TightenTree is Tighten for root and everything under it.
func TightenTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tighten mode: %w", err)
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tighten mode: %w", err)
		}
		return tighten(p, fi)
	})
}

func tighten(p string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(p, perm&^0o077); err != nil {
		return fmt.Errorf("tighten mode: %w", err)
	}
	return nil
}
