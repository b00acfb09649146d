-- GPU telemetry of pods. Each pod may have one agent token (its SHA-256 hex; the token
-- itself is shown once), with which the node agent posts GPU samples. Samples are kept
-- downsampled: one row per (pod, GPU, minute) with sums and counts, so averages merge
-- exactly however many posts a minute takes. `minute` is whole minutes since the Unix
-- epoch (UTC); rows older than the retention window are deleted by the maintenance worker.
CREATE TABLE pod_agent_tokens (
    pod_id     TEXT PRIMARY KEY NOT NULL REFERENCES pods (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE pod_telemetry (
    pod_id       TEXT NOT NULL REFERENCES pods (id),
    gpu_index    BIGINT  NOT NULL CHECK (gpu_index >= 0),
    minute       BIGINT  NOT NULL,
    uuid         TEXT NOT NULL,
    name         TEXT NOT NULL,
    samples      BIGINT  NOT NULL CHECK (samples > 0),
    util_n       BIGINT  NOT NULL DEFAULT 0,
    util_sum     DOUBLE PRECISION NOT NULL DEFAULT 0,
    util_max     DOUBLE PRECISION,
    mem_n        BIGINT  NOT NULL DEFAULT 0,
    mem_used_sum BIGINT  NOT NULL DEFAULT 0,
    mem_used_max BIGINT,
    mem_total    BIGINT,
    temp_max     BIGINT,
    power_n      BIGINT  NOT NULL DEFAULT 0,
    power_sum    DOUBLE PRECISION NOT NULL DEFAULT 0,
    power_max    DOUBLE PRECISION,
    power_limit  DOUBLE PRECISION,
    last_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pod_id, gpu_index, minute)
);
CREATE INDEX pod_telemetry_by_minute ON pod_telemetry (minute);
