package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
)

// Roles a credential can have.
const (
	RoleDevice     = "device"
	RoleController = "controller"
)

// Device is one enrolled unit (or a controller credential).
type Device struct {
	ID             string
	Site           string
	Profile        string
	Role           string
	CredSalt       []byte
	CredHash       []byte
	EnrollSecret   []byte // nil once used
	PubKey         []byte // nil until pinned
	PinnedAt       int64
	CreatedAt      int64
	DesiredVersion uint64
	DesiredHash    string
	DesiredDoc     []byte
	DesiredIssued  int64
	DesiredExpires int64
	LastSeq        uint64
	LastHash       string
	LastSeen       int64
	Status         string
	// Node is the site the device belongs to ("" for devices enrolled
	// before the organisation tree).
	Node string
	// Tags are set on AddDevice only; Devices and Device leave them nil
	// (see DeviceTags).
	Tags []string
	// AdoptedVersion is the highest desired-state version the device has
	// acknowledged as verified and playing; AdoptedMS when the controller
	// received that acknowledgement (unix ms).
	AdoptedVersion uint64
	AdoptedMS      int64
	// Outputs is what the device has: output (led, tv, audio, printer) →
	// the firmware profile driving it. AddDevice records it; nil records
	// nothing, and the device has what Profile implies (ProfileOutputs),
	// derived whenever it is read. Device and Devices leave it nil (see
	// DeviceOutputs).
	Outputs map[string]string
	// RetiredAt is when the device was decommissioned (unix s), 0 while
	// in use.
	RetiredAt int64
	// Epoch is the device's current key epoch (see DeviceKey): PubKey's,
	// or the retired one a reset left until the next pin; 0 before the
	// first pin. LastSeq and LastHash are this epoch's chain head.
	Epoch uint64
}

// ErrExists is returned when adding something that is already there.
var ErrExists = errors.New("already exists")

// AddDevice registers a device or controller credential, with its site
// and tags when given.
func (s *Store) AddDevice(ctx context.Context, d Device) error {
	return s.AddDevices(ctx, []Device{d})
}

// AddDevices registers many devices in one transaction (an import, or a
// benchmark's fleet): all or none.
func (s *Store) AddDevices(ctx context.Context, ds []Device) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := time.Now().Unix()
		for _, d := range ds {
			if err := addDevice(ctx, tx, d, now); err != nil {
				return err
			}
		}
		return bump(ctx, tx)
	})
}

func addDevice(ctx context.Context, tx *sql.Tx, d Device, now int64) error {
	if d.Role == "" {
		d.Role = RoleDevice
	}
	if err := checkFreeID(ctx, tx, d.ID, "nodes"); err != nil {
		return err
	}
	if err := validateOutputs(d.ID, d.Outputs, false); err != nil {
		return err
	}
	var node any
	if d.Node != "" {
		if err := checkSite(ctx, tx, d.Node); err != nil {
			return fmt.Errorf("device %s: %w", d.ID, err)
		}
		node = d.Node
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO devices(id, site, profile, role, cred_salt, cred_hash, enroll_secret, created_at, node)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.Site, d.Profile, d.Role, d.CredSalt, d.CredHash, d.EnrollSecret, now, node)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("device %s exists; change it with `device edit %s` (or `device reset-enrollment %s` for a re-imaged card): %w",
				d.ID, d.ID, d.ID, ErrExists)
		}
		return fmt.Errorf("add device %s: %w", d.ID, err)
	}
	if d.Role == RoleDevice && d.Outputs != nil {
		if err := writeOutputs(ctx, tx, d.ID, d.Outputs); err != nil {
			return err
		}
	}
	for _, tag := range d.Tags {
		if err := org.ValidateTag(tag); err != nil {
			return invalid(fmt.Errorf("device %s: %w", d.ID, err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_tags(device, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`, d.ID, tag); err != nil {
			return err
		}
	}
	return nil
}

const deviceCols = `id, site, profile, role, cred_salt, cred_hash, enroll_secret, pubkey, coalesce(pinned_at,0), created_at,
	desired_version, desired_hash, desired_doc, desired_issued, desired_expires, last_seq, last_hash, last_seen, status,
	coalesce(node, ''), adopted_version, adopted_ms, retired_at, epoch`

func scanDevice(row interface{ Scan(...any) error }) (Device, error) {
	var d Device
	err := row.Scan(&d.ID, &d.Site, &d.Profile, &d.Role, &d.CredSalt, &d.CredHash, &d.EnrollSecret, &d.PubKey, &d.PinnedAt, &d.CreatedAt,
		&d.DesiredVersion, &d.DesiredHash, &d.DesiredDoc, &d.DesiredIssued, &d.DesiredExpires, &d.LastSeq, &d.LastHash, &d.LastSeen, &d.Status,
		&d.Node, &d.AdoptedVersion, &d.AdoptedMS, &d.RetiredAt, &d.Epoch)
	return d, err
}

// Device returns one device or controller credential, retired or not
// (a retired device's proofs are still checked against its key history).
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	return d, err
}

// Devices lists the device credentials (role device) in use, ordered by
// ID; retired devices are left out (see DevicesWith).
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	return s.DevicesWith(ctx, ListOptions{})
}

// DevicesWith lists device credentials by ID, retired ones when asked.
func (s *Store) DevicesWith(ctx context.Context, o ListOptions) ([]Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE role = 'device' AND (? OR retired_at = 0) ORDER BY id`, o.IncludeRetired)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ResetEnrollment clears a device's pinned key and sets a new one-time
// secret: for a re-imaged SD card. Its play log stays, and so does the
// key in its history, retired: records it signs are refused from now on,
// and the key pinned next opens a new epoch.
func (s *Store) ResetEnrollment(ctx context.Context, id string, secret []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkLiveDevice(ctx, tx, id); err != nil {
			return err
		}
		if err := retireKey(ctx, tx, id, "enrollment reset", time.Now().Unix()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE devices SET pubkey = NULL, pinned_at = NULL, enroll_secret = ? WHERE id = ? AND role = 'device'`, secret, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("device %s: %w", id, ErrNotFound)
		}
		return bump(ctx, tx)
	})
}

// SetStatus records a device's last status message.
func (s *Store) SetStatus(ctx context.Context, id, status string, seen int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE devices SET status = ?, last_seen = ? WHERE id = ?`, status, seen, id)
	return err
}

// SetDesired stores a newly signed desired state. It refuses to go
// backwards: version must exceed the stored one.
func (s *Store) SetDesired(ctx context.Context, id string, version uint64, hash string, doc []byte, issued, expires int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET desired_version = ?, desired_hash = ?, desired_doc = ?, desired_issued = ?, desired_expires = ?
			WHERE id = ? AND desired_version < ?`, version, hash, doc, issued, expires, id, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("desired state of %s: version %d is not newer than the stored one", id, version)
		}
		return nil
	})
}

// AddFinding records something the controller did not simply accept.
func (s *Store) AddFinding(ctx context.Context, f Finding) error {
	if f.At == 0 {
		f.At = time.Now().Unix()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO findings(device, seq, kind, detail, at) VALUES (?, ?, ?, ?, ?)`, f.Device, f.Seq, f.Kind, f.Detail, f.At)
	return err
}

// Finding kinds.
const (
	FindingGap          = "gap"
	FindingChain        = "broken_chain"
	FindingBadSignature = "bad_signature"
	FindingConflict     = "conflicting_resend"
	FindingKeyMismatch  = "key_mismatch"
	FindingEnroll       = "bad_enrollment"
	FindingMalformed    = "malformed"
)

// Finding is one flagged observation.
type Finding struct {
	ID     int64
	Device string
	Seq    uint64
	Kind   string
	Detail string
	At     int64
}

// Findings lists findings, for one device or all ("").
func (s *Store) Findings(ctx context.Context, device string) ([]Finding, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, device, seq, kind, detail, at FROM findings WHERE ? = '' OR device = ? ORDER BY id`, device, device)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Finding
	for rows.Next() {
		var f Finding
		if err := rows.Scan(&f.ID, &f.Device, &f.Seq, &f.Kind, &f.Detail, &f.At); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
