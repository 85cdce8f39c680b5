-- The life of an encounter after capture (DESIGN.md "One encounter, end to
-- end"): the account it belongs to, the template and context of its note,
-- consent, the server's note once drafted, and the clinician's local edits.
--
-- scope: the account (server and user) that recorded it; its jobs run only
-- in a session of that account. template_id: the note template (model_id),
-- 0 for the server's default. note_id: the server's progress note, 0 until
-- created. note: the server's note (JSON) as last read, for codes,
-- screeners and status. draft: the note text as the clinician has it;
-- draft_rev counts local edits and sent_rev the last one the server has.
-- reason: why the encounter needs attention, '' otherwise.
ALTER TABLE encounters ADD COLUMN scope       TEXT    NOT NULL DEFAULT '';
ALTER TABLE encounters ADD COLUMN template_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE encounters ADD COLUMN context     TEXT    NOT NULL DEFAULT '';
ALTER TABLE encounters ADD COLUMN consent_at  TEXT    NOT NULL DEFAULT '';
ALTER TABLE encounters ADD COLUMN consent_by  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE encounters ADD COLUMN note_id     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE encounters ADD COLUMN note        TEXT    NOT NULL DEFAULT '';
ALTER TABLE encounters ADD COLUMN draft       TEXT    NOT NULL DEFAULT '';
ALTER TABLE encounters ADD COLUMN draft_rev   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE encounters ADD COLUMN sent_rev    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE encounters ADD COLUMN signed_at   TEXT    NOT NULL DEFAULT '';
ALTER TABLE encounters ADD COLUMN reason      TEXT    NOT NULL DEFAULT '';

-- turns are the final transcript turns of an encounter, at absolute sample
-- offsets of its journal (16 kHz), from the live stream or a gap upload.
-- words: JSON [{text, start, end, confidence}] with absolute sample times.
-- IF NOT EXISTS for the same reason as 0003.
CREATE TABLE IF NOT EXISTS turns (
    encounter_id TEXT    NOT NULL REFERENCES encounters (id) ON DELETE CASCADE,
    start_sample INTEGER NOT NULL CHECK (start_sample >= 0),
    end_sample   INTEGER NOT NULL,
    text         TEXT    NOT NULL,
    words        TEXT    NOT NULL DEFAULT '[]',
    source       TEXT    NOT NULL CHECK (source IN ('live', 'gap')),
    PRIMARY KEY (encounter_id, start_sample),
    CHECK (end_sample >= start_sample)
) STRICT;

-- coverage is the ledger of audio that has final text (or that the server
-- confirmed it finished, silence included): disjoint, merged ranges
-- [start_sample, end_sample) per encounter. What it lacks at End becomes
-- transcribe-gap jobs.
CREATE TABLE IF NOT EXISTS coverage (
    encounter_id TEXT    NOT NULL REFERENCES encounters (id) ON DELETE CASCADE,
    start_sample INTEGER NOT NULL CHECK (start_sample >= 0),
    end_sample   INTEGER NOT NULL,
    PRIMARY KEY (encounter_id, start_sample),
    CHECK (end_sample > start_sample)
) STRICT;
