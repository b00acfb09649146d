-- Leader leases for singleton workers (one ingest loop per source, maintenance sweeps).
-- One row per lease name; `token` is the fencing token, raised on every change of
-- holder (and on re-acquiring after expiry), never lowered.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
