"""Retention drops raw data per signal; rollups keep their history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.conftest import Tier
from tests.servers import JSON_HEADERS, Server, post
from tests.wait import until


def _log_payload(service: str) -> bytes:
    return (
        b'{"logs": [{"service": "%s", "body": "payment settled",'
        b' "severity": "INFO"}]}' % service.encode()
    )


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def test_rollup_rows_outlive_the_raw_logs_they_came_from(
    postgres_tier: Tier,
) -> None:
    """With logs kept 30 s, the raw record is deleted but its minute in
    kpi_1m stays, and later refreshes do not recompute it from nothing."""
    url = postgres_tier.fresh_database()
    until(lambda: datetime.now(UTC).second < 15, 65, "the start of a minute")
    server = Server(url, FLOWGUARD_RETENTION_LOGS="30s").start()
    try:
        status, _, body = post(
            f"{server.api}/api/ingest/logs", _log_payload("ledger"), JSON_HEADERS
        )
        assert status == 200, body
        bucket = _one(url, "SELECT time_bucket('1 minute', time) FROM logs")
        until(
            lambda: _one(url, "SELECT logs FROM kpi_1m WHERE bucket = %s", bucket),
            30,
            "the minute in kpi_1m",
        )
        until(
            lambda: _one(url, "SELECT count(*) FROM logs") == 0,
            120,
            "retention to delete the raw record",
        )
        deleted_at = datetime.now(UTC)
        until(
            lambda: (
                _one(url, "SELECT min(refreshed_until) FROM rollup_state") > deleted_at
            ),
            30,
            "a refresh after the deletion",
        )
        assert _one(url, "SELECT logs FROM kpi_1m WHERE bucket = %s", bucket) == 1
        assert _one(url, "SELECT logs FROM kpi_1h WHERE service = 'ledger'") == 1
    finally:
        server.stop()


@pytest.mark.parametrize("tier", ["timescale"], indirect=True)
def test_full_edition_gets_retention_and_compression_policies(
    server: Server, database_url: str
) -> None:
    """On ``timescale`` retention and compression are TimescaleDB policies,
    with compressed chunks segmented by service or series."""

    def jobs() -> set[tuple[str, str]]:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT proc_name, hypertable_name"
                " FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL"
            ).fetchall()
        return {(proc, table) for proc, table in rows}

    def policies() -> set[tuple[str, str]] | None:
        found = jobs()
        return found if ("policy_compression", "logs") in found else None

    found = until(policies, 30, "policies")
    assert ("policy_retention", "logs") in found
    assert ("policy_retention", "metric_points") in found
    assert ("policy_compression", "metric_points") in found
    with psycopg.connect(database_url) as conn:
        rollups_kept = conn.execute(
            "SELECT count(*) FROM timescaledb_information.jobs j"
            " JOIN timescaledb_information.continuous_aggregates c"
            " ON j.hypertable_name = c.materialization_hypertable_name"
            " WHERE j.proc_name = 'policy_retention'"
        ).fetchone()
        segment = conn.execute(
            "SELECT attname FROM timescaledb_information.compression_settings"
            " WHERE hypertable_name = 'metric_points' AND segmentby_column_index = 1"
        ).fetchone()
    assert segment == ("series_id",)
    assert rollups_kept == (6,)
