package media

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fsnotify/fsnotify"

	"github.com/guardcast/guardcast/internal/atomicfile"
)

// IngestFunc takes one settled file from the drop folder. path is the file
// in the inbox; name is its base name. Returning nil means the file was
// taken and the inbox removes it; an error for which IsRejection is true
// moves it to rejected/; any other error (a full disk, a closed store) is
// logged and retried later.
type IngestFunc func(ctx context.Context, path, name string) error

// Inbox is a drop folder: staff copy clips into Dir (over SMB, scp, a USB
// stick) and each file is ingested once it has stopped growing.
type Inbox struct {
	Dir    string
	Settle time.Duration // unchanged size and mtime for this long means "done"; default 1 s
	Retry  time.Duration // wait before retrying a transient ingest failure; default 30 s
	Ingest IngestFunc
	Log    *slog.Logger // default slog.Default()
}

// RejectedDir is the subfolder of the inbox that receives refused files,
// each with a NAME.reason file beside it.
const RejectedDir = "rejected"

// WatchInbox runs an Inbox on dir until ctx is cancelled.
func WatchInbox(ctx context.Context, dir string, settle time.Duration, ingest IngestFunc, log *slog.Logger) error {
	in := &Inbox{Dir: dir, Settle: settle, Ingest: ingest, Log: log}
	return in.Run(ctx)
}

type pending struct {
	size    int64
	mtime   time.Time
	since   time.Time // when size/mtime were last seen to change
	retryAt time.Time // zero unless a transient failure is being waited out
}

// Run watches the inbox until ctx is cancelled; it returns nil then. It
// creates Dir and Dir/rejected if missing, and processes files already
// present at start. It refuses to run when Dir or Dir/rejected is a
// symbolic link. Only regular files with one link are handed to Ingest
// (see OpenRegular); anything else goes to rejected/ unread.
func (in *Inbox) Run(ctx context.Context) error {
	if in.Ingest == nil {
		return errors.New("media inbox: no ingest function")
	}
	settle := in.Settle
	if settle <= 0 {
		settle = time.Second
	}
	retry := in.Retry
	if retry <= 0 {
		retry = 30 * time.Second
	}
	log := in.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "media-inbox", "dir", in.Dir)
	if err := os.MkdirAll(filepath.Join(in.Dir, RejectedDir), 0o755); err != nil {
		return fmt.Errorf("media inbox: %w", err)
	}
	for _, d := range []string{in.Dir, filepath.Join(in.Dir, RejectedDir)} {
		if err := checkRealDir(d); err != nil {
			return fmt.Errorf("media inbox: %w", err)
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("media inbox: %w", err)
	}
	defer w.Close()
	if err := w.Add(in.Dir); err != nil {
		return fmt.Errorf("media inbox: watch %s: %w", in.Dir, err)
	}

	files := map[string]*pending{}
	observe := func(name string, now time.Time) {
		if ignoredName(name) {
			delete(files, name)
			return
		}
		fi, err := os.Lstat(filepath.Join(in.Dir, name))
		if err != nil || fi.IsDir() {
			delete(files, name)
			return
		}
		p := files[name]
		if p == nil {
			files[name] = &pending{size: fi.Size(), mtime: fi.ModTime(), since: now}
			return
		}
		if p.size != fi.Size() || !p.mtime.Equal(fi.ModTime()) {
			p.size, p.mtime, p.since = fi.Size(), fi.ModTime(), now
		}
	}
	rescan := func() {
		ents, err := os.ReadDir(in.Dir)
		if err != nil {
			log.Warn("read inbox", "err", err)
			return
		}
		now := time.Now()
		seen := map[string]bool{}
		for _, e := range ents {
			seen[e.Name()] = true
			observe(e.Name(), now)
		}
		for name := range files {
			if !seen[name] {
				delete(files, name)
			}
		}
	}
	rescan()

	poll := min(max(settle/4, 10*time.Millisecond), 250*time.Millisecond)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("media inbox: watcher closed")
			}
			if filepath.Dir(ev.Name) == filepath.Clean(in.Dir) {
				observe(filepath.Base(ev.Name), time.Now())
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("media inbox: watcher closed")
			}
			log.Warn("watch inbox", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				rescan()
			}
		case <-ticker.C:
			if len(files) == 0 {
				continue
			}
			now := time.Now()
			for name := range files {
				observe(name, now)
			}
			for name, p := range files {
				if ctx.Err() != nil {
					return nil
				}
				if now.Sub(p.since) < settle || now.Before(p.retryAt) {
					continue
				}
				done := in.process(ctx, log, name)
				if done {
					delete(files, name)
				} else {
					p.retryAt = time.Now().Add(retry)
				}
			}
		}
	}
}

// ignoredName reports names that are hidden or still being written by a
// tool that renames when done (rsync, browsers, our own temp files).
func ignoredName(name string) bool {
	if name == RejectedDir || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".part" || ext == ".tmp" || ext == ".crdownload" || ext == ".partial"
}

// process ingests one settled file. It reports whether the file is finished
// with (taken or rejected); false means try again later.
func (in *Inbox) process(ctx context.Context, log *slog.Logger, name string) bool {
	path := filepath.Join(in.Dir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return true // gone
	}
	// A symlink or a hard link could name anything on the controller
	// (/etc/shadow, content.key, an agent config); such a file is moved to
	// rejected/ without its contents ever being read. Ingest checks again
	// on the descriptor it reads (the library's Add does).
	var ingestErr error
	f, _, err := OpenRegular(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true // gone
	case err != nil:
		ingestErr = err
	default:
		f.Close()
		ingestErr = in.Ingest(ctx, path, name)
	}
	switch {
	case ingestErr == nil:
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("remove ingested file", "name", name, "err", err)
		}
		log.Info("ingested", "name", name, "size", fi.Size())
		return true
	case ctx.Err() != nil:
		return false
	case IsRejection(ingestErr):
		dst, err := in.reject(name, ingestErr)
		if err != nil {
			log.Error("reject file", "name", name, "reason", ingestErr, "err", err)
			return false
		}
		log.Warn("rejected", "name", name, "moved_to", dst, "reason", ingestErr)
		return true
	default:
		log.Warn("ingest failed, will retry", "name", name, "err", ingestErr)
		return false
	}
}

// reject moves the file to rejected/ under a name that does not exist yet
// (NAME, NAME-1.ext, NAME-2.ext …) and writes the reason next to it. It
// never overwrites an earlier rejection.
func (in *Inbox) reject(name string, reason error) (string, error) {
	src := filepath.Join(in.Dir, name)
	rdir := filepath.Join(in.Dir, RejectedDir)
	if err := checkRealDir(rdir); err != nil {
		return "", err
	}
	base := name
	if len(base) > 200 {
		base = truncUTF8(base, 200)
	}
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for i := 0; i < 1000; i++ {
		cand := base
		if i > 0 {
			cand = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		dst := filepath.Join(rdir, cand)
		if _, err := os.Lstat(dst + ".reason"); err == nil {
			continue
		}
		// Link fails if dst exists, so a concurrent rejection cannot be
		// overwritten; rename would silently replace it.
		if err := os.Link(src, dst); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return "", err
		}
		if err := os.Remove(src); err != nil {
			return "", err
		}
		// Written whole (temp file, rename): staff and tests that see a
		// .reason read all of it. dst is ours, so its .reason is too.
		return dst, atomicfile.Write(dst+".reason", []byte(reason.Error()+"\n"), 0o644)
	}
	return "", fmt.Errorf("too many rejected files named %q", name)
}

func truncUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
