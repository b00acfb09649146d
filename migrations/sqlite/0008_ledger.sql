-- Double-entry ledger in integer micro-USD (see docs/ledger.md).
--
-- `balance` of an account is the cached sum of its posted entries, credits minus debits
-- (a wallet's balance is what the user owns). `pending_debits` / `pending_credits` cache
-- the unresolved holds: a hold is a pending transfer from a wallet (pending debit) to the
-- holds account (pending credit). A wallet's available funds are
-- `balance - pending_debits` and never negative.
CREATE TABLE ledger_accounts (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN
                        ('wallet', 'holds', 'revenue', 'provider_costs', 'payment_clearing', 'refunds')),
    owner_id        TEXT REFERENCES users (id),
    currency        TEXT NOT NULL CHECK (currency = 'USD'),
    balance         INTEGER NOT NULL DEFAULT 0,
    pending_debits  INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
    pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
    created_at      TEXT NOT NULL,
    CHECK ((kind = 'wallet') = (owner_id IS NOT NULL)),
    CHECK (kind <> 'wallet' OR balance - pending_debits >= 0)
);
CREATE UNIQUE INDEX ledger_accounts_by_owner ON ledger_accounts (owner_id, currency);

-- Posted transactions; `(scope, idempotency_key)` is the operation that posted it.
-- `metadata` is a canonical JSON object.
CREATE TABLE ledger_transactions (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    scope           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    UNIQUE (scope, idempotency_key)
);

-- The legs of a transaction: never updated or deleted (corrections are reversing
-- transactions); `gpubroker ledger verify` compares them with the audit chain.
CREATE TABLE ledger_entries (
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    leg            INTEGER NOT NULL,
    account_id     TEXT NOT NULL REFERENCES ledger_accounts (id),
    side           TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (transaction_id, leg)
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, transaction_id);

-- Funds reserved on a wallet until captured (at most `amount`), voided or expired.
CREATE TABLE ledger_holds (
    id                     TEXT PRIMARY KEY NOT NULL,
    wallet_id              TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount                 INTEGER NOT NULL CHECK (amount > 0),
    captured               INTEGER NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    status                 TEXT NOT NULL CHECK (status IN ('pending', 'captured', 'voided', 'expired')),
    expires_at             TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    resolved_at            TEXT,
    capture_transaction_id TEXT REFERENCES ledger_transactions (id),
    metadata               TEXT NOT NULL
);
CREATE INDEX ledger_holds_by_wallet ON ledger_holds (wallet_id, status);
CREATE INDEX ledger_holds_due ON ledger_holds (status, expires_at);

-- Every ledger operation by idempotency key: the same key again returns `response` (the
-- first result, JSON); the same key with another `request_hash` is refused.
CREATE TABLE ledger_idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    operation    TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
