-- Pending changes: what an editor asks for (a campaign, a playlist, an
-- assignment; an alert when two-person alerts are on) waits here until an
-- approver other than its author approves it. Only then is it written to
-- the tables the compiler signs from.
CREATE TABLE changes (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT NOT NULL,                    -- campaign.create | playlist.create | playlist.edit | playlist.assign | alert.push
	target     TEXT NOT NULL,                    -- the campaign, playlist or alert it makes
	payload    TEXT NOT NULL,                    -- the request as JSON, exactly as validated
	summary    TEXT NOT NULL DEFAULT '',         -- one line for lists
	author     TEXT NOT NULL,
	created_ms INTEGER NOT NULL,
	state      TEXT NOT NULL DEFAULT 'pending',  -- pending | approving | approved | rejected | withdrawn | failed
	decided_by TEXT NOT NULL DEFAULT '',
	decided_ms INTEGER NOT NULL DEFAULT 0,
	note       TEXT NOT NULL DEFAULT ''          -- the rejection reason, or why applying failed
);
CREATE INDEX changes_state ON changes(state, id);

-- Who authored and who approved what the compiler signs.
CREATE TABLE provenance (
	kind     TEXT NOT NULL,                      -- campaign | playlist | assignment | alert
	ref      TEXT NOT NULL,                      -- campaign name, playlist name, device/output, alert ID
	change   INTEGER NOT NULL DEFAULT 0,         -- the approved change (0: pushed in one step)
	author   TEXT NOT NULL,
	approver TEXT NOT NULL DEFAULT '',
	at_ms    INTEGER NOT NULL,
	PRIMARY KEY (kind, ref)
);

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
