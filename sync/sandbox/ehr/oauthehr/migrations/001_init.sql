-- One EHR's chart as the sandbox models it: its admins, providers, patients and the notes pushed into
-- it, plus the OAuth grants (secrets kept only as SHA-256 hashes) and Idempotency-Key answers.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE admins (
	id            INTEGER PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	password_hash TEXT NOT NULL
);

CREATE TABLE providers (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	email       TEXT NOT NULL,
	credentials TEXT NOT NULL
);

CREATE TABLE patients (
	id             TEXT PRIMARY KEY,
	first_name     TEXT NOT NULL,
	middle_name    TEXT NOT NULL,
	last_name      TEXT NOT NULL,
	preferred_name TEXT NOT NULL,
	gender         TEXT NOT NULL,
	date_of_birth  TEXT NOT NULL,
	updated_at     TEXT NOT NULL
);
CREATE INDEX patients_updated_at ON patients (updated_at);

CREATE TABLE documents (
	id          INTEGER PRIMARY KEY,
	patient_id  TEXT NOT NULL REFERENCES patients (id),
	provider_id TEXT NOT NULL REFERENCES providers (id),
	visit_date  TEXT NOT NULL,
	external_id TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);
CREATE INDEX documents_patient ON documents (patient_id);

-- Every version of a document is kept: a PUT adds one, so the chart keeps its history.
CREATE TABLE document_versions (
	document_id     INTEGER NOT NULL REFERENCES documents (id),
	version         INTEGER NOT NULL,
	content         TEXT NOT NULL,
	content_type    TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	PRIMARY KEY (document_id, version)
);

CREATE TABLE oauth_tokens (
	id                    INTEGER PRIMARY KEY,
	client_id             TEXT NOT NULL,
	user_id               TEXT NOT NULL,
	scope                 TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	code_hash             BLOB UNIQUE,
	code_expires_at       TEXT,
	access_hash           BLOB UNIQUE,
	access_expires_at     TEXT,
	refresh_hash          BLOB UNIQUE,
	refresh_expires_at    TEXT,
	created_at            TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
	user_id      TEXT NOT NULL,
	key          TEXT NOT NULL,
	route        TEXT NOT NULL,
	request_hash BLOB NOT NULL,
	status       INTEGER NOT NULL,
	body         BLOB NOT NULL,
	effects      INTEGER NOT NULL,
	created_at   TEXT NOT NULL,
	PRIMARY KEY (user_id, key)
);
