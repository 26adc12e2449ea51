package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type inboxHarness struct {
	t      *testing.T
	dir    string
	lib    *Library
	mu     sync.Mutex
	got    map[string]Info // name → what was ingested
	failN  int             // fail this many calls with a transient error
	cancel context.CancelFunc
	done   chan error
}

func startInbox(t *testing.T, prepare func(dir string)) *inboxHarness {
	t.Helper()
	return startInboxSettle(t, prepare, 60*time.Millisecond)
}

func startInboxSettle(t *testing.T, prepare func(dir string), settle time.Duration) *inboxHarness {
	t.Helper()
	h := &inboxHarness{t: t, dir: filepath.Join(t.TempDir(), "inbox"), lib: newLib(t), got: map[string]Info{}, done: make(chan error, 1)}
	if prepare != nil {
		os.MkdirAll(h.dir, 0o755)
		prepare(h.dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	ingest := func(ctx context.Context, path, name string) error {
		h.mu.Lock()
		if h.failN > 0 {
			h.failN--
			h.mu.Unlock()
			return errors.New("store unavailable")
		}
		h.mu.Unlock()
		info, err := h.lib.Add(ctx, path, name)
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.got[name] = info
		h.mu.Unlock()
		return nil
	}
	in := &Inbox{Dir: h.dir, Settle: settle, Retry: 100 * time.Millisecond, Ingest: ingest,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() { h.done <- in.Run(ctx) }()
	t.Cleanup(h.stop)
	// Run creates the directories; wait for them so tests can write.
	h.waitFor("inbox ready", func() bool {
		_, err := os.Stat(filepath.Join(h.dir, RejectedDir))
		return err == nil
	})
	return h
}

func (h *inboxHarness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

func (h *inboxHarness) ingested(name string) (Info, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, ok := h.got[name]
	return i, ok
}

func (h *inboxHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestInboxIngestsGoodFiles(t *testing.T) {
	wav := makeWAV(1, 8000, 8, 8000)
	h := startInbox(t, func(dir string) {
		writeFile(t, dir, "at-start.wav", wav) // present before Run
	})
	writeFile(t, h.dir, "dropped.txt", []byte("不听、不信、不转账"))
	for _, name := range []string{"at-start.wav", "dropped.txt"} {
		h.waitFor(name+" ingested and removed", func() bool {
			_, ok := h.ingested(name)
			return ok && !exists(filepath.Join(h.dir, name))
		})
	}
	if i, _ := h.ingested("at-start.wav"); i.Kind != KindAudio || i.Size != int64(len(wav)) {
		t.Errorf("ingested %+v", i)
	}
}

func TestInboxRejects(t *testing.T) {
	h := startInbox(t, func(dir string) {
		os.MkdirAll(filepath.Join(dir, RejectedDir), 0o755)
		// An earlier rejection of the same name must survive.
		writeFile(t, filepath.Join(dir, RejectedDir), "bad.wav", []byte("old"))
		writeFile(t, filepath.Join(dir, RejectedDir), "bad.wav.reason", []byte("old reason"))
	})
	wav := makeWAV(1, 44100, 16, 88200)
	writeFile(t, h.dir, "bad.wav", wav[:1044])
	rej := filepath.Join(h.dir, RejectedDir)
	h.waitFor("bad.wav rejected", func() bool {
		return !exists(filepath.Join(h.dir, "bad.wav")) && exists(filepath.Join(rej, "bad-1.wav.reason"))
	})
	reason, _ := os.ReadFile(filepath.Join(rej, "bad-1.wav.reason"))
	if want := "truncated WAV: data chunk declares 88200 bytes, file has 1000"; !strings.Contains(string(reason), want) {
		t.Errorf("reason = %q, want it to contain %q", reason, want)
	}
	if b, _ := os.ReadFile(filepath.Join(rej, "bad-1.wav")); len(b) != 1044 {
		t.Errorf("rejected copy is %d bytes, want 1044", len(b))
	}
	if b, _ := os.ReadFile(filepath.Join(rej, "bad.wav")); string(b) != "old" {
		t.Errorf("earlier rejection overwritten: %q", b)
	}
	if _, ok := h.ingested("bad.wav"); ok {
		t.Error("bad.wav was ingested")
	}
}

func TestInboxIgnoresPartialAndDirs(t *testing.T) {
	h := startInbox(t, nil)
	os.Mkdir(filepath.Join(h.dir, "sub"), 0o755)
	writeFile(t, h.dir, "sub/inner.txt", []byte("inside a subdirectory"))
	writeFile(t, h.dir, ".hidden.txt", []byte("hidden"))
	writeFile(t, h.dir, "clip.txt.part", []byte("still uploading"))
	// Give the inbox several settle periods to (wrongly) take them.
	time.Sleep(300 * time.Millisecond)
	for _, p := range []string{"sub/inner.txt", ".hidden.txt", "clip.txt.part"} {
		if !exists(filepath.Join(h.dir, p)) {
			t.Errorf("%s was touched", p)
		}
	}
	h.mu.Lock()
	if len(h.got) != 0 {
		t.Errorf("ingested %v", h.got)
	}
	h.mu.Unlock()
	// Renaming to the final name makes it eligible.
	os.Rename(filepath.Join(h.dir, "clip.txt.part"), filepath.Join(h.dir, "clip.txt"))
	h.waitFor("clip.txt ingested", func() bool { _, ok := h.ingested("clip.txt"); return ok })
}

func TestInboxWaitsForGrowth(t *testing.T) {
	// The settle time is long against the writer's pauses, so a loaded
	// machine descheduling the writer for a while cannot make a pause look
	// like the end of the file.
	h := startInboxSettle(t, nil, 3*time.Second)
	wav := makeWAV(1, 8000, 8, 16000)
	f, err := os.Create(filepath.Join(h.dir, "slow.wav"))
	if err != nil {
		t.Fatal(err)
	}
	// Write in pieces, each gap shorter than the settle time: a file that
	// is still growing must not be taken (it would be rejected as truncated).
	for off := 0; off < len(wav); off += 2000 {
		f.Write(wav[off:min(off+2000, len(wav))])
		time.Sleep(20 * time.Millisecond)
	}
	f.Close()
	h.waitFor("slow.wav ingested", func() bool { _, ok := h.ingested("slow.wav"); return ok })
	if i, _ := h.ingested("slow.wav"); i.Size != int64(len(wav)) {
		t.Errorf("ingested %d bytes, want %d", i.Size, len(wav))
	}
	if exists(filepath.Join(h.dir, RejectedDir, "slow.wav")) {
		t.Error("slow.wav was rejected")
	}
}

func TestInboxRetriesTransientErrors(t *testing.T) {
	h := startInbox(t, nil)
	h.mu.Lock()
	h.failN = 2
	h.mu.Unlock()
	writeFile(t, h.dir, "later.txt", []byte("Anti-fraud hotline 96110"))
	h.waitFor("later.txt ingested after retries", func() bool { _, ok := h.ingested("later.txt"); return ok })
	if exists(filepath.Join(h.dir, RejectedDir, "later.txt")) {
		t.Error("transient failure caused a rejection")
	}
}

func TestInboxRejectsSymlink(t *testing.T) {
	h := startInbox(t, nil)
	secret := writeFile(t, t.TempDir(), "secret.txt", []byte("do not serve me"))
	if err := os.Symlink(secret, filepath.Join(h.dir, "link.txt")); err != nil {
		t.Skip(err)
	}
	h.waitFor("symlink rejected", func() bool {
		return exists(filepath.Join(h.dir, RejectedDir, "link.txt.reason"))
	})
	if len(libFiles(t, h.lib)) != 0 {
		t.Error("symlink target reached the library")
	}
}

func TestWatchInboxStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := WatchInbox(ctx, filepath.Join(t.TempDir(), "new", "inbox"), 0,
		func(context.Context, string, string) error { return nil }, nil)
	if err != nil {
		t.Fatalf("WatchInbox = %v, want nil", err)
	}
}
