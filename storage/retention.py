"""Retention per signal and compression, by tier.

On ``timescale`` retention and compression are TimescaleDB policies, set
(again) whenever the settings may have changed; continuous aggregates get
their refresh policies here too. Elsewhere ``enforce_retention`` runs
periodically: ``drop_chunks`` on hypertables, batched deletes on tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from storage.rollups import ROLLUPS

__all__ = ["Retention", "apply_policies", "enforce_retention"]

logger = logging.getLogger(__name__)

# The raw tables by signal, with the column their compressed chunks are
# grouped by: queries filter on it, and values within a group compress well
# together.
_RAW_TABLES = {
    "logs": ("logs", "service"),
    "metric_points": ("metrics", "series_id"),
    "metric_histograms": ("metrics", "series_id"),
    "metric_exp_histograms": ("metrics", "series_id"),
    "metric_summaries": ("metrics", "series_id"),
    "kpi_requests": ("metrics", "service"),
    "kpi_latency": ("metrics", "service"),
}

# Continuous aggregate refresh windows: minute rollups re-read the last
# three hours every minute, hour rollups the last three days every ten
# minutes. Both stay far inside the raw retention, so dropping raw chunks
# never empties materialised buckets. Real-time aggregation covers the rest.
_REFRESH = {
    timedelta(minutes=1): (timedelta(hours=3), timedelta(minutes=1), "1 minute"),
    timedelta(hours=1): (timedelta(days=3), timedelta(hours=1), "10 minutes"),
}

_DELETE_BATCH_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of data is kept (defaults: ``flowguard.config``)."""

    logs: timedelta
    metrics: timedelta
    kpi_1m: timedelta
    kpi_1h: timedelta
    compress_after: timedelta

    def kept(self) -> dict[str, timedelta]:
        """How long each table under retention keeps its rows."""
        return {table: keep for table, _column, keep in self.tables()}

    def tables(self) -> list[tuple[str, str, timedelta]]:
        """(table, time column, keep) for every table under retention."""
        out = [
            (table, "time", self.logs if signal == "logs" else self.metrics)
            for table, (signal, _segment_by) in _RAW_TABLES.items()
        ]
        for rollup in ROLLUPS:
            keep = self.kpi_1m if rollup.bucket < timedelta(hours=1) else self.kpi_1h
            out.append((rollup.name, "bucket", keep))
        # Bucket scores explain the minute rollups and go with them.
        out.append(("kpi_scores", "bucket", self.kpi_1m))
        return out


async def _call(conn: psycopg.AsyncConnection, query: str, *args: object) -> None:
    await conn.execute(query, args)


async def _compression(
    conn: psycopg.AsyncConnection, table: str, after: timedelta
) -> None:
    await conn.execute(
        sql.SQL(
            "ALTER TABLE {} SET (timescaledb.compress,"
            " timescaledb.compress_segmentby = {},"
            " timescaledb.compress_orderby = 'time DESC')"
        ).format(sql.Identifier(table), sql.Literal(_RAW_TABLES[table][1]))
    )
    await _call(conn, "SELECT remove_compression_policy(%s, if_exists => true)", table)
    await _call(conn, "SELECT add_compression_policy(%s, %s)", table, after)


async def _refresh_policy(
    conn: psycopg.AsyncConnection,
    name: str,
    bucket: timedelta,
    source_kept: timedelta,
    late: timedelta,
) -> None:
    start, end, every = _REFRESH[bucket]
    # Data up to ``late`` behind is still counted when the policy runs.
    start = max(start, late + bucket)
    # A refresh window that reaches past the source's retention would empty
    # buckets whose raw rows are gone: keep it inside.
    start = min(start, source_kept - bucket)
    if start < end + 2 * bucket:
        logger.warning(
            "retention of the source of %r is too short for a refresh policy;"
            " it is kept up to date by real-time aggregation only",
            name,
        )
        return
    await _call(
        conn,
        "SELECT remove_continuous_aggregate_policy(%s, if_exists => true)",
        name,
    )
    await _call(
        conn,
        "SELECT add_continuous_aggregate_policy(%s,"
        " start_offset => %s, end_offset => %s,"
        " schedule_interval => %s::interval)",
        name,
        start,
        end,
        every,
    )


async def apply_policies(
    conn: psycopg.AsyncConnection,
    retention: Retention,
    late: timedelta = timedelta(0),
) -> None:
    """Set refresh, retention and compression policies on ``timescale``;
    data up to ``late`` behind is still counted in the rollups."""
    async with conn.transaction():
        kept = retention.kept()
        for rollup in ROLLUPS:
            await _refresh_policy(
                conn, rollup.name, rollup.bucket, kept[rollup.source], late
            )
        for table, _column, keep in retention.tables():
            await _call(
                conn, "SELECT remove_retention_policy(%s, if_exists => true)", table
            )
            await _call(conn, "SELECT add_retention_policy(%s, %s)", table, keep)
        for table in _RAW_TABLES:
            await _compression(conn, table, retention.compress_after)
    logger.info("retention, compression and refresh policies set")


async def _hypertables(conn: psycopg.AsyncConnection) -> set[str]:
    cur = await conn.execute(
        "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL"
    )
    row = await cur.fetchone()
    if not row or not row[0]:
        return set()
    cur = await conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables"
    )
    return {name for (name,) in await cur.fetchall()}


async def _delete_before(
    conn: psycopg.AsyncConnection, table: str, column: str, cutoff: datetime
) -> int:
    # Small batches keep each transaction short, so ingest never waits long.
    statement = sql.SQL(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY("
        "SELECT ctid FROM {table} WHERE {column} < %s LIMIT {limit}))"
    ).format(
        table=sql.Identifier(table),
        column=sql.Identifier(column),
        limit=sql.Literal(_DELETE_BATCH_ROWS),
    )
    total = 0
    while True:
        cur = await conn.execute(statement, (cutoff,))
        total += cur.rowcount
        if cur.rowcount < _DELETE_BATCH_ROWS:
            return total


async def enforce_retention(
    conn: psycopg.AsyncConnection, retention: Retention, now: datetime
) -> dict[str, int]:
    """Remove data past its retention on tiers without policies.

    Returns, per table, the chunks dropped (hypertables) or rows deleted.
    """
    hypertables = await _hypertables(conn)
    removed: dict[str, int] = {}
    for table, column, keep in retention.tables():
        cutoff = now - keep
        if table in hypertables:
            cur = await conn.execute(
                "SELECT count(*) FROM drop_chunks(%s, older_than => %s)",
                (table, cutoff),
            )
            row = await cur.fetchone()
            removed[table] = row[0] if row else 0
        else:
            removed[table] = await _delete_before(conn, table, column, cutoff)
    return removed
