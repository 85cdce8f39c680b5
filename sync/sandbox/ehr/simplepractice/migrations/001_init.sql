-- The SimplePractice model's state: its clinicians and clients, the notes pushed into charts, and
-- Idempotency-Key records. Times are UTC text in one fixed-width layout, so they sort as text.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY NOT NULL
) STRICT;

CREATE TABLE clinicians (
	id          INTEGER PRIMARY KEY,
	first_name  TEXT NOT NULL,
	last_name   TEXT NOT NULL,
	credentials TEXT NOT NULL,
	email       TEXT NOT NULL
) STRICT;

CREATE TABLE clients (
	id             INTEGER PRIMARY KEY,
	first_name     TEXT NOT NULL,
	middle_name    TEXT NOT NULL,
	last_name      TEXT NOT NULL,
	preferred_name TEXT NOT NULL,
	date_of_birth  TEXT NOT NULL,
	gender         TEXT NOT NULL,
	phone          TEXT NOT NULL,
	created_at     TEXT NOT NULL
) STRICT;

CREATE INDEX clients_last_name ON clients (last_name COLLATE NOCASE);

CREATE TABLE notes (
	id              INTEGER PRIMARY KEY,
	client_id       INTEGER NOT NULL REFERENCES clients (id),
	clinician_id    INTEGER NOT NULL REFERENCES clinicians (id),
	date            TEXT NOT NULL,
	body            TEXT NOT NULL,
	format          TEXT NOT NULL,
	version         INTEGER NOT NULL DEFAULT 1,
	idempotency_key TEXT,
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL
) STRICT;

CREATE INDEX notes_client ON notes (client_id, date);

CREATE TABLE idempotency_keys (
	key        TEXT PRIMARY KEY,
	route      TEXT NOT NULL,
	boot_id    TEXT NOT NULL,
	status     INTEGER,
	body       BLOB,
	effects    INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
) STRICT;
