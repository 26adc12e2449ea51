// Package cache keeps the agent's media, addressed by SHA-256, so that it
// can play for as long as it is offline. A file only gets its final name
// after its size and hash have been checked and it has been fsynced; an
// interrupted download stays as <sha>.part and is resumed with a Range
// request.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/guardcast/guardcast/internal/owneronly"
	"github.com/guardcast/guardcast/internal/protocol"
)

// ErrBadSHA256 is returned for anything that is not a lower-case hex
// SHA-256: it is what keeps path tricks out of the cache directory.
var ErrBadSHA256 = errors.New("not a sha256")

// ErrMismatch means downloaded bytes did not match the item's size or hash.
var ErrMismatch = errors.New("media does not match its sha256/size")

const partSuffix = ".part"

// Cache is a directory of media files named by their SHA-256.
type Cache struct {
	dir    string
	client *http.Client

	mu    sync.Mutex
	locks map[string]*sync.Mutex // one per sha being fetched
}

// New opens (creating if needed) a cache in dir. A nil client means
// http.DefaultClient; the agent passes NewClient's.
func New(dir string, client *http.Client) (*Cache, error) {
	// Owner-only (0700, files 0600), tightened on every start.
	if err := owneronly.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("media cache: %w", err)
	}
	if err := owneronly.TightenTree(dir); err != nil {
		return nil, fmt.Errorf("media cache: %w", err)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Cache{dir: dir, client: client, locks: map[string]*sync.Mutex{}}, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Path is where the media sha is (or will be) stored; "" for a bad sha.
func (c *Cache) Path(sha string) string {
	if !protocol.ValidSHA256(sha) {
		return ""
	}
	return filepath.Join(c.dir, sha)
}

// Has reports whether a verified copy of sha is in the cache.
func (c *Cache) Has(sha string) bool {
	p := c.Path(sha)
	if p == "" {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func (c *Cache) lock(sha string) func() {
	c.mu.Lock()
	l, ok := c.locks[sha]
	if !ok {
		l = &sync.Mutex{}
		c.locks[sha] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Fetch downloads item from baseURL+sha256 unless it is already cached,
// resuming a previous partial download, and stores it only once its size
// and hash check out.
func (c *Cache) Fetch(ctx context.Context, baseURL string, item protocol.Item) error {
	sha := item.SHA256
	if !protocol.ValidSHA256(sha) {
		return fmt.Errorf("fetch %q: %w", sha, ErrBadSHA256)
	}
	if item.Size <= 0 {
		return fmt.Errorf("fetch %s: size %d", sha, item.Size)
	}
	unlock := c.lock(sha)
	defer unlock()
	if c.Has(sha) {
		return nil
	}
	if err := c.fetch(ctx, baseURL, item); err != nil {
		return fmt.Errorf("fetch %s: %w", sha, err)
	}
	return nil
}

func (c *Cache) fetch(ctx context.Context, baseURL string, item protocol.Item) error {
	final := c.Path(item.SHA256)
	part := final + partSuffix
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, owneronly.FileMode)
	if err != nil {
		return err
	}
	defer f.Close()

	h := sha256.New()
	have, err := io.Copy(h, f) // hash what an earlier attempt left
	if err != nil {
		return err
	}
	if have > item.Size {
		if err := restart(f, h); err != nil {
			return err
		}
		have = 0
	}
	if have < item.Size {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+item.SHA256, nil)
		if err != nil {
			return err
		}
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return explainTLS(err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusPartialContent && have > 0 && contentRangeStart(resp.Header.Get("Content-Range")) == have:
		case resp.StatusCode == http.StatusOK:
			// The server ignored the range (or we asked for none): start over.
			if err := restart(f, h); err != nil {
				return err
			}
			have = 0
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			// Our part is bad somehow; drop it so the next attempt starts clean.
			os.Remove(part)
			return fmt.Errorf("server refused range from %d", have)
		default:
			return fmt.Errorf("GET %s: %s", req.URL.Redacted(), resp.Status)
		}
		// Read at most one byte more than needed, to notice an oversized body.
		n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, item.Size-have+1))
		have += n
		if err != nil {
			// Keep what arrived: the next attempt resumes from here.
			f.Sync()
			return fmt.Errorf("download interrupted at %d of %d bytes: %w", have, item.Size, err)
		}
		if have < item.Size {
			f.Sync()
			return fmt.Errorf("download ended at %d of %d bytes", have, item.Size)
		}
	}
	if have != item.Size {
		os.Remove(part)
		return fmt.Errorf("%w: got more than %d bytes", ErrMismatch, item.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != item.SHA256 {
		os.Remove(part)
		return fmt.Errorf("%w: got sha256 %s", ErrMismatch, got)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, final); err != nil {
		return err
	}
	return syncDir(c.dir)
}

func restart(f *os.File, h interface{ Reset() }) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h.Reset()
	return nil
}

// contentRangeStart parses "bytes N-M/T" and returns N, or -1.
func contentRangeStart(s string) int64 {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return -1
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Evict removes every cached file and partial download whose sha is not in
// keep. Files that are not named by a sha are left alone.
func (c *Cache) Evict(keep map[string]bool) (removed int, err error) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return 0, fmt.Errorf("evict: %w", err)
	}
	var errs []error
	for _, e := range ents {
		sha := strings.TrimSuffix(e.Name(), partSuffix)
		if !protocol.ValidSHA256(sha) || keep[sha] {
			continue
		}
		unlock := c.lock(sha)
		if err := os.Remove(filepath.Join(c.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		} else if err == nil {
			removed++
		}
		unlock()
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("evict: %w", errors.Join(errs...))
	}
	return removed, nil
}

// State counts complete cached items and their bytes, and how many of want
// are missing.
func (c *Cache) State(want []string) protocol.CacheState {
	var s protocol.CacheState
	ents, _ := os.ReadDir(c.dir)
	for _, e := range ents {
		if !protocol.ValidSHA256(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			s.Items++
			s.Bytes += fi.Size()
		}
	}
	seen := map[string]bool{}
	for _, sha := range want {
		if !seen[sha] && !c.Has(sha) {
			s.Missing++
		}
		seen[sha] = true
	}
	return s
}
