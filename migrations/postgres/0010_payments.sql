-- Payments: checkouts started with a gateway, verified gateway events (each processed
-- once), captured payments and their refunds, saved payment methods (gateway token and
-- last four digits only), gateway customers, subscriptions and invoices, and the stored
-- responses of money-moving requests sent with an Idempotency-Key. Amounts are integer
-- micro-USD like the ledger's.
CREATE TABLE payment_checkouts (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    gateway          TEXT NOT NULL,
    session_ref      TEXT,
    purpose          TEXT NOT NULL CHECK (purpose IN ('top_up', 'subscription')),
    plan_id          TEXT,
    billing_interval TEXT CHECK (billing_interval IN ('monthly', 'annual')),
    amount           BIGINT  NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'completed', 'failed', 'expired')),
    url              TEXT,
    success_url      TEXT,
    cancel_url       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    completed_at     TIMESTAMPTZ,
    UNIQUE (gateway, session_ref)
);
CREATE INDEX payment_checkouts_by_user ON payment_checkouts (user_id, created_at);

CREATE TABLE payments (
    id                    TEXT PRIMARY KEY NOT NULL,
    user_id               TEXT NOT NULL REFERENCES users (id),
    gateway               TEXT NOT NULL,
    payment_ref           TEXT NOT NULL,
    checkout_id           TEXT REFERENCES payment_checkouts (id),
    amount                BIGINT  NOT NULL CHECK (amount > 0),
    refunded              BIGINT  NOT NULL DEFAULT 0,
    currency              TEXT NOT NULL,
    ledger_transaction_id TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (gateway, payment_ref),
    CHECK (refunded >= 0 AND refunded <= amount)
);
CREATE INDEX payments_by_user ON payments (user_id, created_at);
CREATE INDEX payments_by_time ON payments (created_at);

CREATE TABLE payment_events (
    gateway      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ,
    outcome      TEXT,
    PRIMARY KEY (gateway, event_id)
);
CREATE INDEX payment_events_pending ON payment_events (processed_at, received_at);

CREATE TABLE refunds (
    id                      TEXT PRIMARY KEY NOT NULL,
    payment_id              TEXT NOT NULL REFERENCES payments (id),
    user_id                 TEXT NOT NULL REFERENCES users (id),
    amount                  BIGINT  NOT NULL CHECK (amount > 0),
    reason                  TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway_ref             TEXT,
    requested_by            TEXT NOT NULL,
    ledger_transaction_id   TEXT,
    reversal_transaction_id TEXT,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);
CREATE INDEX refunds_by_time ON refunds (created_at);

CREATE TABLE payment_methods (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    gateway    TEXT NOT NULL,
    method_ref TEXT NOT NULL,
    brand      TEXT,
    last4      TEXT CHECK (last4 IS NULL OR length(last4) = 4),
    exp_month  INTEGER,
    exp_year   INTEGER,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (gateway, method_ref)
);
CREATE INDEX payment_methods_by_user ON payment_methods (user_id);

CREATE TABLE payment_customers (
    user_id      TEXT NOT NULL REFERENCES users (id),
    gateway      TEXT NOT NULL,
    customer_ref TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, gateway),
    UNIQUE (gateway, customer_ref)
);

CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY NOT NULL,
    user_id              TEXT NOT NULL REFERENCES users (id),
    plan_id              TEXT NOT NULL,
    billing_interval     TEXT NOT NULL CHECK (billing_interval IN ('monthly', 'annual')),
    gateway              TEXT NOT NULL,
    subscription_ref     TEXT NOT NULL,
    checkout_id          TEXT REFERENCES payment_checkouts (id),
    period_start         TIMESTAMPTZ,
    paid_through         TIMESTAMPTZ,
    failed_through       TIMESTAMPTZ,
    cancel_at_period_end BOOLEAN   NOT NULL DEFAULT FALSE,
    canceled_at          TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (gateway, subscription_ref)
);
CREATE INDEX subscriptions_by_user ON subscriptions (user_id, created_at);

CREATE TABLE invoices (
    id                    TEXT PRIMARY KEY NOT NULL,
    user_id               TEXT NOT NULL REFERENCES users (id),
    subscription_id       TEXT REFERENCES subscriptions (id),
    gateway               TEXT NOT NULL,
    invoice_ref           TEXT NOT NULL,
    number                TEXT,
    amount                BIGINT  NOT NULL CHECK (amount >= 0),
    currency              TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('paid', 'payment_failed')),
    period_start          TIMESTAMPTZ NOT NULL,
    period_end            TIMESTAMPTZ NOT NULL,
    ledger_transaction_id TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (gateway, invoice_ref)
);
CREATE INDEX invoices_by_user ON invoices (user_id, created_at);

CREATE TABLE idempotency_requests (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    status_code INTEGER,
    response    TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_requests_by_time ON idempotency_requests (created_at);
