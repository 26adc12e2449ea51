// Package schedule compiles what each device should play from the
// database into a signed desired-state document, and owns the office's
// content-signing key.
//
// A device's document carries its legacy assigned playlists (each looping
// on one output), the org nodes it sits under, its compiled Schedule —
// every campaign aimed at it by node, tag or ID, plus the assigned
// playlists as always-on priority-0 entries, in its site's time zone — and
// the urgent alerts addressed to it. The agent evaluates the schedule
// itself (package internal/plan), offline for as long as the document
// lasts.
//
// A document is re-signed with a higher version when its content changes
// or when half its lifetime has passed, so a device that is online never
// holds a document near expiry. Content is compared by hash, so unchanged
// devices are not re-signed.
package schedule

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/keyfile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// KeyFile is the content key's file name in the data directory.
const KeyFile = "content.key"

// LoadOrCreateKey reads DIR/content.key (PKCS#8 PEM, mode 0600), creating it
// on first use. A key file readable by group or others is refused: anyone
// who can read it can put a message on every bank screen.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	priv, created, err := keyfile.LoadOrCreate(filepath.Join(dir, KeyFile), "content key")
	if err != nil || !created {
		return priv, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	if err := atomicfile.Write(filepath.Join(dir, "content.pub"), []byte(protocol.EncodeKey(pub)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write content public key: %w", err)
	}
	return priv, nil
}
