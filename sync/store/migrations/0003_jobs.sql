-- jobs is the outbox (package sync/outbox): every change bound for a server
-- waits here until it has taken effect. Times are Unix milliseconds (UTC) so
-- the claim query compares integers. IF NOT EXISTS because a database rolled
-- back to an older schema version by hand (or by a test) may still hold the
-- table, and re-applying must not fail.
--
-- state: queued, running, done, needs-attention, cancelled.
-- group_key orders jobs: within a group they run strictly by id.
-- age_from is when the current retry window began (created, or the last
-- manual Retry); the maximum age is measured from it.
CREATE TABLE IF NOT EXISTS jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    group_key       TEXT    NOT NULL CHECK (group_key <> ''),
    payload         TEXT    NOT NULL,
    payload_version INTEGER NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'needs-attention', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    last_error      TEXT    NOT NULL DEFAULT '',
    what_to_do      TEXT    NOT NULL DEFAULT '',
    age_from        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- The unfinished jobs of each group, in order: finding every group's head
-- reads only this (small) partial index.
CREATE INDEX IF NOT EXISTS jobs_pending_by_group ON jobs (group_key, id)
    WHERE state IN ('queued', 'running', 'needs-attention');

-- Runnable candidates in enqueue order, without walking the done ones.
CREATE INDEX IF NOT EXISTS jobs_active ON jobs (id) WHERE state IN ('queued', 'running');

CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
