-- Ingest schema: logs, the metric series catalogue, one point table per
-- OTLP point type, and the ingest ledger. The same tables on every tier;
-- where TimescaleDB is installed, the time-keyed tables become hypertables.

CREATE TABLE logs (
    time                      timestamptz NOT NULL,
    observed_time             timestamptz,
    service                   text        NOT NULL,
    severity_number           smallint    NOT NULL DEFAULT 0,
    severity_text             text        NOT NULL DEFAULT '',
    severity_inferred         boolean     NOT NULL DEFAULT false,
    body                      text,
    body_value                jsonb,
    attributes                jsonb       NOT NULL DEFAULT '{}',
    resource                  jsonb       NOT NULL DEFAULT '{}',
    scope_name                text        NOT NULL DEFAULT '',
    scope_version             text        NOT NULL DEFAULT '',
    scope_attributes          jsonb       NOT NULL DEFAULT '{}',
    trace_id                  text,
    span_id                   text,
    flags                     bigint      NOT NULL DEFAULT 0,
    dropped_attributes_count  bigint      NOT NULL DEFAULT 0,
    event_name                text        NOT NULL DEFAULT '',
    schema_url                text        NOT NULL DEFAULT '',
    pattern_id                bigint,
    tags                      text[]
);

COMMENT ON COLUMN logs.body IS
    'the body as text: the string itself, or the JSON text of a structured body';
COMMENT ON COLUMN logs.body_value IS
    'the body as JSON when it is not a plain string (map, array, number, bytes)';

CREATE TABLE metric_series (
    series_id         bigint      PRIMARY KEY,
    name              text        NOT NULL,
    kind              text        NOT NULL,
    unit              text        NOT NULL DEFAULT '',
    description       text        NOT NULL DEFAULT '',
    temporality       text,
    is_monotonic      boolean,
    service           text        NOT NULL,
    resource          jsonb       NOT NULL DEFAULT '{}',
    scope_name        text        NOT NULL DEFAULT '',
    scope_version     text        NOT NULL DEFAULT '',
    scope_attributes  jsonb       NOT NULL DEFAULT '{}',
    attributes        jsonb       NOT NULL DEFAULT '{}',
    metadata          jsonb       NOT NULL DEFAULT '{}',
    schema_url        text        NOT NULL DEFAULT '',
    first_seen        timestamptz NOT NULL DEFAULT now(),
    CHECK (kind IN ('gauge', 'sum', 'histogram', 'exponential_histogram', 'summary')),
    CHECK (temporality IS NULL OR temporality IN ('delta', 'cumulative', 'unspecified'))
);

CREATE INDEX metric_series_name_idx ON metric_series (name, service);
CREATE INDEX metric_series_attributes_idx ON metric_series USING gin (attributes);

-- Gauge and sum points. value holds every point as a double; int_value
-- keeps an integer point exactly, since a double loses precision past 2^53.
CREATE TABLE metric_points (
    time         timestamptz NOT NULL,
    series_id    bigint      NOT NULL,
    start_time   timestamptz,
    value        double precision NOT NULL,
    int_value    bigint,
    flags        bigint      NOT NULL DEFAULT 0,
    exemplars    jsonb
);

CREATE TABLE metric_histograms (
    time           timestamptz NOT NULL,
    series_id      bigint      NOT NULL,
    start_time     timestamptz,
    count          bigint      NOT NULL,
    sum            double precision,
    min            double precision,
    max            double precision,
    bounds         double precision[] NOT NULL,
    bucket_counts  bigint[]    NOT NULL,
    flags          bigint      NOT NULL DEFAULT 0,
    exemplars      jsonb
);

CREATE TABLE metric_exp_histograms (
    time             timestamptz NOT NULL,
    series_id        bigint      NOT NULL,
    start_time       timestamptz,
    count            bigint      NOT NULL,
    sum              double precision,
    min              double precision,
    max              double precision,
    scale            integer     NOT NULL,
    zero_count       bigint      NOT NULL,
    zero_threshold   double precision NOT NULL DEFAULT 0,
    positive_offset  integer     NOT NULL DEFAULT 0,
    positive_counts  bigint[]    NOT NULL,
    negative_offset  integer     NOT NULL DEFAULT 0,
    negative_counts  bigint[]    NOT NULL,
    flags            bigint      NOT NULL DEFAULT 0,
    exemplars        jsonb
);

CREATE TABLE metric_summaries (
    time             timestamptz NOT NULL,
    series_id        bigint      NOT NULL,
    start_time       timestamptz,
    count            bigint      NOT NULL,
    sum              double precision NOT NULL,
    quantiles        double precision[] NOT NULL,
    quantile_values  double precision[] NOT NULL,
    flags            bigint      NOT NULL DEFAULT 0
);

-- One row per minute, service, signal and outcome, summed by every process.
CREATE TABLE ingest_ledger (
    bucket    timestamptz NOT NULL,
    service   text        NOT NULL,
    signal    text        NOT NULL,
    outcome   text        NOT NULL,
    reason    text        NOT NULL DEFAULT '',
    records   bigint      NOT NULL DEFAULT 0,
    requests  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, service, signal, outcome, reason),
    CHECK (outcome IN ('accepted', 'rejected', 'refused'))
);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('logs', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
        PERFORM create_hypertable('metric_points', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
        PERFORM create_hypertable('metric_histograms', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
        PERFORM create_hypertable('metric_exp_histograms', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
        PERFORM create_hypertable('metric_summaries', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
    END IF;
END
$$;

CREATE INDEX logs_time_idx ON logs (time DESC);
CREATE INDEX logs_service_time_idx ON logs (service, time DESC);
CREATE INDEX logs_trace_id_idx ON logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX metric_points_series_time_idx ON metric_points (series_id, time DESC);
CREATE INDEX metric_histograms_series_time_idx
    ON metric_histograms (series_id, time DESC);
CREATE INDEX metric_exp_histograms_series_time_idx
    ON metric_exp_histograms (series_id, time DESC);
CREATE INDEX metric_summaries_series_time_idx
    ON metric_summaries (series_id, time DESC);
