package cache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, strings.Repeat("a", 64))
	if err := os.WriteFile(old, []byte("clip"), 0o644); err != nil {
		t.Fatal(err)
	}
	part := old[:len(old)-1] + "b" + partSuffix
	if err := os.WriteFile(part, []byte("cl"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir, nil); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, old: 0o600, part: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(p), got, want)
		}
	}
}
