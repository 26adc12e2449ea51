// Package media is the controller's content-addressed media library.
//
// Every clip the office adds — an LED sign message, an ATM voice prompt, a
// hall-TV video, a keycard print template — is validated deeply before it is
// accepted, because a truncated or corrupt file only shows itself later, on a
// bank screen, in front of a customer. Accepted content is stored once under
// its SHA-256 (dir/ab/abcdef…), written atomically (temp file, fsync, rename,
// fsync of the directory) and served to agents over HTTP with Range support
// and immutable caching, since a sha256 name never changes meaning.
//
// The package keeps no metadata of its own: Add returns an Info and the
// caller (the store) records it. It never uses database/sql.
package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/owneronly"
)

// Kind is the broad kind of a media item; it decides which outputs can play it.
type Kind string

// Kinds of media the library accepts.
const (
	KindText  Kind = "text"  // UTF-8 message for LED signs (.txt)
	KindAudio Kind = "audio" // .wav, .mp3, .ogg
	KindImage Kind = "image" // .png, .jpg/.jpeg, .gif
	KindVideo Kind = "video" // .mp4/.m4v, .webm/.mkv
	KindPrint Kind = "print" // text/template print template (.tpl)
)

// MaxSize is the largest file the library accepts.
const MaxSize = 200 << 20

// MaxTextSize is the largest LED-sign text message, in bytes.
const MaxTextSize = 4096

// MaxTemplateSize is the largest print template, in bytes.
const MaxTemplateSize = 64 << 10

// MaxNameLen is the longest original name accepted, in bytes.
const MaxNameLen = 200

// Errors callers can test for with errors.Is. Validation errors carry a
// precise message; these sentinels only classify them.
var (
	// ErrInvalidName: the name is not a plain, safe base name.
	ErrInvalidName = errors.New("invalid media name")
	// ErrUnsupported: the extension is not one the library knows.
	ErrUnsupported = errors.New("unsupported media type")
	// ErrInvalid: the content is empty, corrupt, truncated or does not match its extension.
	ErrInvalid = errors.New("invalid media content")
	// ErrTooLarge: the content exceeds a size limit.
	ErrTooLarge = errors.New("media too large")
	// ErrNotFound: no content with that sha256 is stored.
	ErrNotFound = errors.New("media not found")
	// ErrBadSHA: the string is not 64 lower-case hex digits.
	ErrBadSHA = errors.New("bad sha256")
)

// IsRejection reports whether err means the content itself (or its name) is
// unacceptable, as opposed to a transient failure such as a full disk. The
// drop-folder Inbox rejects files on such errors and retries on others.
func IsRejection(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrInvalidName) ||
		errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotRegular)
}

// classified is an error with its own message that still matches a sentinel.
type classified struct {
	msg  string
	kind error
	also error // a second sentinel it matches, or nil
}

func (e *classified) Error() string { return e.msg }
func (e *classified) Is(target error) bool {
	return target == e.kind || e.also != nil && target == e.also
}

func invalidf(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: ErrInvalid}
}

func badNamef(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: ErrInvalidName}
}

func tooLargef(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: ErrTooLarge}
}

// Info describes one stored media item. The store records it; the library
// itself keeps only the bytes.
type Info struct {
	SHA256     string // 64 lower-case hex digits
	Size       int64  // bytes
	Kind       Kind
	MIME       string
	Name       string // original base name, as given to Add
	DurationMS int64  // audio/video duration when cheaply known (WAV, MP3, Ogg, MP4), else 0
}

// Library stores media files under dir by sha256.
type Library struct {
	dir string
}

// Open opens (creating if needed) the library rooted at dir. Temp files left
// behind by a crash more than an hour ago are removed. The library is
// private to the controller's user: directories 0700, files 0600 (the
// controller serves them itself, so no group needs to read them); a library
// made with looser modes is tightened here.
func Open(dir string) (*Library, error) {
	if dir == "" {
		return nil, errors.New("media: open library: empty directory")
	}
	if err := owneronly.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("media: open library: %w", err)
	}
	if err := owneronly.TightenTree(dir); err != nil {
		return nil, fmt.Errorf("media: open library: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("media: open library: %w", err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Library{dir: dir}, nil
}

// Dir returns the library's root directory.
func (l *Library) Dir() string { return l.dir }

const tempPrefix = ".tmp-"

// CheckSHA reports whether s is a well-formed sha256: 64 lower-case hex digits.
func CheckSHA(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("%w: %q is not 64 hex digits", ErrBadSHA, trunc(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %q is not lower-case hex", ErrBadSHA, trunc(s))
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Path returns where content with the given sha256 is (or would be) stored.
func (l *Library) Path(sha string) (string, error) {
	if err := CheckSHA(sha); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, sha[:2], sha), nil
}

// Open opens stored content for reading.
func (l *Library) Open(sha string) (*os.File, error) {
	p, err := l.Path(sha)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	return f, err
}

// Stat returns file information for stored content.
func (l *Library) Stat(sha string) (fs.FileInfo, error) {
	p, err := l.Path(sha)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	return fi, err
}

// Add validates the file at srcPath and stores it under its sha256. name is
// the original base name; its extension decides the expected format. Adding
// content that is already stored is not an error and returns the same Info
// (with this call's name). On any error nothing is left in the library.
func (l *Library) Add(ctx context.Context, srcPath, name string) (Info, error) {
	info, err := l.add(ctx, srcPath, name)
	if err != nil {
		return Info{}, fmt.Errorf("media add %q: %w", name, err)
	}
	return info, nil
}

func (l *Library) add(ctx context.Context, srcPath, name string) (Info, error) {
	if _, _, err := checkName(name); err != nil {
		return Info{}, err
	}
	f, fi, err := OpenRegular(srcPath)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	if fi.Size() > MaxSize {
		return Info{}, tooLargef("file is %d bytes, limit is %d", fi.Size(), MaxSize)
	}
	return l.addReader(ctx, f, name, fi.Size())
}

// AddReader is Add for content that is not in a file (an HTTP upload).
func (l *Library) AddReader(ctx context.Context, r io.Reader, name string) (Info, error) {
	info, err := l.addReader(ctx, r, name, -1)
	if err != nil {
		return Info{}, fmt.Errorf("media add %q: %w", name, err)
	}
	return info, nil
}

// addReader copies r into a temp file while hashing, validates, and renames
// into place. expect is the size the source claimed (-1 if unknown): a
// source that yields fewer or more bytes changed while we read it.
func (l *Library) addReader(ctx context.Context, r io.Reader, name string, expect int64) (info Info, err error) {
	if _, _, err := checkName(name); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp(l.dir, tempPrefix+"*")
	if err != nil {
		return Info{}, fmt.Errorf("create temp file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if tmpName != "" {
			os.Remove(tmpName)
		}
	}()

	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(&ctxReader{ctx: ctx, r: r}, MaxSize+1))
	if err != nil {
		return Info{}, fmt.Errorf("copy into library: %w", err)
	}
	if n > MaxSize {
		return Info{}, tooLargef("content exceeds the %d-byte limit", MaxSize)
	}
	if expect >= 0 && n != expect {
		return Info{}, fmt.Errorf("short read: copied %d of %d bytes (file changed while reading)", n, expect)
	}
	info, err = Validate(tmp, n, name)
	if err != nil {
		return Info{}, err
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))

	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("fsync temp file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("close temp file: %w", err)
	}
	tmp = nil

	final, _ := l.Path(info.SHA256)
	if fi, err := os.Stat(final); err == nil && fi.Size() == n {
		return info, nil // already stored: idempotent
	}
	sub := filepath.Dir(final)
	if _, err := os.Stat(sub); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(sub, owneronly.DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return Info{}, fmt.Errorf("create %s: %w", sub, err)
		}
		if err := syncDir(l.dir); err != nil {
			return Info{}, err
		}
	}
	if err := os.Chmod(tmpName, owneronly.FileMode); err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmpName, final); err != nil {
		return Info{}, fmt.Errorf("rename into place: %w", err)
	}
	tmpName = ""
	if err := syncDir(sub); err != nil {
		return Info{}, err
	}
	return info, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
