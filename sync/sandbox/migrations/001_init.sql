-- The sandbox's state: the sample workspace, sessions, notes and their processing, idempotency records.
-- Times are UTC text in one fixed-width layout (2006-01-02T15:04:05.000000Z), so they sort as text.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY NOT NULL
) STRICT;

CREATE TABLE teams (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	team_id       INTEGER NOT NULL REFERENCES teams (id),
	name          TEXT NOT NULL,
	email         TEXT NOT NULL COLLATE NOCASE UNIQUE,
	password_hash TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE user_tokens (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	token_hash   BLOB NOT NULL UNIQUE,
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	expires_at   TEXT NOT NULL
) STRICT;
CREATE INDEX user_tokens_user ON user_tokens (user_id);

CREATE TABLE patients (
	id                 INTEGER PRIMARY KEY,
	uuid               TEXT NOT NULL UNIQUE,
	team_id            INTEGER NOT NULL REFERENCES teams (id),
	user_id            INTEGER NOT NULL REFERENCES users (id),
	first_name         TEXT NOT NULL,
	middle_name        TEXT,
	last_name          TEXT NOT NULL,
	gender             TEXT,
	date_of_birth      TEXT,
	notes              TEXT,
	latest_medications TEXT NOT NULL DEFAULT '[]', -- JSON array of objects
	search_name        TEXT NOT NULL,                -- lower-cased names, for case-insensitive search
	created_at         TEXT NOT NULL,
	updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX patients_team_name ON patients (team_id, last_name, first_name);

CREATE TABLE templates (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	sections    TEXT NOT NULL -- JSON array of headings
) STRICT;

CREATE TABLE progress_notes (
	id                         INTEGER PRIMARY KEY,
	team_id                    INTEGER NOT NULL REFERENCES teams (id),
	user_id                    INTEGER NOT NULL REFERENCES users (id),
	patient_id                 INTEGER REFERENCES patients (id) ON DELETE SET NULL,
	template_id                INTEGER NOT NULL REFERENCES templates (id),
	name                       TEXT NOT NULL,
	source_text                TEXT,            -- the `note` of a text note: its transcription-to-be
	context                    TEXT,
	documents                  TEXT NOT NULL DEFAULT '[]',
	transcription              TEXT,
	analysis                   TEXT,
	codes                      TEXT,            -- JSON {icd10, cpt}
	screeners                  TEXT,            -- JSON array
	audio_file                 TEXT,            -- name inside <dir>/audio
	audio_content_type         TEXT,
	audio_size                 INTEGER,
	audio_duration             REAL,            -- seconds, known once transcribed
	audio_uploaded_at          TEXT,
	audio_expires_at           TEXT,
	signed_at                  TEXT,
	transcription_started_at   TEXT,
	transcription_completed_at TEXT,
	analysis_started_at        TEXT,
	analysis_completed_at      TEXT,
	error_state                TEXT,
	created_at                 TEXT NOT NULL,
	updated_at                 TEXT NOT NULL
) STRICT;
CREATE INDEX progress_notes_team_created ON progress_notes (team_id, created_at, id);
CREATE INDEX progress_notes_patient ON progress_notes (patient_id);
-- The pipeline's work list: notes neither finished nor failed.
CREATE INDEX progress_notes_pending ON progress_notes (id)
	WHERE analysis_completed_at IS NULL AND error_state IS NULL;

-- Audio transcribed outside notes, for billing usage: files sent to POST /v1/transcriptions and live
-- sessions.
CREATE TABLE transcription_usage (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	source     TEXT NOT NULL CHECK (source IN ('file', 'live')),
	duration   REAL NOT NULL, -- seconds
	created_at TEXT NOT NULL
) STRICT;

-- Single-use tokens for opening one live transcription session.
CREATE TABLE streaming_tokens (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash BLOB NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT
) STRICT;

-- One row per Idempotency-Key and user. status is NULL while the first request is in flight; boot_id
-- names the process that claimed it, so a claim left by a crashed process can be taken over (its effect
-- and its stored response are written in one transaction, so an unfinished claim had no effect).
CREATE TABLE idempotency_keys (
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	route      TEXT NOT NULL,
	boot_id    TEXT NOT NULL,
	status     INTEGER,
	body       BLOB,
	effects    INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL,
	PRIMARY KEY (user_id, key)
) STRICT;
