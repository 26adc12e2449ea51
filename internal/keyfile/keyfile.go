// Package keyfile keeps an Ed25519 private key in a PKCS#8 PEM file: the
// office's content-signing key on the controller, each device's own key on
// its agent. A missing file is created (mode 0600, atomically); an
// unreadable one is an error, never silently replaced — the other side has
// pinned or trusts the old public key; a file group or others can read is
// refused, since whoever reads it can sign as its owner.
package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/guardcast/guardcast/internal/atomicfile"
)

// LoadOrCreate reads the key at path, creating it if there is none;
// created reports a new key. what names the key in errors ("content key").
func LoadOrCreate(path, what string) (priv ed25519.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, false, err
		}
		if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, fmt.Errorf("write %s %s: %w", what, path, err)
		}
		return priv, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", what, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("%s %s has mode %v: it must not be readable by group or others (chmod 600)", what, path, fi.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("%s %s: not a PEM PRIVATE KEY", what, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %w", what, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, false, fmt.Errorf("%s %s: not an Ed25519 key", what, path)
	}
	return priv, false, nil
}
