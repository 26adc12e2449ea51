-- GuardCast controller schema, version 1.

CREATE TABLE devices (
	id              TEXT PRIMARY KEY,
	site            TEXT NOT NULL DEFAULT '',
	profile         TEXT NOT NULL DEFAULT '',
	role            TEXT NOT NULL DEFAULT 'device',      -- device | controller
	cred_salt       BLOB NOT NULL,
	cred_hash       BLOB NOT NULL,
	enroll_secret   BLOB,                                 -- NULL once used
	pubkey          BLOB,                                 -- pinned at first hello
	pinned_at       INTEGER,
	created_at      INTEGER NOT NULL,
	desired_version INTEGER NOT NULL DEFAULT 0,
	desired_hash    TEXT NOT NULL DEFAULT '',
	desired_doc     BLOB,
	desired_issued  INTEGER NOT NULL DEFAULT 0,
	desired_expires INTEGER NOT NULL DEFAULT 0,
	last_seq        INTEGER NOT NULL DEFAULT 0,
	last_hash       TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
	last_seen       INTEGER NOT NULL DEFAULT 0,
	status          TEXT NOT NULL DEFAULT ''
);

CREATE TABLE media (
	sha256      TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,
	mime        TEXT NOT NULL,
	size        INTEGER NOT NULL,
	name        TEXT NOT NULL,
	title       TEXT NOT NULL,
	duration_ms INTEGER NOT NULL DEFAULT 0,
	added_at    INTEGER NOT NULL
);

CREATE TABLE playlists (
	name       TEXT PRIMARY KEY,
	output     TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE playlist_items (
	playlist    TEXT NOT NULL REFERENCES playlists(name) ON DELETE CASCADE,
	pos         INTEGER NOT NULL,
	sha256      TEXT NOT NULL REFERENCES media(sha256),
	duration_ms INTEGER NOT NULL,
	PRIMARY KEY (playlist, pos)
);

-- One playlist per output per device.
CREATE TABLE assignments (
	device   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	output   TEXT NOT NULL,
	playlist TEXT NOT NULL REFERENCES playlists(name) ON DELETE CASCADE,
	PRIMARY KEY (device, output)
);

-- The play log. Rows append in arrival order (rowid), so a commit dirties
-- only the table's last pages; the (device, seq) key lives in a narrow
-- unique index whose per-device insert points stay hot in the page cache.
-- (A WITHOUT ROWID table keyed (device, seq) measured 4x slower here with
-- 50 devices interleaved: every commit rewrote 50 wide leaf pages.)
CREATE TABLE proofs (
	id           INTEGER PRIMARY KEY,
	device       TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	prev         TEXT NOT NULL,
	hash         TEXT NOT NULL,
	version      INTEGER NOT NULL,
	output       TEXT NOT NULL,
	playlist     TEXT NOT NULL,
	media_sha256 TEXT NOT NULL,
	start_ns     INTEGER NOT NULL,
	end_ns       INTEGER NOT NULL,
	mono_ns      INTEGER NOT NULL,
	clock_synced INTEGER NOT NULL,
	result       TEXT NOT NULL,
	reason       TEXT NOT NULL,
	head_sig     BLOB,            -- set on the last record of each signed batch
	received_at  INTEGER NOT NULL,
	flag         TEXT NOT NULL DEFAULT ''   -- 'gap' or 'chain' when it did not link
);
CREATE UNIQUE INDEX proofs_device_seq ON proofs(device, seq);

CREATE INDEX proofs_start ON proofs(start_ns);

-- Anything the controller saw and did not simply accept: gaps, broken
-- chains, bad signatures, conflicting resends, key mismatches.
CREATE TABLE findings (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	device   TEXT NOT NULL,
	seq      INTEGER NOT NULL DEFAULT 0,
	kind     TEXT NOT NULL,
	detail   TEXT NOT NULL,
	at       INTEGER NOT NULL
);
CREATE INDEX findings_device ON findings(device, id);

CREATE TABLE revision (rev INTEGER NOT NULL);
INSERT INTO revision(rev) VALUES (0);
