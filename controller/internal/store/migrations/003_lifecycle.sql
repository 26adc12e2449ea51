-- Issue 7: what each device has (its outputs), frozen alert recipients,
-- retiring instead of deleting, and campaign names reusable once ended.

-- A device's outputs: output → the firmware profile driving it, recorded
-- at enrollment. A device with no rows (enrolled before this migration)
-- has the outputs its profile implies, derived in Go at read time from the
-- embedded firmware profiles (store.ProfileOutputs).
CREATE TABLE device_outputs (
	device  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	output  TEXT NOT NULL,                    -- led | tv | audio | printer
	profile TEXT NOT NULL,
	PRIMARY KEY (device, output)
);

-- Retired rows stay (history, proofs, IDs) but leave every listing, the
-- tree and the compiler. 0 while in use, else unix s.
ALTER TABLE devices ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE org_nodes ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE org_people ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE media ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE playlists ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;

-- The same person twice: keep the first, retire the copies, then refuse
-- new copies (same node and name with the same phone, or the same role).
UPDATE org_people SET retired_at = CAST(strftime('%s', 'now') AS INTEGER)
	WHERE retired_at = 0 AND id NOT IN (SELECT min(id) FROM org_people GROUP BY node, name, phone);
UPDATE org_people SET retired_at = CAST(strftime('%s', 'now') AS INTEGER)
	WHERE retired_at = 0 AND id NOT IN (SELECT min(id) FROM org_people WHERE retired_at = 0 GROUP BY node, name, role);
CREATE UNIQUE INDEX org_people_phone ON org_people(node, name, phone) WHERE retired_at = 0;
CREATE UNIQUE INDEX org_people_role ON org_people(node, name, role) WHERE retired_at = 0;

-- Frozen alert recipients: the devices (and the outputs of the alert each
-- has) an alert reached when it was pushed. Status, sign-for counts and
-- laggards count this set only.
CREATE TABLE alert_recipients (
	alert   TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
	device  TEXT NOT NULL,
	node    TEXT NOT NULL DEFAULT '',         -- the device's site at the push
	outputs TEXT NOT NULL,                    -- comma separated
	PRIMARY KEY (alert, device)
);

-- Alerts pushed before this migration: freeze the devices they reach now,
-- on all of the alert's outputs (capabilities were not known then).
INSERT INTO alert_recipients(alert, device, node, outputs)
	SELECT DISTINCT r.alert, d.id, coalesce(d.node, ''), a.outputs
	FROM (WITH RECURSIVE under(alert, node) AS (
			SELECT alert, target FROM alert_targets
			UNION SELECT u.alert, n.id FROM org_nodes n JOIN under u ON n.parent = u.node)
		SELECT alert, node FROM under) r
	JOIN devices d ON d.role = 'device' AND (d.id = r.node OR d.node = r.node)
	JOIN alerts a ON a.id = r.alert;

-- Campaigns get a row ID so that an ended campaign's name can be used
-- again; the name is unique among running campaigns only. Ended campaigns
-- keep their rows, targets and playlists.
CREATE TABLE campaigns_v3 (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL,
	output       TEXT NOT NULL,
	priority     INTEGER NOT NULL DEFAULT 0,
	from_date    TEXT NOT NULL DEFAULT '',
	until_date   TEXT NOT NULL DEFAULT '',
	dayparts     TEXT NOT NULL DEFAULT '[]',
	min_every_ms INTEGER NOT NULL DEFAULT 0,
	min_share    REAL NOT NULL DEFAULT 0,
	trigger_name TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	ended_at     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO campaigns_v3(name, output, priority, from_date, until_date, dayparts, min_every_ms, min_share, trigger_name, created_at, ended_at)
	SELECT name, output, priority, from_date, until_date, dayparts, min_every_ms, min_share, trigger_name, created_at, ended_at
	FROM campaigns ORDER BY created_at, name;

CREATE TABLE campaign_targets_v3 (
	campaign INTEGER NOT NULL REFERENCES campaigns_v3(id) ON DELETE CASCADE,
	kind     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (campaign, kind, value)
);
INSERT INTO campaign_targets_v3(campaign, kind, value)
	SELECT c.id, t.kind, t.value FROM campaign_targets t JOIN campaigns_v3 c ON c.name = t.campaign;

CREATE TABLE campaign_playlists_v3 (
	campaign INTEGER NOT NULL REFERENCES campaigns_v3(id) ON DELETE CASCADE,
	pos      INTEGER NOT NULL,
	playlist TEXT NOT NULL REFERENCES playlists(name),
	PRIMARY KEY (campaign, pos)
);
INSERT INTO campaign_playlists_v3(campaign, pos, playlist)
	SELECT c.id, p.pos, p.playlist FROM campaign_playlists p JOIN campaigns_v3 c ON c.name = p.campaign;

DROP TABLE campaign_targets;
DROP TABLE campaign_playlists;
DROP TABLE campaigns;
ALTER TABLE campaigns_v3 RENAME TO campaigns;
ALTER TABLE campaign_targets_v3 RENAME TO campaign_targets;
ALTER TABLE campaign_playlists_v3 RENAME TO campaign_playlists;
CREATE UNIQUE INDEX campaigns_running_name ON campaigns(name) WHERE ended_at = 0;
CREATE INDEX campaigns_name ON campaigns(name, id);
CREATE INDEX campaign_playlists_playlist ON campaign_playlists(playlist);
