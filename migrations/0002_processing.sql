-- Processing: per-interval values beside the raw metric values, log
-- patterns, the KPI facts that feed the rollups, and the indexes the query
-- API needs. The rollups themselves are created by storage.rollups from one
-- SQL definition each, because their form depends on the tier.

-- The raw value stays in value / count / bucket_counts as sent; delta holds
-- the per-interval value and conversion says how it was found:
--   delta  the sender used delta temporality; delta = value
--   start  first point of a run whose start time is known; delta from zero
--   step   difference from the previous point of the same run
--   reset  a new run (new start time, or a decrease); delta from zero
--   raw    first point without a known start; no delta
--   late   older than a point already converted; no delta, so that the
--          sum of deltas never counts an increase twice
-- NULL means no conversion applies (gauges, non-monotonic cumulative sums).
ALTER TABLE metric_points
    ADD COLUMN delta       double precision,
    ADD COLUMN conversion  text;

ALTER TABLE metric_histograms
    ADD COLUMN delta_count          bigint,
    ADD COLUMN delta_sum            double precision,
    ADD COLUMN delta_bucket_counts  bigint[],
    ADD COLUMN conversion           text;

CREATE TABLE log_patterns (
    pattern_id  bigint      PRIMARY KEY,
    service     text        NOT NULL,
    template    text        NOT NULL,
    lookup_key  text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX log_patterns_lookup_idx ON log_patterns (service, lookup_key);
CREATE INDEX log_patterns_first_seen_idx ON log_patterns (first_seen, service);

-- One row per request-duration histogram point: the requests it counted,
-- how many were errors, their summed duration, and the smallest and largest
-- duration the point reports (for a cumulative point, over its whole run). Derived at ingest from
-- the per-interval values, so the rollups need no array arithmetic.
CREATE TABLE kpi_requests (
    time             timestamptz NOT NULL,
    service          text        NOT NULL,
    requests         bigint      NOT NULL,
    errors           bigint      NOT NULL,
    duration_sum_ms  double precision,
    min_ms           double precision,
    max_ms           double precision
);

-- One row per non-empty histogram bucket of those points: the bucket's
-- upper bound in milliseconds ('Infinity' for the overflow bucket).
CREATE TABLE kpi_latency (
    time     timestamptz      NOT NULL,
    service  text             NOT NULL,
    le_ms    double precision NOT NULL,
    count    bigint           NOT NULL
);

-- What FlowGuard itself materialises on tiers without continuous
-- aggregates, and the definition each rollup was built from.
CREATE TABLE rollup_state (
    name             text        PRIMARY KEY,
    definition_hash  text        NOT NULL,
    refreshed_until  timestamptz
);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('kpi_requests', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
        PERFORM create_hypertable('kpi_latency', 'time',
            chunk_time_interval => INTERVAL '1 day',
            create_default_indexes => false);
    ELSE
        -- The same bucketing function on plain PostgreSQL, so that rollup
        -- definitions and users' SQL read alike on every tier. Its origin
        -- matches TimescaleDB's default for buckets shorter than a month.
        CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz)
            RETURNS timestamptz
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            RETURN date_bin(bucket_width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    END IF;
END
$$;

CREATE INDEX kpi_requests_time_idx ON kpi_requests (time DESC);
CREATE INDEX kpi_latency_time_idx ON kpi_latency (time DESC);

-- The query API: series by name prefix (whatever the collation), and logs
-- by severity, pattern, tag, attribute and body text.
CREATE INDEX metric_series_name_prefix_idx ON metric_series (name text_pattern_ops);
CREATE INDEX logs_severity_time_idx ON logs (severity_number, time DESC);
CREATE INDEX logs_pattern_time_idx ON logs (pattern_id, time DESC)
    WHERE pattern_id IS NOT NULL;
CREATE INDEX logs_tags_idx ON logs USING gin (tags);
CREATE INDEX logs_attributes_idx ON logs USING gin (attributes jsonb_path_ops);

-- Substring search on the body uses a trigram index where pg_trgm (a
-- contrib extension) is offered; without it the search still works, slower.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX logs_body_trgm_idx ON logs USING gin (body gin_trgm_ops);
    ELSE
        RAISE NOTICE 'pg_trgm is not available: log body search runs unindexed';
    END IF;
END
$$;

-- The p-quantile of a histogram given as ascending upper bounds and the
-- count in each bucket, interpolated linearly inside the bucket that holds
-- the rank, so the answer always lies in that bucket. The first bucket
-- starts at zero (durations are not negative). When the smallest and
-- largest observations are known (low, high), each bucket is narrowed to
-- them, which still holds every observation: a histogram whose buckets are
-- far wider than its values then gives values near the truth. In the
-- overflow bucket the answer is its lower bound, the largest finite bound,
-- unless high is known.
CREATE FUNCTION histogram_quantile(q double precision,
                                   bounds double precision[],
                                   counts bigint[],
                                   low double precision DEFAULT NULL,
                                   high double precision DEFAULT NULL)
    RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    total  numeric := 0;
    rank   numeric;
    seen   numeric := 0;
    lower  double precision := greatest(coalesce(low, 0), 0);
    upper  double precision;
    i      integer;
BEGIN
    IF bounds IS NULL OR counts IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. coalesce(array_length(counts, 1), 0) LOOP
        total := total + coalesce(counts[i], 0);
    END LOOP;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    rank := greatest(least(q, 1), 0) * total;
    FOR i IN 1 .. array_length(counts, 1) LOOP
        upper := greatest(least(bounds[i], coalesce(high, bounds[i])), lower);
        IF counts[i] > 0 AND seen + counts[i] >= rank THEN
            IF upper = 'Infinity' THEN
                RETURN lower;
            END IF;
            RETURN lower + (upper - lower) * ((rank - seen) / counts[i]);
        END IF;
        seen := seen + coalesce(counts[i], 0);
        IF upper <> 'Infinity' THEN
            lower := upper;
        END IF;
    END LOOP;
    RETURN lower;
END
$$;

-- Audit of the cumulative-to-delta conversion: per series and point, the
-- raw value as sent, the per-interval value, and how it was found. For
-- histograms both are the count of observations.
CREATE VIEW metric_conversions AS
SELECT s.series_id, s.name, s.service, s.kind, s.temporality,
       p.time, p.start_time, p.value AS raw_value, p.delta,
       p.conversion, p.conversion = 'reset' AS is_reset
FROM metric_points p
JOIN metric_series s USING (series_id)
WHERE p.conversion IS NOT NULL
UNION ALL
SELECT s.series_id, s.name, s.service, s.kind, s.temporality,
       h.time, h.start_time, h.count::double precision,
       h.delta_count::double precision, h.conversion, h.conversion = 'reset'
FROM metric_histograms h
JOIN metric_series s USING (series_id)
WHERE h.conversion IS NOT NULL;
