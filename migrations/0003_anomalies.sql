-- Anomaly detection: the score of every closed KPI bucket, the anomalies
-- found in them, the detectors' saved state, and operators' feedback.

-- One row per service, KPI and closed minute bucket. score is the combined
-- score in [0, 1] (one minus a tail probability); detectors holds the score
-- of each detector that looked at the bucket. warm is false during the cold
-- start, when the detectors do not score yet.
CREATE TABLE kpi_scores (
    bucket         timestamptz      NOT NULL,
    service        text             NOT NULL,
    kpi            text             NOT NULL,
    observed       double precision,
    expected       double precision,
    expected_low   double precision,
    expected_high  double precision,
    score          double precision NOT NULL,
    detectors      jsonb            NOT NULL DEFAULT '{}',
    warm           boolean          NOT NULL,
    anomalous      boolean          NOT NULL,
    PRIMARY KEY (service, kpi, bucket)
);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('kpi_scores', 'bucket',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
    END IF;
END
$$;

CREATE INDEX kpi_scores_bucket_idx ON kpi_scores (bucket DESC);

-- One row per episode: anomalous buckets of one series less than the
-- episode gap apart. ended_at is the end of the last anomalous bucket; the
-- observed and expected values are those of the peak bucket.
CREATE TABLE anomalies (
    id             bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service        text             NOT NULL,
    kpi            text             NOT NULL,
    started_at     timestamptz      NOT NULL,
    ended_at       timestamptz      NOT NULL,
    peak_at        timestamptz      NOT NULL,
    peak_score     double precision NOT NULL,
    observed       double precision,
    expected       double precision,
    expected_low   double precision,
    expected_high  double precision,
    detectors      text[]           NOT NULL,
    explanation    text             NOT NULL,
    feedback       text             CHECK (feedback IN ('false_positive', 'confirmed')),
    feedback_at    timestamptz,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    updated_at     timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX anomalies_started_idx ON anomalies (started_at DESC);
CREATE INDEX anomalies_series_idx ON anomalies (service, kpi, ended_at DESC);

-- The streaming detector of each series, pickled, with the last bucket it
-- learned from. Keyed by series, so any FlowGuard process can take over.
-- tolerance widens the expected range after false-positive feedback.
CREATE TABLE detector_state (
    service        text             NOT NULL,
    kpi            text             NOT NULL,
    format         integer          NOT NULL,
    state          bytea            NOT NULL,
    last_bucket    timestamptz      NOT NULL,
    buckets_seen   bigint           NOT NULL DEFAULT 0,
    warm           boolean          NOT NULL DEFAULT false,
    tolerance      double precision NOT NULL DEFAULT 1,
    updated_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (service, kpi)
);

-- The offline model of each service, with the data time it was trained up
-- to, so that it is retrained on schedule and never on the future.
CREATE TABLE offline_models (
    service        text             PRIMARY KEY,
    format         integer          NOT NULL,
    model          bytea            NOT NULL,
    trained_until  timestamptz      NOT NULL,
    trained_rows   integer          NOT NULL,
    updated_at     timestamptz      NOT NULL DEFAULT now()
);
