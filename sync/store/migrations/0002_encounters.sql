-- encounters are the visits recorded or imported on this computer. Each has a
-- journal folder (dir, relative to the profile folder) holding its audio.
-- state is lowercase (recording, paused, ended, recovered, and the later
-- steps of DESIGN.md); it has no CHECK so that those steps need no table
-- rebuild, and the app validates it. patient_id is NULL when no patient was
-- chosen. Times are UTC, fixed-width RFC 3339 with microseconds, so that
-- text order is time order.
CREATE TABLE encounters (
    id          TEXT    PRIMARY KEY NOT NULL,
    patient_id  INTEGER,
    state       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    ended_at    TEXT    NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    device      TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL CHECK (source IN ('mic', 'import')),
    dir         TEXT    NOT NULL
) STRICT;

CREATE INDEX encounters_by_created ON encounters (created_at DESC, id DESC);

-- Open encounters (a crash leaves them recording or paused) are looked up
-- at every start.
CREATE INDEX encounters_by_state ON encounters (state);
