-- patient_ids remembers which server id a patient added offline (a negative
-- local id) was given once its create-patient job took effect, so anything
-- made while it was still local (an encounter, a job payload naming it) can
-- find the real patient later. IF NOT EXISTS for the same reason as 0003.
CREATE TABLE IF NOT EXISTS patient_ids (
    scope     TEXT    NOT NULL,
    local_id  INTEGER NOT NULL CHECK (local_id < 0),
    server_id INTEGER NOT NULL CHECK (server_id > 0),
    PRIMARY KEY (scope, local_id)
) STRICT;
