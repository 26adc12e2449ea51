package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

func seedKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

// TestEpochStatementKnownAnswer pins the signed bytes of an epoch
// statement (docs/protocol.md, "Key history"); the signature was also
// recomputed in Python from that page.
func TestEpochStatementKnownAnswer(t *testing.T) {
	s := &EpochStatement{Device: "bank-01-door", Epoch: 2, OldKey: seedKey(1).Public().(ed25519.PublicKey), OldSeq: 1234,
		OldHash: "5ab1cbf7c8bbd4a1b4e2e6ce4b9c0f63a3a4e07d9b0f0c4b5bd6f0f9cb7a7c11",
		NewKey:  seedKey(2).Public().(ed25519.PublicKey), At: 1796355556}
	want := "guardcast/epoch/v1\nbank-01-door\n2\n" +
		"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\n1234\n" +
		"5ab1cbf7c8bbd4a1b4e2e6ce4b9c0f63a3a4e07d9b0f0c4b5bd6f0f9cb7a7c11\n" +
		"8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394\n1796355556"
	if got := string(s.Message()); got != want {
		t.Fatalf("message\n%q\nwant\n%q", got, want)
	}
	s.Signer = seedKey(3).Public().(ed25519.PublicKey)
	s.Sig = ed25519.Sign(seedKey(3), s.Message())
	if got := hex.EncodeToString(s.Sig); got != "88e282fd7dec3b090158de177cb8cf4aca4b45d7c807ce970d78f6482a2ae01d"+
		"6c6d76d7eb412d18349f2aaf540e01d642128f82d4f2bb388871e10ae4262604" {
		t.Fatalf("signature %s", got)
	}
	if !s.Verify() {
		t.Fatal("known statement does not verify")
	}
	s.OldSeq++
	if s.Verify() {
		t.Fatal("statement verifies after its head changed")
	}
}

// TestResetOpensEpoch: a reset retires the key and ends the epoch (rows
// checked against it are no longer stored); the next pin opens epoch 2
// with a signed statement naming the old head, and the new chain's seq 1
// is no conflict with the old one's.
func TestResetOpensEpoch(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	if err := st.AddDevice(ctx, Device{ID: "d", CredSalt: []byte{1}, CredHash: []byte{2}, EnrollSecret: []byte("s1")}); err != nil {
		t.Fatal(err)
	}
	signer := seedKey(9)
	sign := func(msg []byte) ([]byte, []byte, error) {
		return signer.Public().(ed25519.PublicKey), ed25519.Sign(signer, msg), nil
	}
	k1, ok, err := st.PinEpochKey(ctx, "d", []byte("key-1"), sign)
	if err != nil || !ok || k1.Epoch != 1 || k1.Link != nil {
		t.Fatalf("first pin: %+v %v %v", k1, ok, err)
	}
	row := func(epoch, seq uint64, hash string) ProofRow {
		return ProofRow{ProofRecord: protocol.ProofRecord{Device: "d", Seq: seq, Prev: protocol.GenesisHash, Output: "led", Result: "played"},
			Hash: hash, Epoch: epoch}
	}
	commit := func(epoch uint64, rows ...ProofRow) map[string]bool {
		t.Helper()
		last := rows[len(rows)-1]
		stale, err := st.CommitProofsChecked(ctx, ProofCommit{Rows: rows, Heads: map[string]Head{"d": {last.Seq, last.Hash}},
			Epochs: map[string]uint64{"d": epoch}})
		if err != nil {
			t.Fatal(err)
		}
		return stale
	}
	if stale := commit(1, row(1, 1, "a1"), row(1, 2, "a2")); stale != nil {
		t.Fatalf("current epoch stale: %v", stale)
	}
	if err := st.ResetEnrollment(ctx, "d", []byte("s2")); err != nil {
		t.Fatal(err)
	}
	if stale := commit(1, row(1, 3, "a3")); !stale["d"] {
		t.Fatal("a record checked against the retired key was stored")
	}
	k2, ok, err := st.PinEpochKey(ctx, "d", []byte("key-2"), sign)
	if err != nil || !ok || k2.Epoch != 2 {
		t.Fatalf("pin after reset: %+v %v %v", k2, ok, err)
	}
	if l := k2.Link; l == nil || l.OldSeq != 2 || l.OldHash != "a2" || string(l.OldKey) != "key-1" || string(l.NewKey) != "key-2" || !l.Verify() {
		t.Fatalf("statement %+v", k2.Link)
	}
	if d, _ := st.Device(ctx, "d"); d.Epoch != 2 || d.LastSeq != 0 || d.LastHash != protocol.GenesisHash {
		t.Fatalf("device after the new pin: epoch %d head %d %s", d.Epoch, d.LastSeq, d.LastHash)
	}
	if stale := commit(1, row(1, 3, "a3")); !stale["d"] {
		t.Fatal("a record of the old epoch was stored after the new pin")
	}
	if stale := commit(2, row(2, 1, "b1")); stale != nil {
		t.Fatalf("new epoch stale: %v", stale)
	}
	if h, err := st.ProofHashIn(ctx, "d", 1, 1); err != nil || h != "a1" {
		t.Fatalf("epoch 1 seq 1: %q %v", h, err)
	}
	if h, err := st.ProofHash(ctx, "d", 1); err != nil || h != "b1" {
		t.Fatalf("current epoch seq 1: %q %v", h, err)
	}
	ks, err := st.DeviceKeys(ctx, "d")
	if err != nil || len(ks) != 2 || ks[0].RetiredAt == 0 || ks[0].RetiredWhy != "enrollment reset" || ks[1].RetiredAt != 0 ||
		ks[1].Link == nil || !ks[1].Link.Verify() {
		t.Fatalf("history %+v %v", ks, err)
	}
}

// TestKeyHistoryMigration: a database from before key history (migrations
// up to 006) keeps its chains: a pinned key becomes epoch 1, its records
// epoch 1; a device reset and not yet enrolled again goes on to epoch 2.
func TestKeyHistoryMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	// Undo 007 the way it was applied: rebuild the pre-007 shape.
	for _, q := range []string{
		`DROP INDEX proofs_device_epoch_seq`,
		`ALTER TABLE proofs DROP COLUMN epoch`,
		`CREATE UNIQUE INDEX proofs_device_seq ON proofs(device, seq)`,
		`ALTER TABLE devices DROP COLUMN epoch`,
		`DROP TABLE device_keys`,
		`DELETE FROM schema_migrations WHERE name = 'migrations/007_key_history.sql'`,
		`INSERT INTO devices(id, cred_salt, cred_hash, pubkey, pinned_at, created_at, last_seq, last_hash) VALUES ('kept', x'01', x'02', x'6b31', 100, 50, 1, 'h1')`,
		`INSERT INTO devices(id, cred_salt, cred_hash, enroll_secret, created_at, last_seq, last_hash) VALUES ('reset', x'01', x'02', x'73', 50, 1, 'r1')`,
		`INSERT INTO devices(id, cred_salt, cred_hash, enroll_secret, created_at) VALUES ('new', x'01', x'02', x'73', 50)`,
	} {
		if err := st.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, dev := range []string{"kept", "reset"} {
		if err := st.Exec(ctx, `INSERT INTO proofs(device, seq, prev, hash, version, output, playlist, media_sha256, start_ns, end_ns, mono_ns,
			clock_synced, result, reason, received_at) VALUES (?, 1, ?, 'h', 1, 'led', '', '', 1, 2, 1, 1, 'played', '', 1)`, dev, protocol.GenesisHash); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if st, err = Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.AllDeviceKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k := keys["kept"]; len(k) != 1 || k[0].Epoch != 1 || string(k[0].PubKey) != "k1" || k[0].EnrolledAt != 100 || len(keys) != 1 {
		t.Fatalf("history after migration %+v", keys)
	}
	for id, want := range map[string]uint64{"kept": 1, "reset": 1, "new": 0} {
		if d, _ := st.Device(ctx, id); d.Epoch != want {
			t.Errorf("%s: epoch %d, want %d", id, d.Epoch, want)
		}
	}
	n := 0
	st.Proofs(ctx, ProofFilter{}, func(r ProofRow) error {
		if r.Epoch != 1 {
			t.Errorf("%s seq %d: epoch %d", r.Device, r.Seq, r.Epoch)
		}
		n++
		return nil
	})
	if n != 2 {
		t.Fatalf("%d proofs after migration", n)
	}
	k, ok, err := st.PinEpochKey(ctx, "reset", []byte("k2"), nil)
	if err != nil || !ok || k.Epoch != 2 || k.Link == nil || k.Link.OldKey != nil || k.Link.OldSeq != 1 || k.Link.OldHash != "r1" {
		t.Fatalf("pin after a pre-history reset: %+v %v %v", k, ok, err)
	}
}
