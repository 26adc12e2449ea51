package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeKey writes a stand-in for the controller's content.key, outside any
// inbox, and returns its path.
func fakeKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "content.key")
	if err := os.WriteFile(p, []byte("PRIVATE KEY: do not serve me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	key := fakeKey(t)
	plain := writeFile(t, dir, "plain.txt", []byte("Anti-fraud hotline 96110"))
	mustLink := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustLink(os.Symlink(key, filepath.Join(dir, "sym.txt")))
	mustLink(os.Link(key, filepath.Join(dir, "hard.txt")))
	mustLink(os.Mkdir(filepath.Join(dir, "sub.txt"), 0o755))
	mustLink(syscall.Mkfifo(filepath.Join(dir, "fifo.txt"), 0o644))

	f, fi, err := OpenRegular(plain)
	if err != nil {
		t.Fatalf("OpenRegular(plain) = %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "Anti-fraud hotline 96110" || fi.Size() != int64(len(b)) {
		t.Errorf("read %q (size %d)", b, fi.Size())
	}

	for _, tt := range []struct{ name, detail string }{
		{"sym.txt", "symbolic link"},
		{"hard.txt", "hard link: 2 names"},
		{"sub.txt", "directory"},
		{"fifo.txt", "FIFO"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, _, err := OpenRegular(filepath.Join(dir, tt.name))
			if err == nil {
				f.Close()
				t.Fatal("OpenRegular succeeded")
			}
			if !errors.Is(err, ErrNotRegular) || !IsRejection(err) {
				t.Errorf("err = %v, want ErrNotRegular and a rejection", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "not a regular file with one link") || !strings.Contains(msg, tt.detail) {
				t.Errorf("err = %q, want the rule and %q", msg, tt.detail)
			}
		})
	}
}

// TestCheckRegularOnDescriptor: the verdict is taken from the opened file,
// so a file that gains a second name after the path check is still refused.
func TestCheckRegularOnDescriptor(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.txt", []byte("x"))
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Link(p, filepath.Join(dir, "b.txt")); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRegular(fi); !errors.Is(err, ErrNotRegular) {
		t.Errorf("checkRegular(fstat after link) = %v, want ErrNotRegular", err)
	}
}

func TestAddRefusesLinks(t *testing.T) {
	lib := newLib(t)
	key := fakeKey(t)
	dir := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(key, filepath.Join(dir, "key.txt")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"link.txt", "key.txt"} {
		_, err := lib.Add(context.Background(), filepath.Join(dir, name), name)
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("Add(%s) = %v, want ErrNotRegular", name, err)
		}
	}
	if got := libFiles(t, lib); len(got) != 0 {
		t.Errorf("library holds %v, want nothing", got)
	}
}

func TestInboxRejectsHardLinkUnread(t *testing.T) {
	key := fakeKey(t)
	h := startInbox(t, nil)
	if err := os.Link(key, filepath.Join(h.dir, "agent.txt")); err != nil {
		t.Fatal(err)
	}
	rej := filepath.Join(h.dir, RejectedDir)
	h.waitFor("hard link rejected", func() bool { return exists(filepath.Join(rej, "agent.txt.reason")) })
	reason, err := os.ReadFile(filepath.Join(rej, "agent.txt.reason"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reason), "not a regular file with one link") {
		t.Errorf("reason = %q", reason)
	}
	if _, ok := h.ingested("agent.txt"); ok {
		t.Error("hard link was ingested")
	}
	if got := libFiles(t, h.lib); len(got) != 0 {
		t.Errorf("library holds %v, want nothing", got)
	}
	if b, err := os.ReadFile(key); err != nil || !strings.HasPrefix(string(b), "PRIVATE KEY") {
		t.Errorf("content.key damaged: %q, %v", b, err)
	}
	if exists(filepath.Join(h.dir, "agent.txt")) {
		t.Error("hard link left in the inbox")
	}
}

func TestInboxRefusesSymlinkedDirs(t *testing.T) {
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, inbox string)
	}{
		{"inbox", func(t *testing.T, inbox string) {
			if err := os.Symlink(t.TempDir(), inbox); err != nil {
				t.Fatal(err)
			}
		}},
		{"rejected", func(t *testing.T, inbox string) {
			if err := os.Mkdir(inbox, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(t.TempDir(), filepath.Join(inbox, RejectedDir)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inbox := filepath.Join(t.TempDir(), "inbox")
			tt.prepare(t, inbox)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			in := &Inbox{Dir: inbox, Ingest: func(context.Context, string, string) error {
				t.Error("Ingest called")
				return nil
			}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			err := in.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("Run = %v, want a refusal naming the symbolic link", err)
			}
		})
	}
}

func TestLibraryModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lib")
	// An install from before the rule: world-readable dirs and files.
	old := filepath.Join(dir, "ab", "ab"+strings.Repeat("0", 62))
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lib, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, t.TempDir(), "new.txt", []byte("Do not transfer money to a 'safe account'"))
	info, err := lib.Add(context.Background(), src, "new.txt")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := lib.Path(info.SHA256)
	want := map[string]os.FileMode{dir: 0o700, filepath.Dir(old): 0o700, old: 0o600, filepath.Dir(p): 0o700, p: 0o600}
	for path, m := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != m {
			t.Errorf("%s: mode %o, want %o", path, got, m)
		}
	}
}
