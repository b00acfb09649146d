-- Budgets: a spending limit per pod or per user per calendar month (UTC), with alerts at
-- 50, 75 and 90 % and auto-stop at 100 %. `subject` is 'month' or 'pod:<pod id>', one
-- budget per subject and user. An alert row is written once per (budget, period,
-- threshold), which makes each alert fire once however many replicas evaluate it.
-- Notifications are the user's durable inbox (budget alerts, pods stopped for money).
CREATE TABLE budgets (
    id              TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    subject         TEXT NOT NULL,
    pod_id          TEXT REFERENCES pods (id),
    limit_micro_usd BIGINT NOT NULL CHECK (limit_micro_usd > 0),
    auto_stop       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, subject)
);

CREATE TABLE budget_alerts (
    budget_id   TEXT NOT NULL REFERENCES budgets (id),
    period      TEXT NOT NULL,
    threshold   INTEGER NOT NULL CHECK (threshold IN (50, 75, 90, 100)),
    spent       BIGINT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (budget_id, period, threshold)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    read_at    TIMESTAMPTZ
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at);

-- Restarting a stopped pod begins a new run: `run` counts them, and each finished run's
-- metered span is kept in pod_runs so budgets count every run, not just the current one.
ALTER TABLE pods ADD COLUMN run BIGINT NOT NULL DEFAULT 0;
CREATE TABLE pod_runs (
    pod_id         TEXT NOT NULL REFERENCES pods (id),
    run            BIGINT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id),
    price_per_hour BIGINT NOT NULL,
    running_since  TIMESTAMPTZ NOT NULL,
    stopped_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pod_id, run)
);
CREATE INDEX pod_runs_by_user ON pod_runs (user_id, stopped_at);
