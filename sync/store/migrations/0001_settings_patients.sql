-- settings holds small per-profile values: the last server URL, the last email.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- patients caches the roster as last fetched from a server, so a patient can
-- be found offline. scope names the account the rows came from (server and
-- user), so a profile that signs in to two servers never mixes their rosters.
CREATE TABLE patients (
    scope         TEXT    NOT NULL,
    id            INTEGER NOT NULL,
    first_name    TEXT    NOT NULL,
    middle_name   TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL,
    date_of_birth TEXT    NOT NULL DEFAULT '', -- YYYY-MM-DD or ''
    gender        TEXT    NOT NULL DEFAULT '',
    updated_at    TEXT    NOT NULL DEFAULT '', -- the server's updated_at (RFC 3339) or ''
    fetched_at    TEXT    NOT NULL,            -- when Scribe last received the row (RFC 3339, UTC)
    PRIMARY KEY (scope, id)
) STRICT;

CREATE INDEX patients_by_name ON patients (scope, last_name COLLATE NOCASE, first_name COLLATE NOCASE);
