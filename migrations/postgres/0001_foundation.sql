-- Foundation: installation metadata (key/value), written at first start.
-- Conventions shared by both backends: ids are TEXT (UUID v7 or prefixed), money is
-- BIGINT micro-USD, times are TIMESTAMPTZ (UTC), no bytea columns (binary data is base64
-- TEXT) so backups are portable JSON.
CREATE TABLE app_meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
