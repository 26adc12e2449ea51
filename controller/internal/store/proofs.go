package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/guardcast/guardcast/internal/protocol"
)

// ProofRow is a stored proof record.
type ProofRow struct {
	protocol.ProofRecord
	Hash       string
	HeadSig    []byte // set on the last record of each signed batch
	ReceivedAt int64
	Flag       string // "", FindingGap or FindingChain
	// Epoch is the key epoch the record was verified under (DeviceKey);
	// seq and prev chain within it. 0 is stored as 1.
	Epoch uint64
}

// Head is where a device's stored chain ends.
type Head struct {
	Seq  uint64
	Hash string
}

// ProofCommit is one transaction's worth of ingestion.
type ProofCommit struct {
	Rows     []ProofRow
	Heads    map[string]Head // new chain head per device, in its epoch
	Findings []Finding
	// Epochs is the key epoch each device's rows and head were checked
	// under. A device listed here whose current epoch has moved on, or
	// whose key has been cleared (an enrollment reset), since the check
	// gets nothing stored: no rows, no head, no findings. Devices not
	// listed are not checked.
	Epochs map[string]uint64
}

// CommitProofs inserts proof rows, moves device heads and records findings
// in one durable transaction (see CommitProofsChecked).
func (s *Store) CommitProofs(ctx context.Context, c ProofCommit) error {
	_, err := s.CommitProofsChecked(ctx, c)
	return err
}

// CommitProofsChecked inserts proof rows, moves device heads and records
// findings in one durable transaction. Re-inserting an existing (device,
// epoch, seq) is a no-op, so a replayed commit never duplicates a row. It
// returns the devices of c.Epochs whose epoch had ended (nothing stored
// for them).
func (s *Store) CommitProofsChecked(ctx context.Context, c ProofCommit) (stale map[string]bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		stale = nil
		for dev, epoch := range c.Epochs {
			var cur uint64
			var pinned bool
			err := tx.QueryRowContext(ctx, `SELECT epoch, pubkey IS NOT NULL FROM devices WHERE id = ?`, dev).Scan(&cur, &pinned)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("epoch of %s: %w", dev, err)
			}
			if err != nil || cur != epoch || !pinned {
				if stale == nil {
					stale = map[string]bool{}
				}
				stale[dev] = true
			}
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO proofs(device, epoch, seq, prev, hash, version, output, playlist, media_sha256,
			start_ns, end_ns, mono_ns, clock_synced, result, reason, head_sig, received_at, flag)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device, epoch, seq) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, r := range c.Rows {
			if stale[r.Device] {
				continue
			}
			if _, err := ins.ExecContext(ctx, r.Device, max(r.Epoch, 1), r.Seq, r.Prev, r.Hash, r.Version, r.Output, r.Playlist, r.MediaSHA256,
				r.StartNS, r.EndNS, r.MonoNS, r.ClockSynced, r.Result, r.Reason, r.HeadSig, r.ReceivedAt, r.Flag); err != nil {
				return fmt.Errorf("insert proof %s/%d/%d: %w", r.Device, max(r.Epoch, 1), r.Seq, err)
			}
		}
		for dev, h := range c.Heads {
			if stale[dev] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET last_seq = ?, last_hash = ? WHERE id = ? AND last_seq < ?`, h.Seq, h.Hash, dev, h.Seq); err != nil {
				return err
			}
		}
		for _, f := range c.Findings {
			if stale[f.Device] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO findings(device, seq, kind, detail, at) VALUES (?, ?, ?, ?, ?)`, f.Device, f.Seq, f.Kind, f.Detail, f.At); err != nil {
				return err
			}
		}
		return nil
	})
	return stale, err
}

// ProofHash returns the stored hash of one record of the device's current
// epoch, or ErrNotFound.
func (s *Store) ProofHash(ctx context.Context, device string, seq uint64) (string, error) {
	var h string
	err := s.db.QueryRowContext(ctx, `SELECT p.hash FROM proofs p JOIN devices d ON d.id = p.device
		WHERE p.device = ? AND p.epoch = max(d.epoch, 1) AND p.seq = ?`, device, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return h, err
}

// ProofHashIn returns the stored hash of one record of an epoch, or
// ErrNotFound.
func (s *Store) ProofHashIn(ctx context.Context, device string, epoch, seq uint64) (string, error) {
	var h string
	err := s.db.QueryRowContext(ctx, `SELECT hash FROM proofs WHERE device = ? AND epoch = ? AND seq = ?`, device, max(epoch, 1), seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return h, err
}

// ProofFilter selects part of the play log.
type ProofFilter struct {
	Device  string // "" for all
	SinceNS int64  // start_ns >= SinceNS
	Limit   int    // 0 for no limit
}

// Proofs calls fn for each stored record, ordered by device, epoch and
// seq.
func (s *Store) Proofs(ctx context.Context, f ProofFilter, fn func(ProofRow) error) error {
	q := `SELECT device, epoch, seq, prev, hash, version, output, playlist, media_sha256, start_ns, end_ns, mono_ns,
		clock_synced, result, reason, head_sig, received_at, flag FROM proofs WHERE start_ns >= ?`
	args := []any{f.SinceNS}
	if f.Device != "" {
		q += ` AND device = ?`
		args = append(args, f.Device)
	}
	q += ` ORDER BY device, epoch, seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r ProofRow
		if err := rows.Scan(&r.Device, &r.Epoch, &r.Seq, &r.Prev, &r.Hash, &r.Version, &r.Output, &r.Playlist, &r.MediaSHA256,
			&r.StartNS, &r.EndNS, &r.MonoNS, &r.ClockSynced, &r.Result, &r.Reason, &r.HeadSig, &r.ReceivedAt, &r.Flag); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeviceProofStats summarises one device's play log.
type DeviceProofStats struct {
	Device  string
	Count   int64
	LastSeq uint64
	Played  int64
	Failed  int64
	Flagged int64
}

// ProofStats summarises the play log per device.
func (s *Store) ProofStats(ctx context.Context) ([]DeviceProofStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, count(p.seq), coalesce(max(p.seq),0),
		coalesce(sum(p.result = 'played'),0), coalesce(sum(p.result = 'failed'),0), coalesce(sum(p.flag != ''),0)
		FROM devices d LEFT JOIN proofs p ON p.device = d.id WHERE d.role = 'device' GROUP BY d.id ORDER BY d.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeviceProofStats
	for rows.Next() {
		var st DeviceProofStats
		if err := rows.Scan(&st.Device, &st.Count, &st.LastSeq, &st.Played, &st.Failed, &st.Flagged); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Exec runs a raw statement. Tests use it to tamper with rows the way an
// insider with database access might.
func (s *Store) Exec(ctx context.Context, q string, args ...any) error {
	_, err := s.db.ExecContext(ctx, q, args...)
	return err
}
