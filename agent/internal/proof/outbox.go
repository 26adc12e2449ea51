// Package proof is the agent's durable outbox of proof records.
//
// Every play is appended here, hash-chained to the one before, and
// committed with synchronous=FULL before the play counts as done. Records
// leave the outbox only when the controller receipts them (Prune), never
// because a PUBACK arrived. The last seq and hash live in a meta row that
// is updated in the same transaction as each insert, so a seq is never
// reused, even after every record has been pruned.
//
// Disk use is bounded by what is unreceipted, not by history: the WAL is
// checkpointed every walPages pages and kept to journalLimit bytes,
// receipted records are deleted and their pages handed back to the file
// system (incremental vacuum). The agent calls Reserve before it starts a
// play: when the state disk has no room for the proof, the play is not
// started (ErrFull). A spare file of SpareBytes, released only when a
// write fails for space, lets the proofs of plays already started, and
// the deletes that free space, go through after another writer took the
// last byte.
package proof

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/guardcast/guardcast/internal/owneronly"
	"github.com/guardcast/guardcast/internal/protocol"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// ErrReceiptMismatch means a receipt's head hash is not the hash this
// outbox holds for that seq: the controller and the agent disagree about
// the chain, and nothing is pruned.
var ErrReceiptMismatch = errors.New("receipt head does not match the stored record")

// ErrReceiptAhead means a receipt names a seq this outbox never appended.
var ErrReceiptAhead = errors.New("receipt beyond the last appended record")

// ErrFull means the state disk has no room for another proof: a play
// must not start until Reserve succeeds again.
var ErrFull = errors.New("proof outbox: state disk full")

// Space limits.
const (
	// Headroom is the free space Reserve wants on the state disk before a
	// play may start: room for its record and the WAL frames it writes.
	Headroom = 64 << 10
	// SpareBytes is the spare file kept beside the outbox.
	SpareBytes = 256 << 10

	walPages     = 32        // wal_autocheckpoint, in 4 KiB pages
	journalLimit = 128 << 10 // journal_size_limit: the WAL's size at rest
	pruneChunk   = 128       // records deleted per transaction
	vacuumPages  = 8         // free pages that trigger an incremental vacuum
)

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	device    TEXT    NOT NULL,
	last_seq  INTEGER NOT NULL,
	last_hash TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
	seq  INTEGER PRIMARY KEY,
	hash TEXT    NOT NULL,
	body BLOB    NOT NULL
);
`

// Outbox is a durable, hash-chained queue of proof records for one device.
// It is safe for concurrent use.
type Outbox struct {
	db     *sql.DB
	device string

	path   string
	statfs func(dir string) (free uint64, err error)

	mu       sync.Mutex // serialises Append and Prune; guards the fields below
	lastSeq  uint64
	lastHash string
	pending  uint64 // rows in records
	full     error  // the last write that failed for space, until Reserve finds room
}

// Stats summarises the outbox.
type Stats struct {
	NextSeq     uint64 // the seq the next Append will assign
	LastHash    string // hash of record NextSeq-1 (GenesisHash if none)
	Unreceipted uint64 // records held, not yet receipted
}

// Open opens (creating if needed) the outbox at path for device. An outbox
// created for one device refuses to open for another. The outbox is the
// device's evidence: its directory (the agent's state dir) is made 0700
// and the database with its -wal and -shm 0600, on every open.
func Open(path, device string) (*Outbox, error) {
	if err := protocol.ValidateDeviceID(device); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	if err := private(path); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	// Before journal_mode: auto_vacuum only takes on a database with no
	// tables yet (an older outbox is converted by init).
	q.Add("_pragma", "auto_vacuum(INCREMENTAL)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walPages))
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", journalLimit))
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	// One connection: appends are serialised anyway, and one connection
	// keeps the per-connection pragmas simple to reason about.
	db.SetMaxOpenConns(1)
	o := &Outbox{db: db, device: device, path: path, statfs: freeBytes}
	if err := o.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return o, nil
}

// private makes path's directory owner-only and creates path 0600 before
// SQLite does (SQLite gives -wal and -shm the database's mode).
func private(path string) error {
	if err := owneronly.Tighten(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, owneronly.FileMode)
	if err != nil {
		return err
	}
	f.Close()
	return owneronly.Tighten(path, path+"-wal", path+"-shm")
}

func (o *Outbox) init() error {
	ctx := context.Background()
	if _, err := o.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	var mode string
	if err := o.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if _, err := o.db.ExecContext(ctx,
		`INSERT OR IGNORE INTO meta (id, device, last_seq, last_hash) VALUES (1, ?, 0, ?)`,
		o.device, protocol.GenesisHash); err != nil {
		return err
	}
	var dev string
	var last int64
	if err := o.db.QueryRowContext(ctx, `SELECT device, last_seq, last_hash FROM meta WHERE id = 1`).
		Scan(&dev, &last, &o.lastHash); err != nil {
		return err
	}
	if dev != o.device {
		return fmt.Errorf("outbox belongs to device %q, not %q", dev, o.device)
	}
	o.lastSeq = uint64(last)
	var n int64
	if err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM records`).Scan(&n); err != nil {
		return err
	}
	o.pending = uint64(n)
	var av int
	if err := o.db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&av); err != nil {
		return err
	}
	if av != 2 {
		// An outbox made before disk use was bounded: convert it once.
		// Without room for the copy it stays as it is, still correct.
		if _, err := o.db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err == nil {
			o.db.ExecContext(ctx, "VACUUM")
		}
	}
	o.ensureSpare()
	return nil
}

// freeBytes is the space available to this process on dir's file system.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func (o *Outbox) sparePath() string { return o.path + "-spare" }

// ensureSpare creates the spare file when it is missing and there is
// room for it and the headroom besides; it is written out in full, not
// sparse, so its blocks are really held.
func (o *Outbox) ensureSpare() {
	sp := o.sparePath()
	if fi, err := os.Stat(sp); err == nil && fi.Size() == SpareBytes {
		return
	}
	if free, err := o.statfs(filepath.Dir(o.path)); err != nil || free < SpareBytes+2*Headroom {
		return
	}
	f, err := os.OpenFile(sp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, owneronly.FileMode)
	if err != nil {
		return
	}
	_, werr := f.Write(make([]byte, SpareBytes))
	serr := f.Sync()
	f.Close()
	if werr != nil || serr != nil {
		os.Remove(sp)
	}
}

// releaseSpare gives the spare file's space back to the file system.
func (o *Outbox) releaseSpare() bool {
	return os.Remove(o.sparePath()) == nil
}

// isFull reports whether err is SQLite or the kernel saying the disk is full.
func isFull(err error) bool {
	if err == nil {
		return false
	}
	var se interface{ Code() int }
	if errors.As(err, &se) && se.Code()&0xff == 13 { // SQLITE_FULL
		return true
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	return strings.Contains(err.Error(), "database or disk is full")
}

// Reserve reports whether a play may start: nil when the state disk has
// room for its proof, an error wrapping ErrFull when not. Once room
// returns it restores the spare file.
func (o *Outbox) Reserve() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	free, err := o.statfs(filepath.Dir(o.path))
	if err != nil {
		// Space cannot be measured here: go by the last write alone
		// rather than hold back every play.
		return o.full
	}
	if free < Headroom {
		if o.full == nil {
			o.full = fmt.Errorf("%w: %d bytes free, %d wanted", ErrFull, free, Headroom)
		}
		return o.full
	}
	if o.full != nil {
		// Room again: give the WAL back its rest size and restore the spare.
		o.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		o.ensureSpare()
		o.full = nil
	}
	return nil
}

// Full reports the condition that makes Reserve refuse (nil: none).
func (o *Outbox) Full() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.full
}

// retryFull runs write once more after releasing the spare file when it
// failed for space, and remembers the condition for Reserve. Callers hold mu.
func (o *Outbox) retryFull(write func() error) error {
	err := write()
	if !isFull(err) {
		return err
	}
	o.full = fmt.Errorf("%w: %v", ErrFull, err)
	if o.releaseSpare() {
		err = write()
	}
	if isFull(err) {
		return fmt.Errorf("%w: %v", ErrFull, err)
	}
	return err
}

// Close closes the database.
func (o *Outbox) Close() error { return o.db.Close() }

// Append assigns r the next seq and the previous record's hash, commits it
// durably and returns the completed record. Device is filled in if empty.
func (o *Outbox) Append(ctx context.Context, r protocol.ProofRecord) (protocol.ProofRecord, error) {
	if r.Device == "" {
		r.Device = o.device
	}
	if r.Device != o.device {
		return protocol.ProofRecord{}, fmt.Errorf("append proof: record of %q in outbox of %q", r.Device, o.device)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r.Seq = o.lastSeq + 1
	r.Prev = o.lastHash
	if err := r.Validate(); err != nil {
		return protocol.ProofRecord{}, fmt.Errorf("append proof: %w", err)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return protocol.ProofRecord{}, fmt.Errorf("append proof: %w", err)
	}
	h := r.Hash()
	if err := o.retryFull(func() error { return o.insert(ctx, r, h, body) }); err != nil {
		return protocol.ProofRecord{}, err
	}
	o.lastSeq, o.lastHash = r.Seq, h
	o.pending++
	return r, nil
}

// insert commits one record and the meta row in one synced transaction.
func (o *Outbox) insert(ctx context.Context, r protocol.ProofRecord, h string, body []byte) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append proof %d: %w", r.Seq, err)
	}
	defer tx.Rollback()
	// Read the meta row inside the transaction: it, not memory, is the
	// authority, so a second process on the same file cannot fork the chain.
	var last int64
	var lastHash string
	if err := tx.QueryRowContext(ctx, `SELECT last_seq, last_hash FROM meta WHERE id = 1`).Scan(&last, &lastHash); err != nil {
		return fmt.Errorf("append proof %d: %w", r.Seq, err)
	}
	if uint64(last) != o.lastSeq || lastHash != o.lastHash {
		return fmt.Errorf("append proof: outbox changed under us (seq %d, expected %d)", last, o.lastSeq)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO records (seq, hash, body) VALUES (?, ?, ?)`, int64(r.Seq), h, body); err != nil {
		return fmt.Errorf("append proof %d: %w", r.Seq, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET last_seq = ?, last_hash = ? WHERE id = 1`, int64(r.Seq), h); err != nil {
		return fmt.Errorf("append proof %d: %w", r.Seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append proof %d: commit: %w", r.Seq, err)
	}
	return nil
}

// Pending returns up to limit held records with seq > after, in order.
func (o *Outbox) Pending(ctx context.Context, after uint64, limit int) ([]protocol.ProofRecord, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT seq, hash, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?`, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("pending proofs: %w", err)
	}
	defer rows.Close()
	var out []protocol.ProofRecord
	for rows.Next() {
		var seq int64
		var h string
		var body []byte
		if err := rows.Scan(&seq, &h, &body); err != nil {
			return nil, fmt.Errorf("pending proofs: %w", err)
		}
		var r protocol.ProofRecord
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("pending proof %d: %w", seq, err)
		}
		if uint64(seq) != r.Seq || r.Hash() != h {
			return nil, fmt.Errorf("pending proof %d: stored record does not match its hash", seq)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending proofs: %w", err)
	}
	return out, nil
}

// Prune deletes every record up to and including through, after checking
// that head is the hash this outbox holds for through. A receipt for
// records already pruned is a no-op; one beyond the last appended seq is
// refused.
func (o *Outbox) Prune(ctx context.Context, through uint64, head string) error {
	if through == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if through > o.lastSeq {
		return fmt.Errorf("prune through %d: %w (last %d)", through, ErrReceiptAhead, o.lastSeq)
	}
	var stored string
	err := o.db.QueryRowContext(ctx, `SELECT hash FROM records WHERE seq = ?`, int64(through)).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if through == o.lastSeq {
			stored = o.lastHash
		}
		// Otherwise already pruned: nothing to check against, nothing to do
		// beyond deleting what is (not) there.
	case err != nil:
		return fmt.Errorf("prune through %d: %w", through, err)
	}
	if stored != "" && stored != head {
		return fmt.Errorf("prune through %d: %w", through, ErrReceiptMismatch)
	}
	// Delete in small transactions, so that on a full disk each fits in
	// the WAL's rest size and the spare; every one is safe on its own,
	// since everything through is receipted.
	for {
		var n int64
		err := o.retryFull(func() error {
			res, err := o.db.ExecContext(ctx,
				`DELETE FROM records WHERE seq IN (SELECT seq FROM records WHERE seq <= ? ORDER BY seq LIMIT ?)`,
				int64(through), pruneChunk)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return fmt.Errorf("prune through %d: %w", through, err)
		}
		o.pending -= uint64(n)
		if o.full != nil {
			o.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		}
		if n < pruneChunk {
			break
		}
	}
	o.vacuum(ctx)
	return nil
}

// vacuum hands the pages of deleted records back to the file system once
// there are a few, and when space is short also empties the WAL.
func (o *Outbox) vacuum(ctx context.Context) {
	var free int64
	if err := o.db.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil || free < vacuumPages {
		return
	}
	o.db.ExecContext(ctx, "PRAGMA incremental_vacuum")
	if o.full != nil {
		o.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
}

// Stats reports the next seq and how many records await a receipt.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{NextSeq: o.lastSeq + 1, LastHash: o.lastHash, Unreceipted: o.pending}
}

// Head returns the seq and hash of the last appended record (0 and
// GenesisHash before the first).
func (o *Outbox) Head() (uint64, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastSeq, o.lastHash
}
