-- Account lifecycle. `session_epoch` is carried by access tokens as `sep`; raising it
-- (password change or reset, disable, role change) invalidates every access token issued
-- before, without waiting for them to expire. `account_tokens` holds single-use email
-- verification and password-reset tokens as the SHA-256 hex of the token, never the token.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

CREATE TABLE account_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);
