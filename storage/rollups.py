"""KPI rollups: one SQL definition each, a continuous aggregate or a table.

Every rollup is a SELECT over ``{source}`` that groups by a ``time_bucket``
named ``bucket``. Rollups store mergeable parts only (counts, sums and
histogram bucket counts), so hour rows are sums of minute rows and the
views ``kpi_1m`` and ``kpi_1h`` compute ratios and quantiles on read.

On the ``timescale`` tier a definition becomes a continuous aggregate with
real-time aggregation and a refresh policy; the hourly ones are built on
the minute ones (hierarchical), which is exact because they only sum.
Elsewhere FlowGuard creates a table of the same shape from the same SELECT
and ``refresh`` re-materialises a trailing window of it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

__all__ = [
    "KPI_VIEWS",
    "ROLLUPS",
    "Rollup",
    "ensure_rollups",
    "refresh_rollups",
]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x466C6F77_526F6C6C  # "FlowRoll"


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup: what it reads, how it groups, and its SELECT."""

    name: str
    source: str
    time_column: str
    bucket: timedelta
    keys: tuple[str, ...]
    select: str

    def definition(self, source: sql.Composable | None = None) -> sql.Composed:
        """The SELECT, reading ``source`` (the source table by default)."""
        return sql.SQL(self.select).format(
            source=source if source is not None else sql.Identifier(self.source)
        )


def _minute(name: str, source: str, columns: str, keys: tuple[str, ...]) -> Rollup:
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    select = (
        "SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, "
        f"{', '.join(keys)}, {columns} FROM {{source}} GROUP BY {group}"
    )
    return Rollup(name, source, "time", timedelta(minutes=1), keys, select)


def _hour(minute: Rollup, columns: str) -> Rollup:
    keys = minute.keys
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    select = (
        "SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, "
        f"{', '.join(keys)}, {columns} FROM {{source}} GROUP BY {group}"
    )
    name = minute.name.removesuffix("_1m") + "_1h"
    return Rollup(name, minute.name, "bucket", timedelta(hours=1), keys, select)


_REQUESTS_1M = _minute(
    "kpi_requests_1m",
    "kpi_requests",
    "sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, "
    "sum(duration_sum_ms) AS duration_sum_ms, "
    "min(min_ms) AS min_ms, max(max_ms) AS max_ms",
    ("service",),
)
_LATENCY_1M = _minute(
    "kpi_latency_1m",
    "kpi_latency",
    "sum(count)::bigint AS count",
    ("service", "le_ms"),
)
# OTel severity numbers: 13-16 are WARN, 17 and above ERROR and FATAL.
_LOGS_1M = _minute(
    "kpi_logs_1m",
    "logs",
    "count(*) AS logs, "
    "sum(CASE WHEN severity_number >= 17 THEN 1 ELSE 0 END)::bigint AS error_logs, "
    "sum(CASE WHEN severity_number BETWEEN 13 AND 16 THEN 1 ELSE 0 END)::bigint"
    " AS warn_logs",
    ("service",),
)

ROLLUPS = (
    _REQUESTS_1M,
    _LATENCY_1M,
    _LOGS_1M,
    _hour(
        _REQUESTS_1M,
        "sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, "
        "sum(duration_sum_ms) AS duration_sum_ms, "
        "min(min_ms) AS min_ms, max(max_ms) AS max_ms",
    ),
    _hour(_LATENCY_1M, "sum(count)::bigint AS count"),
    _hour(
        _LOGS_1M,
        "sum(logs)::bigint AS logs, sum(error_logs)::bigint AS error_logs, "
        "sum(warn_logs)::bigint AS warn_logs",
    ),
)

# What users query: one row per bucket and service, with ratios and
# quantiles computed from the parts. The latency histogram is included
# so that any other quantile can be computed with histogram_quantile().
_KPI_VIEW = """
CREATE VIEW {view} AS
SELECT k.bucket, k.service,
       coalesce(r.requests, 0)::bigint AS requests,
       coalesce(r.errors, 0)::bigint AS errors,
       r.errors::double precision / nullif(r.requests, 0) AS error_rate,
       coalesce(r.requests, 0) / {seconds}::double precision AS throughput_rps,
       histogram_quantile(0.50, q.bounds, q.counts, r.min_ms, r.max_ms) AS p50_ms,
       histogram_quantile(0.95, q.bounds, q.counts, r.min_ms, r.max_ms) AS p95_ms,
       histogram_quantile(0.99, q.bounds, q.counts, r.min_ms, r.max_ms) AS p99_ms,
       r.duration_sum_ms / nullif(r.requests, 0) AS mean_ms,
       coalesce(g.logs, 0)::bigint AS logs,
       coalesce(g.error_logs, 0)::bigint AS error_logs,
       coalesce(g.warn_logs, 0)::bigint AS warn_logs,
       coalesce(p.new_patterns, 0)::bigint AS new_patterns,
       q.bounds AS latency_bounds_ms,
       q.counts AS latency_counts
FROM (
    SELECT bucket, service FROM {requests}
    UNION
    SELECT bucket, service FROM {logs}
) AS k
LEFT JOIN {requests} AS r ON r.bucket = k.bucket AND r.service = k.service
LEFT JOIN {logs} AS g ON g.bucket = k.bucket AND g.service = k.service
LEFT JOIN LATERAL (
    SELECT array_agg(l.le_ms ORDER BY l.le_ms) AS bounds,
           array_agg(l.count ORDER BY l.le_ms) AS counts
    FROM {latency} AS l
    WHERE l.bucket = k.bucket AND l.service = k.service
) AS q ON true
LEFT JOIN (
    SELECT time_bucket(INTERVAL '{interval}', first_seen) AS bucket, service,
           count(*) AS new_patterns
    FROM log_patterns
    GROUP BY 1, 2
) AS p ON p.bucket = k.bucket AND p.service = k.service
"""

KPI_VIEWS = {"kpi_1m": timedelta(minutes=1), "kpi_1h": timedelta(hours=1)}


def _view_sql(view: str, bucket: timedelta) -> sql.Composed:
    suffix = view.removeprefix("kpi_")
    seconds = int(bucket.total_seconds())
    interval = "1 minute" if seconds == 60 else "1 hour"
    return sql.SQL(_KPI_VIEW).format(
        view=sql.Identifier(view),
        seconds=sql.Literal(seconds),
        interval=sql.SQL(interval),
        requests=sql.Identifier(f"kpi_requests_{suffix}"),
        logs=sql.Identifier(f"kpi_logs_{suffix}"),
        latency=sql.Identifier(f"kpi_latency_{suffix}"),
    )


def _hash(rollup: Rollup, continuous: bool) -> str:
    text = f"{continuous}:{rollup.select}:{rollup.source}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def _stored_hashes(conn: psycopg.AsyncConnection) -> dict[str, str]:
    cur = await conn.execute("SELECT name, definition_hash FROM rollup_state")
    return {name: digest for name, digest in await cur.fetchall()}


async def _drop(conn: psycopg.AsyncConnection, name: str) -> None:
    cur = await conn.execute(
        "SELECT c.relkind FROM pg_class c"
        " WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
        (name,),
    )
    row = await cur.fetchone()
    if row is None:
        return
    kind = "MATERIALIZED VIEW" if row[0] in ("m", "v") else "TABLE"
    await conn.execute(
        sql.SQL("DROP {} IF EXISTS {} CASCADE").format(
            sql.SQL(kind), sql.Identifier(name)
        )
    )


async def _create(
    conn: psycopg.AsyncConnection, rollup: Rollup, continuous: bool
) -> None:
    name = sql.Identifier(rollup.name)
    if continuous:
        await conn.execute(
            sql.SQL(
                "CREATE MATERIALIZED VIEW {} WITH (timescaledb.continuous,"
                " timescaledb.materialized_only = false) AS {} WITH NO DATA"
            ).format(name, rollup.definition())
        )
        return
    await conn.execute(
        sql.SQL("CREATE TABLE {} AS {} WITH NO DATA").format(name, rollup.definition())
    )
    keys = sql.SQL(", ").join(map(sql.Identifier, ("bucket", *rollup.keys)))
    await conn.execute(
        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(name, keys)
    )


async def _create_views(conn: psycopg.AsyncConnection) -> None:
    for view, bucket in KPI_VIEWS.items():
        await conn.execute(
            sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(view))
        )
        await conn.execute(_view_sql(view, bucket))


async def ensure_rollups(conn: psycopg.AsyncConnection, tier: str) -> None:
    """Create the rollups and KPI views, or rebuild those whose definition
    changed. Idempotent; concurrent callers wait for each other."""
    continuous = tier == "timescale"
    await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        async with conn.transaction():
            stored = await _stored_hashes(conn)
            wanted = {r.name: _hash(r, continuous) for r in ROLLUPS}
            if stored == wanted:
                return
            # Dependants go first: hour rollups read minute ones.
            for rollup in reversed(ROLLUPS):
                await _drop(conn, rollup.name)
            for rollup in ROLLUPS:
                await _create(conn, rollup, continuous)
            await _create_views(conn)
            await conn.execute("DELETE FROM rollup_state")
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO rollup_state (name, definition_hash) VALUES (%s, %s)",
                    list(wanted.items()),
                )
        logger.info(
            "created rollups as %s",
            "continuous aggregates" if continuous else "tables",
        )
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 3, tzinfo=moment.tzinfo)
    return moment - (moment - epoch) % step


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floor = _floor(moment, step)
    return floor if floor == moment else floor + step


async def _refresh_window(
    conn: psycopg.AsyncConnection, rollup: Rollup, start: datetime, end: datetime
) -> None:
    source = sql.SQL("(SELECT * FROM {} WHERE {} >= {} AND {} < {}) AS {}").format(
        sql.Identifier(rollup.source),
        sql.Identifier(rollup.time_column),
        sql.Literal(start),
        sql.Identifier(rollup.time_column),
        sql.Literal(end),
        sql.Identifier(rollup.source),
    )
    name = sql.Identifier(rollup.name)
    async with conn.transaction():
        await conn.execute(
            sql.SQL("DELETE FROM {} WHERE bucket >= %s AND bucket < %s").format(name),
            (start, end),
        )
        await conn.execute(
            sql.SQL("INSERT INTO {} {}").format(name, rollup.definition(source))
        )


async def _start_of(
    conn: psycopg.AsyncConnection, rollup: Rollup, now: datetime, lookback: timedelta
) -> datetime | None:
    cur = await conn.execute(
        "SELECT refreshed_until FROM rollup_state WHERE name = %s", (rollup.name,)
    )
    row = await cur.fetchone()
    done: datetime | None = row[0] if row else None
    if done is None:
        cur = await conn.execute(
            sql.SQL("SELECT min({}) FROM {}").format(
                sql.Identifier(rollup.time_column), sql.Identifier(rollup.source)
            )
        )
        first = await cur.fetchone()
        done = first[0] if first else None
        if done is None:
            return None
    return min(done, now) - lookback


async def refresh_rollups(
    conn: psycopg.AsyncConnection,
    now: datetime,
    kept: Mapping[str, timedelta],
    lookback: timedelta = timedelta(minutes=5),
    max_step: timedelta = timedelta(hours=1),
) -> int:
    """Re-materialise rollup tables from where they were last refreshed,
    less ``lookback`` for late data, up to the bucket holding ``now``.

    ``kept`` says how long each source keeps its rows. A bucket that
    retention may have emptied in part is never recomputed, so rollups
    keep their history after the raw data is gone. Windows are whole
    buckets of at most ``max_step``; the whole round is one transaction.
    Returns the number of windows refreshed.
    """
    windows = 0
    # One transaction for the round: readers of kpi_1m and kpi_1h never see
    # the request rollups refreshed and the latency or log ones not yet.
    async with conn.transaction():
        for rollup in ROLLUPS:
            windows += await _refresh_rollup(
                conn, rollup, now, kept, lookback, max_step
            )
    return windows


async def _refresh_rollup(
    conn: psycopg.AsyncConnection,
    rollup: Rollup,
    now: datetime,
    kept: Mapping[str, timedelta],
    lookback: timedelta,
    max_step: timedelta,
) -> int:
    step = max(max_step, rollup.bucket)
    start = await _start_of(conn, rollup, now, max(lookback, rollup.bucket))
    if start is None:
        return 0
    start = _floor(start, rollup.bucket)
    if rollup.source in kept:
        start = max(start, _ceil(now - kept[rollup.source], rollup.bucket))
    end = _floor(now, rollup.bucket) + rollup.bucket
    windows = 0
    while start < end:
        stop = min(start + step, end)
        await _refresh_window(conn, rollup, start, stop)
        windows += 1
        start = stop
    await conn.execute(
        "UPDATE rollup_state SET refreshed_until = %s WHERE name = %s",
        (now, rollup.name),
    )
    return windows
