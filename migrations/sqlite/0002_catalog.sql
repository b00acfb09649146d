-- Catalog: current offers (closed when they vanish), their price history, source health.
-- Money is INTEGER micro-USD per hour; times are RFC 3339 UTC text.
CREATE TABLE offers (
    id               TEXT PRIMARY KEY NOT NULL,
    source           TEXT NOT NULL,
    provider         TEXT NOT NULL,
    instance_type    TEXT NOT NULL,
    region           TEXT NOT NULL,
    zone             TEXT,
    country          TEXT,
    continent        TEXT,
    gpu_model        TEXT,
    gpu_raw          TEXT NOT NULL,
    gpu_count        INTEGER NOT NULL,
    gpu_memory_gb    REAL,
    vcpus            REAL,
    ram_gb           REAL,
    disk_gb          REAL,
    price_micro      INTEGER,
    spot_price_micro INTEGER,
    availability     TEXT NOT NULL,
    extras           TEXT NOT NULL,
    first_seen       TEXT NOT NULL,
    last_changed     TEXT NOT NULL,
    closed_at        TEXT
);
CREATE INDEX offers_live_by_source ON offers (source) WHERE closed_at IS NULL;

CREATE TABLE offer_price_changes (
    id               INTEGER PRIMARY KEY,
    offer_id         TEXT NOT NULL REFERENCES offers (id),
    observed_at      TEXT NOT NULL,
    price_micro      INTEGER,
    spot_price_micro INTEGER,
    availability     TEXT NOT NULL
);
CREATE INDEX offer_price_changes_by_offer ON offer_price_changes (offer_id, observed_at);

CREATE TABLE source_health (
    source           TEXT PRIMARY KEY NOT NULL,
    last_attempt_at  TEXT NOT NULL,
    last_success_at  TEXT,
    last_error       TEXT,
    last_error_at    TEXT,
    last_latency_ms  INTEGER,
    successes        INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    live_offers      INTEGER NOT NULL
);
