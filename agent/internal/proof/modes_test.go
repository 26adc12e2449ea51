package proof

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenModes(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := "new"
		if existing {
			name = "existing"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "outbox.db")
			if existing {
				o, err := Open(path, "dev-1")
				if err != nil {
					t.Fatal(err)
				}
				o.Close()
				// As an older agent left it: world-readable.
				if err := os.Chmod(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
				}
			}
			o, err := Open(path, "dev-1")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s: mode %o, want %o", filepath.Base(p), got, want)
				}
			}
		})
	}
}
