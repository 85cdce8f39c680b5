-- EHR connections (DESIGN.md "EHR connectors"): one per EHR kind per
-- profile. Credentials never live here (they are in the OS keyring); these
-- tables hold the connection's settings and state, its log, the EHR's
-- providers and roster as last read, the provider mapping and every push.
-- Times are UTC, fixed-width RFC 3339 with microseconds, '' for never.

-- ehr_version counts the signs and unsigns of an encounter's note: the
-- "note version" a push belongs to, so each version reaches each EHR once.
ALTER TABLE encounters ADD COLUMN ehr_version INTEGER NOT NULL DEFAULT 0;

-- state: not-connected, test, active, needs-attention, expired.
-- base_url: what the admin connected to (OAuth: the issuer); api_url: the
-- chart API (OAuth; '' elsewhere); token_endpoint: found by discovery.
-- push_*: the push settings. roster_since: the EHR's own clock value to pass
-- to the next roster read. test_encounter and test_job: the test push of a
-- connection in test mode; test_confirmed_at: when the admin confirmed it.
CREATE TABLE IF NOT EXISTS ehr_connections (
    kind              TEXT    PRIMARY KEY NOT NULL CHECK (kind <> ''),
    state             TEXT    NOT NULL CHECK (state <> ''),
    base_url          TEXT    NOT NULL DEFAULT '',
    api_url           TEXT    NOT NULL DEFAULT '',
    token_endpoint    TEXT    NOT NULL DEFAULT '',
    account_name      TEXT    NOT NULL DEFAULT '',
    account_user      TEXT    NOT NULL DEFAULT '',
    account_location  TEXT    NOT NULL DEFAULT '',
    subdomain         TEXT    NOT NULL DEFAULT '',
    location_id       TEXT    NOT NULL DEFAULT '',
    push_when         TEXT    NOT NULL DEFAULT 'sign',
    push_what         TEXT    NOT NULL DEFAULT 'note-codes-metadata',
    push_update       TEXT    NOT NULL DEFAULT 'append',
    connected_at      TEXT    NOT NULL DEFAULT '',
    last_read_at      TEXT    NOT NULL DEFAULT '',
    last_write_at     TEXT    NOT NULL DEFAULT '',
    roster_at         TEXT    NOT NULL DEFAULT '',
    roster_since      TEXT    NOT NULL DEFAULT '',
    reason            TEXT    NOT NULL DEFAULT '',
    what_to_do        TEXT    NOT NULL DEFAULT '',
    test_encounter    TEXT    NOT NULL DEFAULT '',
    test_job          INTEGER NOT NULL DEFAULT 0,
    test_confirmed_at TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ehr_log is each connection's log for the panel: never patient names,
-- tokens or keys. Only the latest 50 per kind are kept.
CREATE TABLE IF NOT EXISTS ehr_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    at      TEXT    NOT NULL,
    error   INTEGER NOT NULL DEFAULT 0 CHECK (error IN (0, 1)),
    message TEXT    NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS ehr_log_by_kind ON ehr_log (kind, id DESC);

-- ehr_providers are the EHR's clinicians as last read.
CREATE TABLE IF NOT EXISTS ehr_providers (
    kind  TEXT NOT NULL,
    id    TEXT NOT NULL,
    name  TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, id)
) STRICT;

-- ehr_provider_map pairs a Nextvisit clinician (user id) with an EHR
-- provider, as the admin confirmed it. It outlives a disconnect, so a
-- reconnect finds the mapping as it was.
CREATE TABLE IF NOT EXISTS ehr_provider_map (
    kind         TEXT    NOT NULL,
    clinician_id INTEGER NOT NULL,
    provider_id  TEXT    NOT NULL CHECK (provider_id <> ''),
    confirmed_at TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (kind, clinician_id)
) STRICT;

-- ehr_patients is the EHR's roster as last read; patient_id links a row to
-- the Nextvisit patient it is (0 when none is known).
CREATE TABLE IF NOT EXISTS ehr_patients (
    kind          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    first_name    TEXT    NOT NULL DEFAULT '',
    middle_name   TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    date_of_birth TEXT    NOT NULL DEFAULT '',
    updated_at    TEXT    NOT NULL DEFAULT '',
    patient_id    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, id)
) STRICT;

CREATE INDEX IF NOT EXISTS ehr_patients_by_link ON ehr_patients (patient_id) WHERE patient_id <> 0;

-- ehr_pushes are the notes pushed: one per (kind, encounter, note version),
-- which is what makes a push one effect. content is the text as sent.
-- status: pending, confirmed or failed (as the EHR last said).
CREATE TABLE IF NOT EXISTS ehr_pushes (
    kind           TEXT    NOT NULL,
    encounter_id   TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event          TEXT    NOT NULL CHECK (event IN ('sign', 'unsign')),
    ref            TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'failed')),
    content        TEXT    NOT NULL,
    ehr_patient_id TEXT    NOT NULL,
    patient_name   TEXT    NOT NULL DEFAULT '',
    provider_id    TEXT    NOT NULL,
    provider_name  TEXT    NOT NULL DEFAULT '',
    clinician      TEXT    NOT NULL DEFAULT '',
    visit_date     TEXT    NOT NULL,
    pushed_at      TEXT    NOT NULL,
    PRIMARY KEY (kind, encounter_id, version)
) STRICT;

CREATE INDEX IF NOT EXISTS ehr_pushes_by_encounter ON ehr_pushes (encounter_id, pushed_at);
