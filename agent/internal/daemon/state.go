package daemon

import (
	"crypto/ed25519"

	"github.com/guardcast/guardcast/internal/keyfile"
)

// loadOrCreateKey reads the device's Ed25519 key, creating it on first
// start; the controller pins its public key at the first hello.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	k, _, err := keyfile.LoadOrCreate(path, "device key")
	return k, err
}
