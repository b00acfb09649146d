-- API keys: `gpuk_` + 32 random bytes (base64url). Only the SHA-256 hex of the whole key
-- is stored (`key_hash`), with the first 8 characters after `gpuk_` (`prefix`) so
-- owners can tell their keys apart. `scopes` is a space-separated subset of
-- `read trade admin`. Revoked keys stay for the record (`revoked_at`).
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);
