package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.pem")
	k1, created, err := LoadOrCreate(p, "test key")
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreate(p, "test key")
	if err != nil || created || !k1.Equal(k2) {
		t.Fatalf("reload: created=%v err=%v same=%v", created, err, k1.Equal(k2))
	}
	os.Chmod(p, 0o644)
	if _, _, err := LoadOrCreate(p, "test key"); err == nil || !strings.Contains(err.Error(), "readable") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	os.WriteFile(p, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreate(p, "test key"); err == nil {
		t.Fatal("garbage accepted")
	}
	if b, _ := os.ReadFile(p); string(b) != "garbage" {
		t.Fatal("an unreadable key was replaced")
	}
}
