-- Leader leases for singleton workers (one ingest loop per source, maintenance sweeps).
-- One row per lease name; `token` is the fencing token, raised on every change of
-- holder (and on re-acquiring after expiry), never lowered.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
