-- GPU pods: one row per deployed machine with the offer, provider and hourly price
-- billed (fixed at deploy time), its state, the prepaid hold and how many metering
-- intervals were charged; and each pod's state history. Amounts are integer micro-USD.
CREATE TABLE pods (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    name             TEXT NOT NULL,
    offer_id         TEXT NOT NULL,
    provider         TEXT NOT NULL,
    price_per_hour   BIGINT  NOT NULL CHECK (price_per_hour > 0),
    state            TEXT NOT NULL CHECK (state IN ('requested', 'provisioning', 'running',
                         'stopping', 'stopped', 'terminated', 'failed')),
    client_token     TEXT NOT NULL UNIQUE,
    machine_ref      TEXT,
    hold_id          TEXT,
    failure          TEXT,
    billed_intervals BIGINT  NOT NULL DEFAULT 0 CHECK (billed_intervals >= 0),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    running_since    TIMESTAMPTZ,
    stopped_at       TIMESTAMPTZ
);
CREATE INDEX pods_by_user ON pods (user_id, created_at);
CREATE INDEX pods_by_state ON pods (state);

CREATE TABLE pod_events (
    id         TEXT PRIMARY KEY NOT NULL,
    pod_id     TEXT NOT NULL REFERENCES pods (id),
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX pod_events_by_pod ON pod_events (pod_id, at);
