-- The encrypted configuration store. `config_keyring` holds the data keys, each sealed
-- with the master key (AES-256-GCM, AAD `gpubroker-keyring-v<version>`) as
-- `<nonce b64>.<ciphertext+tag b64>`; the newest row with `retired_at` NULL seals new values.
-- `config_entries` holds one typed entry per key: plain values in `value`, secrets in
-- `sealed` as `v<keyversion>.<nonce b64>.<ciphertext+tag b64>` (AAD = the key name).
-- Text only, no binary columns, so backups stay portable across backends.
CREATE TABLE config_keyring (
    version     BIGINT PRIMARY KEY NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    retired_at  TIMESTAMPTZ
);

CREATE TABLE config_entries (
    key         TEXT PRIMARY KEY NOT NULL,
    value_type  TEXT NOT NULL CHECK (value_type IN ('string', 'int', 'bool', 'json')),
    category    TEXT NOT NULL CHECK (category IN ('database', 'cache', 'security', 'api', 'feature', 'service', 'monitoring')),
    description TEXT NOT NULL,
    is_secret   BOOLEAN NOT NULL,
    value       TEXT,
    sealed      TEXT,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL,
    CHECK ((is_secret AND value IS NULL AND sealed IS NOT NULL)
        OR (NOT is_secret AND value IS NOT NULL AND sealed IS NULL))
);
CREATE INDEX config_entries_by_category ON config_entries (category, key);
