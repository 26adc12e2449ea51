// Package report turns the stored play log into what auditors read: exports
// (CSV, JSON lines) and an independent re-verification of every chain and
// signature.
package report

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// ExportRecord is one line of an export.
type ExportRecord struct {
	Device      string `json:"device"`
	Epoch       uint64 `json:"epoch"` // key epoch: seq and prev chain within it
	Seq         uint64 `json:"seq"`
	Hash        string `json:"hash"`
	Prev        string `json:"prev"`
	Version     uint64 `json:"version"`
	Output      string `json:"output"`
	Playlist    string `json:"playlist"`
	MediaSHA256 string `json:"media_sha256"`
	Start       string `json:"start"`
	End         string `json:"end"`
	MonoMS      int64  `json:"mono_ms"`
	ClockSynced bool   `json:"clock_synced"`
	Result      string `json:"result"`
	Reason      string `json:"reason,omitempty"`
	HeadSig     []byte `json:"head_sig,omitempty"`
	Flag        string `json:"flag,omitempty"`
}

func exportRecord(r store.ProofRow) ExportRecord {
	return ExportRecord{
		Device: r.Device, Epoch: max(r.Epoch, 1), Seq: r.Seq, Hash: r.Hash, Prev: r.Prev, Version: r.Version, Output: r.Output,
		Playlist: r.Playlist, MediaSHA256: r.MediaSHA256,
		Start:  time.Unix(0, r.StartNS).UTC().Format(time.RFC3339Nano),
		End:    time.Unix(0, r.EndNS).UTC().Format(time.RFC3339Nano),
		MonoMS: r.MonoNS / 1e6, ClockSynced: r.ClockSynced, Result: r.Result, Reason: r.Reason,
		HeadSig: r.HeadSig, Flag: r.Flag,
	}
}

// Export writes the selected play log as "csv" or "jsonl".
func Export(ctx context.Context, st *store.Store, f store.ProofFilter, format string, w io.Writer) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		return st.Proofs(ctx, f, func(r store.ProofRow) error { return enc.Encode(exportRecord(r)) })
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"device", "seq", "start", "end", "mono_ms", "clock_synced", "output", "playlist",
			"media_sha256", "version", "result", "reason", "flag", "hash", "prev"}); err != nil {
			return err
		}
		err := st.Proofs(ctx, f, func(r store.ProofRow) error {
			e := exportRecord(r)
			return cw.Write([]string{e.Device, strconv.FormatUint(e.Seq, 10), e.Start, e.End, strconv.FormatInt(e.MonoMS, 10),
				strconv.FormatBool(e.ClockSynced), e.Output, e.Playlist, e.MediaSHA256, strconv.FormatUint(e.Version, 10),
				e.Result, e.Reason, e.Flag, e.Hash, e.Prev})
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown export format %q (want csv or jsonl)", format)
}

// Problem is one record (or epoch link) that does not verify.
type Problem struct {
	Device string
	Epoch  uint64 // key epoch; 0 or 1 for a device's first
	Seq    uint64
	What   string
}

func (p Problem) String() string {
	if p.Epoch > 1 {
		return fmt.Sprintf("%s epoch %d seq %d: %s", p.Device, p.Epoch, p.Seq, p.What)
	}
	return fmt.Sprintf("%s seq %d: %s", p.Device, p.Seq, p.What)
}

// EpochResult is the outcome for one key epoch of a device: its records
// are chained from seq 1 and signed by that epoch's key.
type EpochResult struct {
	Epoch      uint64
	Key        []byte // nil when no key of this epoch is on record
	Records    int64
	LastSeq    uint64
	LastHash   string
	EnrolledAt int64  // unix s
	RetiredAt  int64  // unix s, 0 while in use
	RetiredWhy string // why it ended
	// Link is the controller's statement that opened the epoch (nil for
	// a first epoch); LinkSigner the content key that signed it.
	Link *store.EpochStatement
}

// DeviceResult is the outcome for one device.
type DeviceResult struct {
	Device   string
	Records  int64  // in all epochs
	LastSeq  uint64 // in the last epoch
	Epochs   []EpochResult
	Problems []Problem
}

// OK reports whether every record of the device verified.
func (d DeviceResult) OK() bool { return len(d.Problems) == 0 }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// ContentKeys are the controller content keys an epoch statement may
	// be signed by (the auditor's trust anchor, content.pub). Empty: a
	// statement is checked against the signer it names only.
	ContentKeys []ed25519.PublicKey
}

// Verify is VerifyWith without a trust anchor for epoch statements.
func Verify(ctx context.Context, st *store.Store, device string) ([]DeviceResult, error) {
	return VerifyWith(ctx, st, device, VerifyOptions{})
}

// VerifyWith re-checks every stored chain from the fields alone, epoch by
// epoch: each record's hash, each link to the record before, seq
// continuity from 1, every batch-head signature against the key of the
// record's epoch, and that no record is left uncovered by a signature;
// then each epoch statement: its signature, the old key it names, and
// that the old epoch's stored chain ends exactly at the head it names.
func VerifyWith(ctx context.Context, st *store.Store, device string, o VerifyOptions) ([]DeviceResult, error) {
	// Retired devices too: their proofs and keys are kept so that their
	// play log still verifies.
	devs, err := st.DevicesWith(ctx, store.ListOptions{IncludeRetired: true})
	if err != nil {
		return nil, err
	}
	var hist map[string][]store.DeviceKey
	if device != "" {
		ks, err := st.DeviceKeys(ctx, device)
		if err != nil {
			return nil, err
		}
		hist = map[string][]store.DeviceKey{device: ks}
	} else if hist, err = st.AllDeviceKeys(ctx); err != nil {
		return nil, err
	}
	var results []DeviceResult
	index := map[string]int{}
	add := func(id string) *DeviceResult {
		i, ok := index[id]
		if !ok {
			i = len(results)
			index[id] = i
			r := DeviceResult{Device: id}
			for _, k := range hist[id] {
				r.Epochs = append(r.Epochs, EpochResult{Epoch: k.Epoch, Key: k.PubKey, EnrolledAt: k.EnrolledAt,
					RetiredAt: k.RetiredAt, RetiredWhy: k.RetiredWhy, Link: k.Link})
			}
			results = append(results, r)
		}
		return &results[i]
	}
	for _, d := range devs {
		if device != "" && d.ID != device {
			continue
		}
		add(d.ID)
	}
	var (
		cur          *DeviceResult
		ep           *EpochResult
		prevSeq      uint64
		prevHash     string
		unsignedFrom uint64
	)
	finish := func() {
		if ep != nil && unsignedFrom != 0 {
			cur.Problems = append(cur.Problems, Problem{cur.Device, ep.Epoch, unsignedFrom,
				fmt.Sprintf("records %d..%d are covered by no signature", unsignedFrom, prevSeq)})
		}
	}
	err = st.Proofs(ctx, store.ProofFilter{Device: device}, func(r store.ProofRow) error {
		epoch := max(r.Epoch, 1)
		if cur == nil || cur.Device != r.Device || ep.Epoch != epoch {
			finish()
			cur = add(r.Device)
			ep = epochOf(cur, epoch)
			prevSeq, prevHash, unsignedFrom = 0, protocol.GenesisHash, 0
		}
		bad := func(what string) { cur.Problems = append(cur.Problems, Problem{r.Device, epoch, r.Seq, what}) }
		cur.Records++
		ep.Records++
		ep.LastSeq = r.Seq
		h := r.ProofRecord.Hash()
		ep.LastHash = h
		if h != r.Hash {
			bad("record does not match its stored hash (edited)")
		}
		switch {
		case r.Seq != prevSeq+1:
			bad(fmt.Sprintf("gap: records %d..%d missing", prevSeq+1, r.Seq-1))
		case r.Prev != prevHash:
			bad(fmt.Sprintf("chain broken: prev does not match the hash of record %d", prevSeq))
		}
		if ep.RetiredAt != 0 && r.ReceivedAt >= (ep.RetiredAt+1)*1e9 {
			bad(fmt.Sprintf("stored after the key of epoch %d was retired", epoch))
		}
		if unsignedFrom == 0 {
			unsignedFrom = r.Seq
		}
		if r.HeadSig != nil {
			switch {
			case ep.Key == nil:
				bad(fmt.Sprintf("no key of epoch %d on record to check the signature", epoch))
			case !protocol.VerifyHead(ed25519.PublicKey(ep.Key), r.Device, r.Seq, h, r.HeadSig):
				bad(fmt.Sprintf("signature over records %d..%d does not verify against the key of epoch %d", unsignedFrom, r.Seq, epoch))
			}
			unsignedFrom = 0
		}
		prevSeq, prevHash = r.Seq, h
		return nil
	})
	finish()
	if err != nil {
		return results, err
	}
	for i := range results {
		r := &results[i]
		if n := len(r.Epochs); n > 0 {
			r.LastSeq = r.Epochs[n-1].LastSeq
		}
		checkLinks(r, o)
	}
	return results, nil
}

// epochOf returns the device's result for epoch, adding one (with no key
// on record) for records of an epoch the key history does not know.
func epochOf(d *DeviceResult, epoch uint64) *EpochResult {
	for i := range d.Epochs {
		if d.Epochs[i].Epoch == epoch {
			return &d.Epochs[i]
		}
	}
	d.Epochs = append(d.Epochs, EpochResult{Epoch: epoch})
	slices.SortFunc(d.Epochs, func(a, b EpochResult) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return epochOf(d, epoch)
}

// checkLinks checks each epoch after the first against the statement that
// opened it: signed by a content key, naming the key and the exact chain
// head the epoch before it ended with.
func checkLinks(d *DeviceResult, o VerifyOptions) {
	for i := range d.Epochs {
		e := &d.Epochs[i]
		if e.Epoch <= 1 {
			continue
		}
		bad := func(format string, args ...any) {
			d.Problems = append(d.Problems, Problem{d.Device, e.Epoch, 0, "epoch link: " + fmt.Sprintf(format, args...)})
		}
		l := e.Link
		if l == nil {
			bad("no controller statement opens epoch %d", e.Epoch)
			continue
		}
		if len(l.Sig) == 0 {
			bad("the statement opening epoch %d is unsigned", e.Epoch)
		} else if !l.Verify() {
			bad("the statement opening epoch %d does not verify against its signer %s", e.Epoch, keyID(l.Signer))
		} else if len(o.ContentKeys) > 0 && !slices.ContainsFunc(o.ContentKeys, func(k ed25519.PublicKey) bool { return k.Equal(ed25519.PublicKey(l.Signer)) }) {
			bad("the statement opening epoch %d is signed by %s, not a content key", e.Epoch, keyID(l.Signer))
		}
		var prev *EpochResult
		if i > 0 && d.Epochs[i-1].Epoch == e.Epoch-1 {
			prev = &d.Epochs[i-1]
		}
		if prev == nil {
			bad("epoch %d has no epoch before it", e.Epoch)
			continue
		}
		if prev.Key != nil && !bytes.Equal(prev.Key, l.OldKey) {
			bad("the statement names old key %s, epoch %d's key is %s", keyID(l.OldKey), prev.Epoch, keyID(prev.Key))
		}
		wantHash := prev.LastHash
		if prev.LastSeq == 0 {
			wantHash = protocol.GenesisHash
		}
		switch {
		case prev.LastSeq > l.OldSeq:
			bad("epoch %d holds records %d..%d after the head the statement names (seq %d)", prev.Epoch, l.OldSeq+1, prev.LastSeq, l.OldSeq)
		case prev.LastSeq < l.OldSeq:
			bad("the statement names seq %d as epoch %d's head; records %d..%d are missing", l.OldSeq, prev.Epoch, prev.LastSeq+1, l.OldSeq)
		case l.OldHash != wantHash:
			bad("the statement names hash %s for seq %d of epoch %d; the stored record's is %s", l.OldHash, l.OldSeq, prev.Epoch, wantHash)
		}
	}
}

func keyID(k []byte) string {
	if len(k) == 0 {
		return "(none)"
	}
	return protocol.KeyID(ed25519.PublicKey(k))
}
