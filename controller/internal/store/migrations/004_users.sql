-- Issue 7: the office's people (users, roles, sessions, API tokens, login
-- throttling) and the hash-chained admin log. Times are unix ns. Session
-- IDs and tokens are stored only as hex SHA-256; passwords as argon2id.

CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	display    TEXT NOT NULL DEFAULT '',
	node       TEXT REFERENCES org_nodes(id) ON DELETE SET NULL,
	lang       TEXT NOT NULL DEFAULT 'zh',
	disabled   INTEGER NOT NULL DEFAULT 0,
	pw_hash    TEXT NOT NULL,
	created_ns INTEGER NOT NULL
);

CREATE TABLE user_roles (
	user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	role TEXT NOT NULL,
	PRIMARY KEY (user, role)
);
CREATE INDEX user_roles_role ON user_roles(role);

CREATE TABLE sessions (
	id_hash    TEXT PRIMARY KEY,
	user       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user);
CREATE INDEX sessions_expires ON sessions(expires_ns);

CREATE TABLE api_tokens (
	hash       TEXT PRIMARY KEY,
	user       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	label      TEXT NOT NULL,
	prefix     TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	used_ns    INTEGER NOT NULL DEFAULT 0,
	UNIQUE (user, label)
);

-- Keyed by the name typed, which need not be a user's.
CREATE TABLE login_failures (
	name    TEXT PRIMARY KEY,
	count   INTEGER NOT NULL,
	last_ns INTEGER NOT NULL
);

CREATE TABLE admin_log (
	seq    INTEGER PRIMARY KEY,
	at_ns  INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL,
	prev   TEXT NOT NULL,
	hash   TEXT NOT NULL UNIQUE,
	sig    TEXT NOT NULL
);
CREATE INDEX admin_log_at ON admin_log(at_ns);
CREATE INDEX admin_log_actor ON admin_log(actor, seq);
CREATE INDEX admin_log_action ON admin_log(action, seq);
