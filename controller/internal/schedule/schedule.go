// Package schedule compiles what each device should play from the
// database into a signed desired-state document, and owns the office's
// content-signing key.
//
// In protocol v1 a device's desired state is its assigned playlists, each
// looping on one output. A document is re-signed with a higher version when
// its content changes or when half its lifetime has passed, so a device
// that is online never holds a document near expiry.
package schedule

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// KeyFile is the content key's file name in the data directory.
const KeyFile = "content.key"

// LoadOrCreateKey reads DIR/content.key (PKCS#8 PEM, mode 0600), creating it
// on first use. A key file readable by group or others is refused: anyone
// who can read it can put a message on every bank screen.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := atomicfile.Write(path, pemBytes, 0o600); err != nil {
			return nil, fmt.Errorf("write content key: %w", err)
		}
		pub := priv.Public().(ed25519.PublicKey)
		if err := atomicfile.Write(filepath.Join(dir, "content.pub"), []byte(protocol.EncodeKey(pub)+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write content public key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read content key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("content key %s has mode %v: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("content key %s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("content key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("content key %s: not an Ed25519 key", path)
	}
	return priv, nil
}

// Options tune document lifetimes.
type Options struct {
	// Lifetime is how long a signed document is valid.
	Lifetime time.Duration `json:"lifetime" yaml:"lifetime"`
	// MediaURL is the base URL agents fetch media from (…/media/).
	MediaURL string `json:"media_url" yaml:"media_url"`
}

// DefaultLifetime covers a month offline.
const DefaultLifetime = 30 * 24 * time.Hour

// Compiler builds and signs desired states.
type Compiler struct {
	st   *store.Store
	key  ed25519.PrivateKey
	opts Options
	now  func() time.Time
}

// NewCompiler returns a compiler signing with key.
func NewCompiler(st *store.Store, key ed25519.PrivateKey, opts Options, now func() time.Time) *Compiler {
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if now == nil {
		now = time.Now
	}
	return &Compiler{st: st, key: key, opts: opts, now: now}
}

// PublicKey is the key agents must trust.
func (c *Compiler) PublicKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// Playlists compiles a device's assignments.
func (c *Compiler) Playlists(ctx context.Context, device string) ([]protocol.Playlist, error) {
	items, err := c.st.Assigned(ctx, device)
	if err != nil {
		return nil, err
	}
	playlists := []protocol.Playlist{}
	for _, a := range items {
		if n := len(playlists); n == 0 || playlists[n-1].Output != a.Output {
			playlists = append(playlists, protocol.Playlist{Name: a.Playlist, Output: a.Output})
		}
		p := &playlists[len(playlists)-1]
		p.Items = append(p.Items, protocol.Item{SHA256: a.SHA256, Size: a.Size, Kind: a.Kind, Title: a.Title, DurationMS: a.DurationMS})
	}
	return playlists, nil
}

// Refresh returns the device's current signed document, signing a new
// version when what it should play changed or the stored one is past half
// its lifetime. changed reports whether a new version was made.
func (c *Compiler) Refresh(ctx context.Context, device string) (doc []byte, version uint64, changed bool, err error) {
	d, err := c.st.Device(ctx, device)
	if err != nil {
		return nil, 0, false, err
	}
	playlists, err := c.Playlists(ctx, device)
	if err != nil {
		return nil, 0, false, err
	}
	content, _ := json.Marshal(struct {
		MediaURL  string              `json:"media_url"`
		Playlists []protocol.Playlist `json:"playlists"`
	}{c.opts.MediaURL, playlists})
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	now := c.now()
	renewAt := d.DesiredIssued + (d.DesiredExpires-d.DesiredIssued)/2
	if d.DesiredDoc != nil && hash == d.DesiredHash && now.Unix() < renewAt {
		return d.DesiredDoc, d.DesiredVersion, false, nil
	}
	ds := &protocol.DesiredState{
		V: protocol.Version, Device: device, Version: d.DesiredVersion + 1,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(c.opts.Lifetime).Unix(),
		MediaURL: c.opts.MediaURL, Playlists: playlists,
	}
	raw, err := protocol.SignDesired(c.key, ds)
	if err != nil {
		return nil, 0, false, fmt.Errorf("sign desired state of %s: %w", device, err)
	}
	if err := c.st.SetDesired(ctx, device, ds.Version, hash, raw, ds.IssuedAt, ds.ExpiresAt); err != nil {
		return nil, 0, false, err
	}
	return raw, ds.Version, true, nil
}
