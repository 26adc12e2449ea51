package printertest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with testdata/name, or rewrites that file when
// update is set (the calling package's -update flag, which stays there so
// that importing this package adds no flag to a test binary). show prints
// got and the file's bytes when they differ: hex.Dump for binary
// protocols, a quoting function for text ones.
func Golden(t testing.TB, name string, got []byte, update bool, show func([]byte) string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file\ngot:\n%s\nwant:\n%s", name, show(got), show(want))
	}
}
