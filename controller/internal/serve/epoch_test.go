package serve

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// TestResetStartsNewEpoch is the tester's finding of issue 9: a device
// enrolled again after `device reset-enrollment` runs a fresh agent whose
// chain starts again at seq 1. That chain is a new key epoch, never a
// conflict with the old one; the old records still verify under the key
// that signed them, and a controller statement links the two epochs. An
// old-key record after the reset, and a chain signed by a key never
// pinned, are refused.
func TestResetStartsNewEpoch(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	ctx := context.Background()
	old := fleetOf(t, c, 1, "reimaged")[0]
	dev := old.cfg.Device
	old.generate(5)
	old.send(t, 5, 0, time.Second, 10*time.Second)
	oldPub := old.key.Public().(ed25519.PublicKey)

	secret := bytes.Repeat([]byte{7}, 32)
	if err := openStore(t, c.dir).ResetEnrollment(ctx, dev, secret); err != nil {
		t.Fatal(err)
	}
	// The old card keeps running: its next records are refused. The
	// status after them is acknowledged only once the broker has handed
	// the batch to ingestion, which commits in arrival order, so the
	// fresh agent's records below are checked after it.
	old.generate(2)
	old.publish(t, protocol.TopicProofs, old.batch(6, 7))
	st, _ := json.Marshal(protocol.Status{V: protocol.Version, Device: dev, Online: true})
	old.publish(t, protocol.TopicStatus, st)
	old.close()

	cfg := *old.cfg
	cfg.EnrollSecret = protocol.EncodeKey(secret)
	fresh := newSimAgent(t, &cfg, c.ep.BrokerURL)
	defer fresh.close()
	fresh.hello(t)
	waitAnyReceipt(t, fresh)
	// A fresh SD card starts again at seq 1 with the genesis prev.
	fresh.generate(6)
	fresh.publish(t, protocol.TopicProofs, fresh.batch(1, 3))
	waitReceipt(t, fresh, 3)
	fresh.publish(t, protocol.TopicProofs, fresh.batch(4, 6))
	waitReceipt(t, fresh, 6)

	// An old-key record sent after the new key was pinned (the old card
	// reconnecting), and a chain signed by a key that was never pinned,
	// over the device's own connection: both refused. The genuine batch
	// after them is committed after they were checked.
	forger := append([]protocol.ProofRecord(nil), fresh.recs...)
	fresh.generate(2)
	fresh.publish(t, protocol.TopicProofs, signedBatch(old.key, old.recs[5:7]))
	_, never, _ := ed25519.GenerateKey(rand.Reader)
	forger[6-1].Reason = "forged"
	forger[6-1].Result = protocol.ResultFailed
	fresh.publish(t, protocol.TopicProofs, signedBatch(never, forger[:6]))
	fresh.publish(t, protocol.TopicProofs, fresh.batch(7, 8))
	waitReceipt(t, fresh, 8)

	s := openStore(t, c.dir)
	findings, err := s.Findings(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	badSig := 0
	for _, f := range findings {
		switch f.Kind {
		case store.FindingConflict, store.FindingChain, store.FindingGap:
			t.Errorf("the new epoch was taken for the old chain: %+v", f)
		case store.FindingBadSignature:
			badSig++
			if f.Seq == 7 && !strings.Contains(f.Detail, "epoch 1") {
				t.Errorf("old-key finding does not name the retired key: %s", f.Detail)
			}
		}
	}
	if badSig != 2 {
		t.Errorf("%d bad_signature findings, want 2 (old key, never-pinned key): %+v", badSig, findings)
	}

	// Stored: epoch 1 holds seq 1..5 only, epoch 2 seq 1..8.
	byEpoch := map[uint64][]uint64{}
	if err := s.Proofs(ctx, store.ProofFilter{Device: dev}, func(r store.ProofRow) error {
		byEpoch[r.Epoch] = append(byEpoch[r.Epoch], r.Seq)
		if r.Epoch == 2 && r.Reason == "forged" {
			t.Errorf("a forged record was stored: %+v", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(byEpoch) != 2 || len(byEpoch[1]) != 5 || len(byEpoch[2]) != 8 {
		t.Fatalf("stored seqs by epoch %v, want epoch 1: 1..5, epoch 2: 1..8", byEpoch)
	}

	// The key history and the statement linking the epochs.
	keys, err := s.DeviceKeys(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	content := contentKey(t, c.dir)
	if len(keys) != 2 || !bytes.Equal(keys[0].PubKey, oldPub) || keys[0].RetiredAt == 0 || keys[0].RetiredWhy != "enrollment reset" ||
		!bytes.Equal(keys[1].PubKey, fresh.key.Public().(ed25519.PublicKey)) || keys[1].RetiredAt != 0 {
		t.Fatalf("key history %+v", keys)
	}
	l := keys[1].Link
	if l == nil || l.OldSeq != 5 || l.OldHash != old.recs[4].Hash() || !bytes.Equal(l.OldKey, oldPub) ||
		!bytes.Equal(l.Signer, content) || !l.Verify() {
		t.Fatalf("epoch statement %+v", l)
	}

	// Both epochs verify, each under its own key, against the content key
	// as trust anchor (what `proofs verify` uses).
	res, err := report.VerifyWith(ctx, s, dev, report.VerifyOptions{ContentKeys: []ed25519.PublicKey{content}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].OK() || res[0].Records != 13 || res[0].LastSeq != 8 || len(res[0].Epochs) != 2 ||
		res[0].Epochs[0].Records != 5 || res[0].Epochs[1].Records != 8 {
		t.Fatalf("verify after the reset: %+v", res)
	}

	// An insider cannot graft a forged epoch on: records of an epoch with
	// no pinned key fail, and so does a statement not signed by the
	// content key.
	for _, r := range forger[:2] {
		if err := s.Exec(ctx, `INSERT INTO proofs(device, epoch, seq, prev, hash, version, output, playlist, media_sha256,
			start_ns, end_ns, mono_ns, clock_synced, result, reason, head_sig, received_at, flag)
			VALUES (?, 3, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`, r.Device, r.Seq, r.Prev, r.Hash(), r.Version, r.Output,
			r.Playlist, r.MediaSHA256, r.StartNS, r.EndNS, r.MonoNS, r.ClockSynced, r.Result, r.Reason,
			protocol.SignHead(never, r.Device, r.Seq, r.Hash()), time.Now().UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	res, _ = report.VerifyWith(ctx, s, dev, report.VerifyOptions{ContentKeys: []ed25519.PublicKey{content}})
	if res[0].OK() || !hasProblem(res[0], 3, "no key of epoch 3") || !hasProblem(res[0], 3, "no controller statement") {
		t.Fatalf("forged epoch 3 records verified: %+v", res[0].Problems)
	}
	self := &store.EpochStatement{Device: dev, Epoch: 3, OldKey: keys[1].PubKey, OldSeq: 8, OldHash: fresh.recs[7].Hash(),
		NewKey: never.Public().(ed25519.PublicKey), At: time.Now().Unix(), Signer: never.Public().(ed25519.PublicKey)}
	self.Sig = ed25519.Sign(never, self.Message())
	if err := s.Exec(ctx, `INSERT INTO device_keys(device, epoch, pubkey, enrolled_at, link_seq, link_hash, link_old, link_signer, link_sig)
		VALUES (?, 3, ?, ?, ?, ?, ?, ?, ?)`, dev, self.NewKey, self.At, self.OldSeq, self.OldHash, self.OldKey, self.Signer, self.Sig); err != nil {
		t.Fatal(err)
	}
	res, _ = report.VerifyWith(ctx, s, dev, report.VerifyOptions{ContentKeys: []ed25519.PublicKey{content}})
	if res[0].OK() || !hasProblem(res[0], 3, "not a content key") {
		t.Fatalf("a self-signed epoch statement verified: %+v", res[0].Problems)
	}
	for _, p := range res[0].Problems {
		if p.Epoch != 3 {
			t.Errorf("a genuine epoch failed beside the forged one: %s", p)
		}
	}
}

func signedBatch(key ed25519.PrivateKey, recs []protocol.ProofRecord) []byte {
	last := recs[len(recs)-1]
	b, _ := json.Marshal(protocol.ProofBatch{V: protocol.Version, Device: last.Device, Records: recs,
		HeadSig: protocol.SignHead(key, last.Device, last.Seq, last.Hash())})
	return b
}

func waitAnyReceipt(t testing.TB, a *simAgent) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !a.anyRcpt.Load() {
		select {
		case <-a.rcptCh:
		case <-deadline:
			t.Fatalf("%s: no answer to its hello", a.cfg.Device)
		}
	}
}

func contentKey(t testing.TB, dir string) ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "content.pub"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := protocol.DecodeKey(strings.TrimSpace(string(b)), ed25519.PublicKeySize)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hasProblem(r report.DeviceResult, epoch uint64, what string) bool {
	for _, p := range r.Problems {
		if p.Epoch == epoch && strings.Contains(p.What, what) {
			return true
		}
	}
	return false
}
