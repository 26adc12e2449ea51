-- Issue 9: a device's keys are a history. Each pinned key opens a chain
-- epoch: the agent's records under that key are chained and numbered from
-- seq 1 within the epoch and verified with that key only. An enrollment
-- reset retires the current key, and the next pin opens epoch N+1 with a
-- statement, signed by the controller's content key, naming the old
-- epoch's last head (seq, hash), the old key and the new key.
CREATE TABLE device_keys (
	device      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	epoch       INTEGER NOT NULL,               -- 1, 2, 3 ... per device
	pubkey      BLOB NOT NULL,                  -- Ed25519, 32 bytes
	enrolled_at INTEGER NOT NULL,               -- unix s, when it was pinned
	retired_at  INTEGER NOT NULL DEFAULT 0,     -- unix s, 0 while in use
	why         TEXT NOT NULL DEFAULT '',       -- why the epoch began
	retired_why TEXT NOT NULL DEFAULT '',       -- why it ended
	link_seq    INTEGER NOT NULL DEFAULT 0,     -- the statement: last seq of epoch-1 (0: none)
	link_hash   TEXT NOT NULL DEFAULT '',       -- hash of that record
	link_old    BLOB,                           -- the key of epoch-1 (NULL: not on record)
	link_signer BLOB,                           -- the content public key that signed the statement
	link_sig    BLOB,                           -- Ed25519 over EpochStatement.Message
	PRIMARY KEY (device, epoch)
);

-- The device's current epoch: its last pinned key's, or the one its
-- next pin follows. 0 for a device that never pinned.
ALTER TABLE devices ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

-- Keys pinned before this migration are epoch 1. A device reset before it
-- and not yet enrolled again has records under a key nobody kept: those
-- records stay epoch 1 (with no key on record), and its next pin is epoch 2.
UPDATE devices SET epoch = 1
	WHERE pubkey IS NOT NULL OR EXISTS (SELECT 1 FROM proofs p WHERE p.device = devices.id);
INSERT INTO device_keys(device, epoch, pubkey, enrolled_at, why)
	SELECT id, 1, pubkey, coalesce(pinned_at, created_at), 'pinned at first hello (before key history)'
	FROM devices WHERE pubkey IS NOT NULL;

-- Proof rows carry their epoch; idempotency and chains are per
-- (device, epoch, seq).
ALTER TABLE proofs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;
DROP INDEX proofs_device_seq;
CREATE UNIQUE INDEX proofs_device_epoch_seq ON proofs(device, epoch, seq);
