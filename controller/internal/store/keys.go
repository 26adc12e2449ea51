package store

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// DeviceKey is one epoch of a device's key history: the key that signed
// the device's records of that epoch, and when it was in use.
type DeviceKey struct {
	Device     string
	Epoch      uint64
	PubKey     []byte
	EnrolledAt int64  // unix s
	RetiredAt  int64  // unix s, 0 while in use
	Why        string // why the epoch began
	RetiredWhy string // why it ended ("" while in use)
	// Link is the controller's statement opening this epoch; nil for a
	// device's first epoch.
	Link *EpochStatement
}

// EpochDomain is the domain-separation prefix of an epoch statement.
const EpochDomain = "guardcast/epoch/v1\n"

// EpochStatement links a device's epoch Epoch to the one before: the old
// epoch's chain ended at (OldSeq, OldHash) under OldKey, and from At the
// device signs with NewKey, starting again at seq 1. The controller signs
// it with its content key (Signer).
type EpochStatement struct {
	Device  string
	Epoch   uint64 // the new epoch, ≥ 2
	OldKey  []byte // the key of Epoch-1; nil when it was never recorded
	OldSeq  uint64 // last seq of Epoch-1; 0 when it holds no records
	OldHash string // hash of that record; GenesisHash when OldSeq is 0
	NewKey  []byte
	At      int64 // unix s, when NewKey was pinned
	Signer  []byte
	Sig     []byte
}

// Message is what the controller signs (docs/protocol.md, "Key history"):
//
//	"guardcast/epoch/v1\n" device "\n" decimal(epoch) "\n" hex(old key) "\n"
//	decimal(old seq) "\n" old hash "\n" hex(new key) "\n" decimal(at)
func (s *EpochStatement) Message() []byte {
	return []byte(EpochDomain + s.Device + "\n" + strconv.FormatUint(s.Epoch, 10) + "\n" + hex.EncodeToString(s.OldKey) + "\n" +
		strconv.FormatUint(s.OldSeq, 10) + "\n" + s.OldHash + "\n" + hex.EncodeToString(s.NewKey) + "\n" + strconv.FormatInt(s.At, 10))
}

// Verify checks the statement's signature against its signer.
func (s *EpochStatement) Verify() bool {
	return len(s.Signer) == ed25519.PublicKeySize && ed25519.Verify(ed25519.PublicKey(s.Signer), s.Message(), s.Sig)
}

// EpochSigner signs an epoch statement's message; it returns the signer's
// public key and the signature.
type EpochSigner func(msg []byte) (signer, sig []byte, err error)

// PinKey pins a device's public key if none is pinned yet and the one-time
// enrollment secret is still unused; it clears the secret in the same
// transaction. It reports whether it pinned. A key pinned after an
// enrollment reset opens a new epoch whose statement is left unsigned:
// the controller pins with PinEpochKey.
func (s *Store) PinKey(ctx context.Context, id string, pub []byte) (bool, error) {
	_, ok, err := s.PinEpochKey(ctx, id, pub, nil)
	return ok, err
}

// PinEpochKey pins pub as the device's key for a new epoch, under the same
// conditions as PinKey. The device's chain starts again at seq 1; a key
// pinned after an enrollment reset carries a statement naming the old
// epoch's last head, signed by sign (nil leaves it unsigned).
func (s *Store) PinEpochKey(ctx context.Context, id string, pub []byte, sign EpochSigner) (DeviceKey, bool, error) {
	var k DeviceKey
	pinned := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var (
			epoch, lastSeq uint64
			lastHash       string
			havePub        bool
			haveSecret     bool
			retired        int64
		)
		err := tx.QueryRowContext(ctx, `SELECT epoch, last_seq, last_hash, pubkey IS NOT NULL, enroll_secret IS NOT NULL, retired_at
			FROM devices WHERE id = ?`, id).Scan(&epoch, &lastSeq, &lastHash, &havePub, &haveSecret, &retired)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (havePub || !haveSecret || retired != 0)) {
			return nil
		}
		if err != nil {
			return err
		}
		now := time.Now().Unix()
		k = DeviceKey{Device: id, Epoch: epoch + 1, PubKey: pub, EnrolledAt: now, Why: "first hello"}
		if epoch > 0 {
			k.Why = "enrolled again after an enrollment reset"
			st := &EpochStatement{Device: id, Epoch: k.Epoch, OldSeq: lastSeq, OldHash: lastHash, NewKey: pub, At: now}
			if lastSeq == 0 {
				st.OldHash = protocol.GenesisHash
			}
			err := tx.QueryRowContext(ctx, `SELECT pubkey FROM device_keys WHERE device = ? AND epoch = ?`, id, epoch).Scan(&st.OldKey)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if sign != nil {
				if st.Signer, st.Sig, err = sign(st.Message()); err != nil {
					return fmt.Errorf("sign epoch %d statement of %s: %w", k.Epoch, id, err)
				}
			}
			k.Link = st
			// A reset retired it already; this covers a key cleared some other way.
			if _, err := tx.ExecContext(ctx, `UPDATE device_keys SET retired_at = ?, retired_why = 'superseded'
				WHERE device = ? AND epoch = ? AND retired_at = 0`, now, id, epoch); err != nil {
				return err
			}
		}
		link := k.Link
		if link == nil {
			link = &EpochStatement{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_keys(device, epoch, pubkey, enrolled_at, why, link_seq, link_hash, link_old, link_signer, link_sig)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, k.Epoch, pub, now, k.Why,
			link.OldSeq, link.OldHash, link.OldKey, link.Signer, link.Sig); err != nil {
			return fmt.Errorf("record key of %s epoch %d: %w", id, k.Epoch, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET pubkey = ?, pinned_at = ?, enroll_secret = NULL, epoch = ?, last_seq = 0, last_hash = ?
			WHERE id = ?`, pub, now, k.Epoch, protocol.GenesisHash, id); err != nil {
			return fmt.Errorf("pin key of %s: %w", id, err)
		}
		pinned = true
		return nil
	})
	if err != nil {
		return DeviceKey{}, false, fmt.Errorf("pin key of %s: %w", id, err)
	}
	return k, pinned, nil
}

// DeviceKeys returns a device's key history, oldest epoch first.
func (s *Store) DeviceKeys(ctx context.Context, id string) ([]DeviceKey, error) {
	all, err := s.keyHistory(ctx, id)
	return all[id], err
}

// AllDeviceKeys returns every device's key history, oldest epoch first.
func (s *Store) AllDeviceKeys(ctx context.Context) (map[string][]DeviceKey, error) {
	return s.keyHistory(ctx, "")
}

func (s *Store) keyHistory(ctx context.Context, id string) (map[string][]DeviceKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, epoch, pubkey, enrolled_at, retired_at, why, retired_why,
		link_seq, link_hash, link_old, link_signer, link_sig FROM device_keys WHERE ? = '' OR device = ? ORDER BY device, epoch`, id, id)
	if err != nil {
		return nil, fmt.Errorf("key history: %w", err)
	}
	defer rows.Close()
	out := map[string][]DeviceKey{}
	for rows.Next() {
		var k DeviceKey
		var st EpochStatement
		if err := rows.Scan(&k.Device, &k.Epoch, &k.PubKey, &k.EnrolledAt, &k.RetiredAt, &k.Why, &k.RetiredWhy,
			&st.OldSeq, &st.OldHash, &st.OldKey, &st.Signer, &st.Sig); err != nil {
			return nil, fmt.Errorf("key history: %w", err)
		}
		if k.Epoch > 1 {
			st.Device, st.Epoch, st.NewKey, st.At = k.Device, k.Epoch, k.PubKey, k.EnrolledAt
			k.Link = &st
		}
		out[k.Device] = append(out[k.Device], k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key history: %w", err)
	}
	return out, nil
}

// retireKey ends the device's current epoch: its key signs nothing more.
func retireKey(ctx context.Context, tx *sql.Tx, id, why string, at int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE device_keys SET retired_at = ?, retired_why = ?
		WHERE device = ? AND epoch = (SELECT epoch FROM devices WHERE id = ?) AND retired_at = 0`, at, why, id, id)
	if err != nil {
		return fmt.Errorf("retire key of %s: %w", id, err)
	}
	return nil
}

// Dir is the data directory the store's database lives in (where the
// controller keeps its content key).
func (s *Store) Dir(ctx context.Context) (string, error) {
	rows, err := s.db.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return "", fmt.Errorf("database file: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", fmt.Errorf("database file: %w", err)
		}
		if name == "main" && file != "" {
			return filepath.Dir(file), nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("database file: %w", err)
	}
	return "", errors.New("database file: the store has no file")
}
