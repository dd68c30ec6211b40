"""Migrations, tier detection and the group-commit writer on every tier."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from flowguard.errors import StorageError
from flowguard.service import prepare_database
from processing.batch import Batch
from processing.metrics import metrics_batch
from storage.database import open_pool
from storage.migrate import load_migrations
from storage.writer import Writer, WriterSettings
from tests.conftest import Tier

TIME_TABLES = (
    "logs",
    "metric_points",
    "metric_histograms",
    "metric_exp_histograms",
    "metric_summaries",
    "kpi_requests",
    "kpi_latency",
    "kpi_scores",
)


async def _prepare_twice_at_once(url: str) -> None:
    await asyncio.gather(prepare_database(url), prepare_database(url))


def test_migrations_from_two_processes_apply_once(
    tier: Tier, database_url: str
) -> None:
    """Concurrent and repeated migration runs apply each migration once and
    detect the tier the server really is."""
    asyncio.run(_prepare_twice_at_once(database_url))
    info = asyncio.run(prepare_database(database_url))
    assert info.tier == tier.name
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [m.version for m in load_migrations()]
        hypertables: set[str] = set()
        if tier.name != "postgres":
            hypertables = {
                r[0]
                for r in conn.execute(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables"
                    " WHERE hypertable_schema = 'public'"
                )
            }
        expected = set() if tier.name == "postgres" else set(TIME_TABLES)
        assert hypertables == expected


def _gauge_request(name: str, value: float, service: str = "svc") -> Any:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = name
    point = metric.gauge.data_points.add()
    point.time_unix_nano = 1_700_000_000_000_000_000
    point.as_double = value
    return request


async def _concurrent_writes(url: str, count: int) -> tuple[int, list[int]]:
    await prepare_database(url)
    pool = await open_pool(url, 3)
    writer = Writer(pool, WriterSettings(batch_delay_ms=50, batch_max_rows=10_000))
    await writer.start()
    seen_after_ack: list[int] = []

    async def write_one(i: int) -> None:
        await writer.write(metrics_batch(_gauge_request("same.metric", float(i))))
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM metric_points WHERE value = %s", (float(i),)
            )
            row = await cur.fetchone()
            seen_after_ack.append(row[0] if row else 0)

    try:
        await asyncio.gather(*(write_one(i) for i in range(count)))
    finally:
        await writer.stop()
        await pool.close()
    return writer.commits, seen_after_ack


def test_concurrent_writes_share_commits(database_url: str) -> None:
    """Concurrent batches are committed together, each is visible as soon as
    its write returns, and a series shared by all is catalogued once."""
    commits, seen = asyncio.run(_concurrent_writes(database_url, 20))
    assert seen == [1] * 20
    assert 1 <= commits < 20
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM metric_series").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM metric_points").fetchone() == (20,)


async def _one_bad_among_good(url: str) -> tuple[list[Any], int]:
    await prepare_database(url)
    pool = await open_pool(url, 2)
    writer = Writer(pool, WriterSettings(batch_delay_ms=50))
    await writer.start()
    good = metrics_batch(_gauge_request("good.metric", 1.0))
    bad = Batch("metrics", rows={"metric_points": [("not a time",)]})
    try:
        results = await asyncio.gather(
            writer.write(good), writer.write(bad), return_exceptions=True
        )
        return results, writer.refused_warning.count
    finally:
        await writer.stop()
        await pool.close()


def test_a_refused_batch_does_not_fail_its_neighbours(database_url: str) -> None:
    """When the database refuses one batch of a group, the others commit."""
    results, warnings = asyncio.run(_one_bad_among_good(database_url))
    assert warnings == 1
    assert results[0] is None
    assert isinstance(results[1], StorageError)
    with psycopg.connect(database_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM metric_series")]
        assert names == ["good.metric"]


@pytest.mark.parametrize("service", ["a", "b"])
def test_series_ids_are_stable_across_processes(service: str) -> None:
    """The same identity gives the same series id every time; another
    service gives another id."""
    first = metrics_batch(_gauge_request("m", 1.0, service))
    second = metrics_batch(_gauge_request("m", 2.0, service))
    other = metrics_batch(_gauge_request("m", 1.0, service + "x"))
    assert list(first.series) == list(second.series)
    assert list(first.series) != list(other.series)
