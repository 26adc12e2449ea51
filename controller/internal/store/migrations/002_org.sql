-- Issue 4: the organisation tree, device tags, campaigns, urgent alerts and
-- the devices' acknowledgements ("signed for").

CREATE TABLE org_nodes (
	id         TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,                 -- county | town | village | unit | site
	name       TEXT NOT NULL,
	parent     TEXT REFERENCES org_nodes(id),
	tz         TEXT NOT NULL DEFAULT '',      -- IANA zone, '' inherits from the parent
	quiet      TEXT,                          -- audio quiet hours as JSON dayparts, NULL inherits
	created_at INTEGER NOT NULL
);
CREATE INDEX org_nodes_parent ON org_nodes(parent);

CREATE TABLE org_people (
	id    INTEGER PRIMARY KEY,
	node  TEXT NOT NULL REFERENCES org_nodes(id) ON DELETE CASCADE,
	role  TEXT NOT NULL,                      -- first_responsible | liaison | presenter
	name  TEXT NOT NULL,
	phone TEXT NOT NULL
);
CREATE INDEX org_people_node ON org_people(node);

-- A device belongs to a site (NULL for devices enrolled before the tree),
-- and carries what it has adopted and acknowledged.
ALTER TABLE devices ADD COLUMN node TEXT REFERENCES org_nodes(id);
ALTER TABLE devices ADD COLUMN adopted_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN adopted_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX devices_node ON devices(node);

CREATE TABLE device_tags (
	device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	tag    TEXT NOT NULL,
	PRIMARY KEY (device, tag)
);
CREATE INDEX device_tags_tag ON device_tags(tag);

-- Item validity, local dates YYYY-MM-DD, until exclusive; '' is open.
ALTER TABLE playlist_items ADD COLUMN valid_from TEXT NOT NULL DEFAULT '';
ALTER TABLE playlist_items ADD COLUMN valid_until TEXT NOT NULL DEFAULT '';

CREATE TABLE campaigns (
	name         TEXT PRIMARY KEY,
	output       TEXT NOT NULL,
	priority     INTEGER NOT NULL DEFAULT 0,
	from_date    TEXT NOT NULL DEFAULT '',
	until_date   TEXT NOT NULL DEFAULT '',
	dayparts     TEXT NOT NULL DEFAULT '[]',  -- JSON dayparts
	min_every_ms INTEGER NOT NULL DEFAULT 0,
	min_share    REAL NOT NULL DEFAULT 0,
	trigger_name TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	ended_at     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE campaign_targets (
	campaign TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
	kind     TEXT NOT NULL,                   -- node | tag | device
	value    TEXT NOT NULL,
	PRIMARY KEY (campaign, kind, value)
);

CREATE TABLE campaign_playlists (
	campaign TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
	pos      INTEGER NOT NULL,
	playlist TEXT NOT NULL REFERENCES playlists(name),
	PRIMARY KEY (campaign, pos)
);

CREATE TABLE alerts (
	id           TEXT PRIMARY KEY,            -- a-YYYYMMDD-NNNN
	text         TEXT NOT NULL DEFAULT '',
	items        TEXT NOT NULL DEFAULT '[]',  -- JSON protocol items (the voice clip)
	outputs      TEXT NOT NULL,               -- comma separated
	issued_at    INTEGER NOT NULL,            -- unix s
	pushed_ms    INTEGER NOT NULL,            -- unix ms: latency is measured from here
	expires_at   INTEGER NOT NULL,            -- unix s
	repeat_ms    INTEGER NOT NULL DEFAULT 0,
	hold_ms      INTEGER NOT NULL DEFAULT 0,
	cancelled_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alerts_expires ON alerts(expires_at);

CREATE TABLE alert_targets (
	alert  TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
	target TEXT NOT NULL,                     -- node or device ID
	PRIMARY KEY (alert, target)
);

-- Acknowledgements, one row per (device, event, version, alert, output,
-- entry): a resent ack is a no-op, so the first receipt time stands.
CREATE TABLE acks (
	id           INTEGER PRIMARY KEY,
	device       TEXT NOT NULL,
	event        TEXT NOT NULL,
	version      INTEGER NOT NULL,
	alert        TEXT NOT NULL DEFAULT '',
	output       TEXT NOT NULL DEFAULT '',
	entry        TEXT NOT NULL DEFAULT '',
	detail       TEXT NOT NULL DEFAULT '',
	at_ms        INTEGER NOT NULL,            -- agent clock
	clock_synced INTEGER NOT NULL,
	received_ms  INTEGER NOT NULL             -- controller clock
);
CREATE UNIQUE INDEX acks_key ON acks(device, event, version, alert, output, entry);
CREATE INDEX acks_alert ON acks(alert, device);
