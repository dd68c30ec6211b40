"""The same input gives the same KPI rows on every tier."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.conftest import Tier
from tests.servers import JSON_HEADERS, Server, post
from tests.wait import until

BOUNDS_S = [0.01, 0.05, 0.1, 0.5, 1.0]
SERVICES = ("cart", "search")


def _payloads(base: datetime) -> tuple[bytes, bytes]:
    """Delta histograms and logs at fixed times in the last few minutes."""
    metrics = []
    logs = []
    for minute in range(3):
        time = (base + timedelta(minutes=minute, seconds=5)).isoformat()
        for n, service in enumerate(SERVICES):
            for status, counts in (
                (200, [5, 40, 9, 2, 1, 0]),
                (500, [0, 1, 0, 0, 2, 3]),
            ):
                metrics.append(
                    {
                        "name": "http.server.request.duration",
                        "kind": "histogram",
                        "temporality": "delta",
                        "unit": "s",
                        "bounds": BOUNDS_S,
                        "counts": [c * (n + minute + 1) for c in counts],
                        "sum": 1.5 * (n + 1),
                        "time": time,
                        "service": service,
                        "attributes": {"http.response.status_code": status},
                    }
                )
            logs += [
                {"time": time, "service": service, "body": f"job {i} done"}
                for i in range(minute + 1)
            ]
            logs.append({"time": time, "service": service, "body": "WARN cache cold"})
    return (
        json.dumps({"metrics": metrics}).encode(),
        json.dumps({"logs": logs}).encode(),
    )


def _kpis(url: str, view: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT bucket, service, requests, errors, error_rate, throughput_rps,"
            " p50_ms, p95_ms, p99_ms, mean_ms, logs, error_logs, warn_logs,"
            " new_patterns"
            f" FROM {view} ORDER BY bucket, service"
        ).fetchall()


def _total(url: str, view: str) -> int:
    return sum(row[2] for row in _kpis(url, view))


def _tiers(request: pytest.FixtureRequest) -> list[Tier]:
    tiers = [
        request.getfixturevalue("apache_tier"),
        request.getfixturevalue("postgres_tier"),
    ]
    with contextlib.suppress(pytest.skip.Exception):
        tiers.append(request.getfixturevalue("timescale_tier"))
    return tiers


def test_same_input_gives_the_same_kpi_rows_on_every_tier(
    request: pytest.FixtureRequest,
) -> None:
    """Continuous aggregates and refreshed tables agree row for row."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    metrics, logs = _payloads(now - timedelta(minutes=3))
    expected = sum(sum(m["counts"]) for m in json.loads(metrics)["metrics"])
    # Every tier gets the data within seconds: the rollups re-read only
    # the late window (5 minutes) of their sources, so data sent to the
    # last tier after the others were checked could fall out of it.
    servers: dict[str, tuple[str, Server]] = {}
    try:
        for tier in _tiers(request):
            url = tier.fresh_database()
            server = Server(url)
            servers[tier.name] = (url, server)
            server.start()
            for path, body in (("metrics", metrics), ("logs", logs)):
                status, _, answer = post(
                    f"{server.api}/api/ingest/{path}", body, JSON_HEADERS
                )
                assert status == 200, answer
        results = {}
        for name, (url, _) in servers.items():
            for view in ("kpi_1m", "kpi_1h"):
                until(
                    lambda u=url, v=view: _total(u, v) == expected,
                    60,
                    f"{view} on {name}",
                )
            results[name] = (_kpis(url, "kpi_1m"), _kpis(url, "kpi_1h"))
    finally:
        for _, server in servers.values():
            server.stop()
    first = next(iter(results.values()))
    assert len(first[0]) == 6
    for name, result in results.items():
        assert result == first, name
