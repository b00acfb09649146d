-- The encrypted configuration store. `config_keyring` holds the data keys, each sealed
-- with the master key (AES-256-GCM, AAD `gpubroker-keyring-v<version>`) as
-- `<nonce b64>.<ciphertext+tag b64>`; the newest row with `retired_at` NULL seals new values.
-- `config_entries` holds one typed entry per key: plain values in `value`, secrets in
-- `sealed` as `v<keyversion>.<nonce b64>.<ciphertext+tag b64>` (AAD = the key name).
-- Text only, no binary columns, so backups stay portable across backends.
CREATE TABLE config_keyring (
    version     INTEGER PRIMARY KEY NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);

CREATE TABLE config_entries (
    key         TEXT PRIMARY KEY NOT NULL,
    value_type  TEXT NOT NULL CHECK (value_type IN ('string', 'int', 'bool', 'json')),
    category    TEXT NOT NULL CHECK (category IN ('database', 'cache', 'security', 'api', 'feature', 'service', 'monitoring')),
    description TEXT NOT NULL,
    is_secret   INTEGER NOT NULL CHECK (is_secret IN (0, 1)),
    value       TEXT,
    sealed      TEXT,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    CHECK ((is_secret = 1 AND value IS NULL AND sealed IS NOT NULL)
        OR (is_secret = 0 AND value IS NOT NULL AND sealed IS NULL))
);
CREATE INDEX config_entries_by_category ON config_entries (category, key);
