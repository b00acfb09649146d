-- Catalog: current offers (closed when they vanish), their price history, source health.
-- Money is BIGINT micro-USD per hour; times are TIMESTAMPTZ.
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
    gpu_memory_gb    DOUBLE PRECISION,
    vcpus            DOUBLE PRECISION,
    ram_gb           DOUBLE PRECISION,
    disk_gb          DOUBLE PRECISION,
    price_micro      BIGINT,
    spot_price_micro BIGINT,
    availability     TEXT NOT NULL,
    extras           TEXT NOT NULL,
    first_seen       TIMESTAMPTZ NOT NULL,
    last_changed     TIMESTAMPTZ NOT NULL,
    closed_at        TIMESTAMPTZ
);
CREATE INDEX offers_live_by_source ON offers (source) WHERE closed_at IS NULL;

CREATE TABLE offer_price_changes (
    id               BIGSERIAL PRIMARY KEY,
    offer_id         TEXT NOT NULL REFERENCES offers (id),
    observed_at      TIMESTAMPTZ NOT NULL,
    price_micro      BIGINT,
    spot_price_micro BIGINT,
    availability     TEXT NOT NULL
);
CREATE INDEX offer_price_changes_by_offer ON offer_price_changes (offer_id, observed_at);

CREATE TABLE source_health (
    source           TEXT PRIMARY KEY NOT NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL,
    last_success_at  TIMESTAMPTZ,
    last_error       TEXT,
    last_error_at    TIMESTAMPTZ,
    last_latency_ms  BIGINT,
    successes        BIGINT NOT NULL,
    failures         BIGINT NOT NULL,
    live_offers      INTEGER NOT NULL
);
