"""KPIs from a workload sent with the real OTel Python SDK, on every tier."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from tests.servers import Server, get_json
from tests.wait import until

# The bucket boundaries the HTTP semantic conventions advise, in seconds.
BOUNDS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5]

# (count, latency in seconds, status): 200 requests, 10 of them 5xx. Sorted,
# the 95th percentile (rank 190) is 80 ms, in the 75-100 ms bucket; the
# 99th (rank 198) is 300 ms, in 250-500 ms; the median 20 ms, in 10-25 ms.
WORKLOAD = [(180, 0.020, 200), (10, 0.080, 404), (10, 0.300, 503)]
EXPECTED = {"requests": 200, "errors": 10, "error_rate": 0.05}
QUANTILE_BUCKETS = {"p50_ms": (10, 25), "p95_ms": (75, 100), "p99_ms": (250, 500)}
LOG_SEVERITIES = (
    [SeverityNumber.ERROR] * 5 + [SeverityNumber.WARN] * 3 + [SeverityNumber.INFO] * 7
)


def _requests() -> list[tuple[float, int]]:
    out = [(latency, status) for n, latency, status in WORKLOAD for _ in range(n)]
    random.Random(3).shuffle(out)
    return out


def _send_requests(
    exporter: Any, service: str, bounds_s: list[float] | None = BOUNDS_S
) -> None:
    """Record the workload in two halves, exporting after each; without
    bounds the SDK's default buckets apply."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}), metric_readers=[reader]
    )
    histogram = provider.get_meter("kpi-test").create_histogram(
        "http.server.request.duration",
        unit="s",
        explicit_bucket_boundaries_advisory=bounds_s,
    )
    requests = _requests()
    for half in (requests[:120], requests[120:]):
        for latency, status in half:
            histogram.record(
                latency,
                {"http.response.status_code": status, "http.route": "/pay"},
            )
        assert provider.force_flush(10_000)
    provider.shutdown()


def _send_logs(server: Server, service: str) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(f"{server.otlp_http}/v1/logs"))
    )
    logger = provider.get_logger("kpi-test")
    for i, severity in enumerate(LOG_SEVERITIES):
        logger.emit(body=f"event {i}", severity_number=severity)
    provider.shutdown()


def _wait_for_a_fresh_minute() -> None:
    # All of the workload must fall in one minute bucket, so that a bucket's
    # counts and quantiles can be checked exactly: start early in a minute.
    until(lambda: datetime.now(UTC).second < 40, 30, "the start of a minute")


def _kpi_rows(url: str, view: str, service: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            f"SELECT * FROM {view} WHERE service = %s ORDER BY bucket",
            (service,),
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _settled(url: str, view: str, service: str, requests: int, logs: int) -> Any:
    rows = _kpi_rows(url, view, service)
    got = (sum(r["requests"] for r in rows), sum(r["logs"] for r in rows))
    return rows if got == (requests, logs) else None


def _check(rows: list[dict[str, Any]]) -> None:
    assert len(rows) == 1, rows
    row = rows[0]
    for key, value in EXPECTED.items():
        assert row[key] == pytest.approx(value), (key, row)
    for key, (low, high) in QUANTILE_BUCKETS.items():
        assert low <= row[key] <= high, (key, row)
    assert (row["logs"], row["error_logs"], row["warn_logs"]) == (15, 5, 3)
    assert row["throughput_rps"] == pytest.approx(200 / 60)
    assert row["new_patterns"] >= 1


def test_kpi_rollups_give_exact_counts_and_bucket_exact_quantiles(
    server: Server, database_url: str
) -> None:
    """Cumulative histograms over OTLP/HTTP and delta ones over gRPC give the
    same exact request and error counts, error rate and log counts, and p95
    inside the bucket that holds the true p95, in kpi_1m and kpi_1h."""
    _wait_for_a_fresh_minute()
    _send_requests(
        HttpMetricExporter(f"{server.otlp_http}/v1/metrics"), "checkout-cumulative"
    )
    _send_requests(
        GrpcMetricExporter(
            server.grpc_endpoint,
            insecure=True,
            preferred_temporality={Histogram: AggregationTemporality.DELTA},
        ),
        "checkout-delta",
    )
    for service in ("checkout-cumulative", "checkout-delta"):
        _send_logs(server, service)

    for service in ("checkout-cumulative", "checkout-delta"):
        minute = until(
            lambda s=service: _settled(database_url, "kpi_1m", s, 200, 15),
            60,
            f"kpi_1m of {service}",
        )
        _check(minute)
        _check_api(server, service, minute[0])
        hour = until(
            lambda s=service: _settled(database_url, "kpi_1h", s, 200, 15),
            60,
            f"kpi_1h of {service}",
        )
        _check_hour(hour, minute)


def _check_api(server: Server, service: str, row: dict[str, Any]) -> None:
    status, answer = get_json(f"{server.api}/api/kpis?service={service}&since=1h")
    assert status == 200, answer
    assert answer["source"] == "kpi_1m"
    buckets = answer["services"][service]
    assert len(buckets) == 1
    for key in (*EXPECTED, *QUANTILE_BUCKETS, "logs", "error_logs", "warn_logs"):
        assert buckets[0][key] == pytest.approx(row[key]), key


def _check_hour(hour: list[dict[str, Any]], minute: list[dict[str, Any]]) -> None:
    # The hour is built from minute parts, so the counts agree exactly and
    # the quantiles come from the same merged buckets.
    assert len(hour) == 1
    for key in ("requests", "errors", "logs", "error_logs", "warn_logs"):
        assert hour[0][key] == minute[0][key]
    for key in QUANTILE_BUCKETS:
        assert hour[0][key] == pytest.approx(minute[0][key])
    assert hour[0]["throughput_rps"] == pytest.approx(200 / 3600)


def test_rollups_are_continuous_aggregates_on_the_full_edition(
    server: Server, database_url: str, tier: Any
) -> None:
    """On ``timescale`` each rollup is a continuous aggregate with a refresh
    policy; elsewhere it is a table FlowGuard refreshes."""
    with psycopg.connect(database_url) as conn:
        names = {
            "kpi_requests_1m",
            "kpi_latency_1m",
            "kpi_logs_1m",
            "kpi_requests_1h",
            "kpi_latency_1h",
            "kpi_logs_1h",
        }
        if tier.name == "timescale":
            found = {
                row[0]
                for row in conn.execute(
                    "SELECT view_name FROM"
                    " timescaledb_information.continuous_aggregates"
                )
            }
            assert found == names
            policies = until(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM timescaledb_information.jobs"
                        " WHERE proc_name = 'policy_refresh_continuous_aggregate'"
                    ).fetchone()[0]  # type: ignore[index]
                    == len(names)
                ),
                30,
                "refresh policies",
            )
            assert policies
        else:
            kinds = dict(
                conn.execute(
                    "SELECT relname, relkind::text FROM pg_class"
                    " WHERE relname = ANY(%s)",
                    (list(names),),
                ).fetchall()
            )
            assert kinds == dict.fromkeys(names, "r")
        views = conn.execute(
            "SELECT count(*) FROM pg_views WHERE viewname IN ('kpi_1m', 'kpi_1h')"
        ).fetchone()
        assert views == (2,)


def test_quantiles_stay_within_observed_values_when_buckets_are_too_wide(
    server: Server, database_url: str
) -> None:
    """The SDK's default buckets, meant for milliseconds, put every request
    of a histogram in seconds into the first bucket, 0-5 s; the quantiles
    are still narrowed to the smallest and largest duration observed."""
    _send_requests(HttpMetricExporter(f"{server.otlp_http}/v1/metrics"), "legacy", None)
    rows = until(
        lambda: _settled(database_url, "kpi_1h", "legacy", 200, 0), 60, "kpi_1h"
    )
    for key in QUANTILE_BUCKETS:
        assert 20 <= rows[0][key] <= 300, (key, rows[0])
