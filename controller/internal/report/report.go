// Package report turns the stored play log into what auditors read: exports
// (CSV, JSON lines) and an independent re-verification of every chain and
// signature.
package report

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// ExportRecord is one line of an export.
type ExportRecord struct {
	Device      string `json:"device"`
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
		Device: r.Device, Seq: r.Seq, Hash: r.Hash, Prev: r.Prev, Version: r.Version, Output: r.Output,
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

// Problem is one record that does not verify.
type Problem struct {
	Device string
	Seq    uint64
	What   string
}

func (p Problem) String() string { return fmt.Sprintf("%s seq %d: %s", p.Device, p.Seq, p.What) }

// DeviceResult is the outcome for one device.
type DeviceResult struct {
	Device   string
	Records  int64
	LastSeq  uint64
	Problems []Problem
}

// OK reports whether every record of the device verified.
func (d DeviceResult) OK() bool { return len(d.Problems) == 0 }

// Verify re-checks every stored chain from the fields alone: each record's
// hash, each link to the record before, seq continuity from 1, and every
// batch-head signature against the device's pinned key, and that no record
// is left uncovered by a signature.
func Verify(ctx context.Context, st *store.Store, device string) ([]DeviceResult, error) {
	// Retired devices too: their proofs and pinned keys are kept so that
	// their play log still verifies.
	devs, err := st.DevicesWith(ctx, store.ListOptions{IncludeRetired: true})
	if err != nil {
		return nil, err
	}
	keys := map[string]ed25519.PublicKey{}
	var results []DeviceResult
	index := map[string]int{}
	for _, d := range devs {
		if device != "" && d.ID != device {
			continue
		}
		if d.PubKey != nil {
			keys[d.ID] = ed25519.PublicKey(d.PubKey)
		}
		index[d.ID] = len(results)
		results = append(results, DeviceResult{Device: d.ID})
	}
	var (
		cur          *DeviceResult
		prevSeq      uint64
		prevHash     string
		unsignedFrom uint64
	)
	finish := func() {
		if cur != nil && unsignedFrom != 0 {
			cur.Problems = append(cur.Problems, Problem{cur.Device, unsignedFrom, fmt.Sprintf("records %d..%d are covered by no signature", unsignedFrom, prevSeq)})
		}
	}
	err = st.Proofs(ctx, store.ProofFilter{Device: device}, func(r store.ProofRow) error {
		if cur == nil || cur.Device != r.Device {
			finish()
			i, ok := index[r.Device]
			if !ok {
				index[r.Device] = len(results)
				results = append(results, DeviceResult{Device: r.Device})
				i = len(results) - 1
			}
			cur = &results[i]
			prevSeq, prevHash, unsignedFrom = 0, protocol.GenesisHash, 0
		}
		bad := func(what string) { cur.Problems = append(cur.Problems, Problem{r.Device, r.Seq, what}) }
		cur.Records++
		cur.LastSeq = r.Seq
		h := r.ProofRecord.Hash()
		if h != r.Hash {
			bad("record does not match its stored hash (edited)")
		}
		switch {
		case r.Seq != prevSeq+1:
			bad(fmt.Sprintf("gap: records %d..%d missing", prevSeq+1, r.Seq-1))
		case r.Prev != prevHash:
			bad(fmt.Sprintf("chain broken: prev does not match the hash of record %d", prevSeq))
		}
		if unsignedFrom == 0 {
			unsignedFrom = r.Seq
		}
		if r.HeadSig != nil {
			key, ok := keys[r.Device]
			switch {
			case !ok:
				bad("no pinned device key to check the signature")
			case !protocol.VerifyHead(key, r.Device, r.Seq, h, r.HeadSig):
				bad(fmt.Sprintf("signature over records %d..%d does not verify", unsignedFrom, r.Seq))
			}
			unsignedFrom = 0
		}
		prevSeq, prevHash = r.Seq, h
		return nil
	})
	finish()
	return results, err
}
