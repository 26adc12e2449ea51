package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadCommandsNeedAStore: a --data typo is an error that creates
// nothing, not an empty database and a success.
func TestReadCommandsNeedAStore(t *testing.T) {
	for _, args := range [][]string{
		{"proofs", "verify"},
		{"proofs", "verify", "--device", "bank-1"},
		{"proofs", "export"},
		{"proofs", "export", "--format", "jsonl"},
		{"findings"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			missing := filepath.Join(t.TempDir(), "typo")
			code, out, errs := run(t, missing, args...)
			if code == 0 || !strings.Contains(errs, "no guardcast.db") || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want non-zero naming the missing guardcast.db", code, out, errs)
			}
			if _, err := os.Lstat(missing); !os.IsNotExist(err) {
				t.Errorf("%s was created (%v)", missing, err)
			}
			empty := t.TempDir()
			if code, _, _ := run(t, empty, args...); code == 0 {
				t.Errorf("exit 0 on an empty directory")
			}
			if ents, _ := os.ReadDir(empty); len(ents) != 0 {
				t.Errorf("created %v in an empty --data", ents)
			}
		})
	}
}

func TestVerifyIsHonest(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"bank-1", "bank-2"} {
		if code, _, errs := run(t, dir, "device", "add", "--id", id, "--profile", "virtual-led"); code != 0 {
			t.Fatalf("device add %s: %s", id, errs)
		}
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		outHas   string
		errHas   string
		outLacks string
	}{
		{"unknown device", []string{"proofs", "verify", "--device", "nosuch"}, 1, "", `unknown device "nosuch"`, ""},
		{"no records, only device", []string{"proofs", "verify", "--device", "bank-1"}, 1, "no records", "nothing verified", "yes"},
		{"no records, all devices", []string{"proofs", "verify"}, 0, "no records", "2 device(s) have no records", "yes"},
		{"export unknown device", []string{"proofs", "export", "--device", "nosuch"}, 1, "", `unknown device "nosuch"`, "device,seq"},
		{"export known device", []string{"proofs", "export", "--device", "bank-1"}, 0, "device,seq", "", ""},
		{"findings unknown device", []string{"findings", "--device", "nosuch"}, 1, "", `unknown device "nosuch"`, ""},
		{"findings", []string{"findings", "--device", "bank-2"}, 0, "DETAIL", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, dir, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.outHas) || !strings.Contains(errs, tt.errHas) ||
				tt.outLacks != "" && strings.Contains(out, tt.outLacks) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		outHas []string
		errHas string
	}{
		{"--help", []string{"--help"}, 0, []string{"Usage:", "proofs verify [--device ID]", "media add FILE"}, ""},
		{"-h", []string{"-h"}, 0, []string{"Usage:", "serve"}, ""},
		{"help", []string{"help"}, 0, []string{"Usage:", "alert push"}, ""},
		{"help command", []string{"help", "proofs", "export"}, 0, []string{"proofs export [--format csv|jsonl]", "-since"}, ""},
		{"command --help", []string{"proofs", "verify", "--help"}, 0, []string{"proofs verify [--device ID]", "-device", "-data"}, ""},
		{"command -h", []string{"media", "add", "-h"}, 0, []string{"media add FILE", "-title"}, ""},
		{"continuation lines", []string{"campaign", "create", "--help"}, 0, []string{"campaign create NAME", "[--daypart", "-min-every"}, ""},
		{"help among positionals", []string{"alert", "status", "--help", "A1"}, 0, []string{"alert status ID"}, ""},
		{"group", []string{"proofs", "--help"}, 0, []string{"proofs export", "proofs verify"}, ""},
		{"bad flag", []string{"proofs", "verify", "--frobnicate"}, 2, nil, "-device"},
		{"unknown command", []string{"frobnicate", "--help"}, 2, nil, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, dir, tt.args...)
			ok := code == tt.code && strings.Contains(errs, tt.errHas)
			for _, s := range tt.outHas {
				ok = ok && strings.Contains(out, s)
			}
			if !ok {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
	// Help is not an action: nothing was created in --data.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("help created %v", ents)
	}
}

// TestMediaAddRefusesLinks: `media add` stores neither a symlink's target
// (/etc/passwd) nor a hard link's (the office's content key).
func TestMediaAddRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	src := t.TempDir()
	key := filepath.Join(t.TempDir(), "content.key")
	if err := os.WriteFile(key, []byte("PRIVATE KEY: do not serve me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(key, filepath.Join(src, "key.txt")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"link.txt", "key.txt"} {
		code, out, errs := run(t, dir, "media", "add", filepath.Join(src, name))
		if code != 1 || !strings.Contains(errs, "not a regular file with one link") {
			t.Errorf("media add %s: exit %d\nstdout: %s\nstderr: %s", name, code, out, errs)
		}
	}
	if _, out, _ := run(t, dir, "media", "list"); strings.Contains(out, ".txt") {
		t.Errorf("media list after refusals:\n%s", out)
	}
}
