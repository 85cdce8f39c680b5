-- The NexHealth model's state: one institution's locations, providers and patients, the documents
-- written to patients, and Idempotency-Key records. Times are UTC text in one fixed-width layout, so
-- they sort as text.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY NOT NULL
) STRICT;

CREATE TABLE locations (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL
) STRICT;

CREATE TABLE providers (
	id          INTEGER PRIMARY KEY,
	first_name  TEXT NOT NULL,
	middle_name TEXT NOT NULL,
	last_name   TEXT NOT NULL,
	suffix      TEXT NOT NULL,
	email       TEXT NOT NULL,
	npi         TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE provider_locations (
	provider_id INTEGER NOT NULL REFERENCES providers (id),
	location_id INTEGER NOT NULL REFERENCES locations (id),
	PRIMARY KEY (provider_id, location_id)
) STRICT;

CREATE TABLE patients (
	id             INTEGER PRIMARY KEY,
	location_id    INTEGER NOT NULL REFERENCES locations (id),
	provider_id    INTEGER REFERENCES providers (id),
	first_name     TEXT NOT NULL,
	middle_name    TEXT NOT NULL,
	last_name      TEXT NOT NULL,
	preferred_name TEXT NOT NULL,
	gender         TEXT NOT NULL,
	date_of_birth  TEXT NOT NULL,
	phone_number   TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL
) STRICT;

CREATE INDEX patients_location ON patients (location_id, updated_at);

-- confirm_at is when the health record system takes the document (accepted + the processing delay);
-- until then it is pending, afterwards its outcome.
CREATE TABLE documents (
	id               INTEGER PRIMARY KEY,
	patient_id       INTEGER NOT NULL REFERENCES patients (id),
	location_id      INTEGER NOT NULL REFERENCES locations (id),
	document_type_id INTEGER,
	provider_id      INTEGER REFERENCES providers (id),
	visit_date       TEXT,
	file_name        TEXT NOT NULL,
	content          BLOB NOT NULL,
	outcome          TEXT NOT NULL CHECK (outcome IN ('completed', 'failed')),
	idempotency_key  TEXT,
	created_at       TEXT NOT NULL,
	confirm_at       TEXT NOT NULL
) STRICT;

CREATE INDEX documents_patient ON documents (patient_id);

CREATE TABLE idempotency_keys (
	key        TEXT PRIMARY KEY,
	route      TEXT NOT NULL,
	boot_id    TEXT NOT NULL,
	status     INTEGER,
	body       BLOB,
	effects    INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
) STRICT;
