-- Tamper-evident audit log: a hash chain (see src/domain/audit.rs for the encoding).
-- `seq` is assigned by the application, in order, from 1; `detail` is a canonical JSON
-- object; `prev_hash` and `hash` are lowercase hex SHA-256.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- Recorded heads of the chain; verify compares the newest with the log to catch a
-- truncated tail.
CREATE TABLE audit_checkpoints (
    seq  BIGINT PRIMARY KEY NOT NULL,
    hash TEXT NOT NULL,
    at   TIMESTAMPTZ NOT NULL
);
