-- GPU telemetry of pods. Each pod may have one agent token (its SHA-256 hex; the token
-- itself is shown once), with which the node agent posts GPU samples. Samples are kept
-- downsampled: one row per (pod, GPU, minute) with sums and counts, so averages merge
-- exactly however many posts a minute takes. `minute` is whole minutes since the Unix
-- epoch (UTC); rows older than the retention window are deleted by the maintenance worker.
CREATE TABLE pod_agent_tokens (
    pod_id     TEXT PRIMARY KEY NOT NULL REFERENCES pods (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT    NOT NULL
);

CREATE TABLE pod_telemetry (
    pod_id       TEXT NOT NULL REFERENCES pods (id),
    gpu_index    INTEGER NOT NULL CHECK (gpu_index >= 0),
    minute       INTEGER NOT NULL,
    uuid         TEXT NOT NULL,
    name         TEXT NOT NULL,
    samples      INTEGER NOT NULL CHECK (samples > 0),
    util_n       INTEGER NOT NULL DEFAULT 0,
    util_sum     REAL    NOT NULL DEFAULT 0,
    util_max     REAL,
    mem_n        INTEGER NOT NULL DEFAULT 0,
    mem_used_sum INTEGER NOT NULL DEFAULT 0,
    mem_used_max INTEGER,
    mem_total    INTEGER,
    temp_max     INTEGER,
    power_n      INTEGER NOT NULL DEFAULT 0,
    power_sum    REAL    NOT NULL DEFAULT 0,
    power_max    REAL,
    power_limit  REAL,
    last_at      TEXT    NOT NULL,
    PRIMARY KEY (pod_id, gpu_index, minute)
);
CREATE INDEX pod_telemetry_by_minute ON pod_telemetry (minute);
