"""What each kind of rule reads from the database, at given times.

Every query takes a list of evaluation times and answers for each, so that
live evaluation (one time, now) and the backtest (every evaluation time of
a past range) run the very same SQL and cannot disagree.

Windows: KPI, anomaly and absence rules read the closed minute buckets of
the window that ends at the evaluation time's minute; log and metric rules
read the records and points of ``(at - window, at]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from alerting.model import (
    AbsentQuery,
    AnomalyQuery,
    KpiQuery,
    LogQuery,
    MetricQuery,
    Rule,
    Sample,
    SqlQuery,
)

__all__ = ["QueryCache", "RuleQueryError", "evaluate"]

Samples = dict[datetime, list[Sample]]

# The KPI of a rule, from the window's summed parts (as kpi_1m computes
# its columns, but over the whole window at once).
_KPI_SQL = """
WITH t AS (
    SELECT at, date_trunc('minute', at) AS upto
    FROM unnest(%(ats)s::timestamptz[]) AS at
),
r AS (
    SELECT t.at, k.service, sum(k.requests) AS requests, sum(k.errors) AS errors,
           sum(k.duration_sum_ms) AS duration_sum_ms,
           min(k.min_ms) AS min_ms, max(k.max_ms) AS max_ms
    FROM t JOIN kpi_requests_1m AS k
      ON k.bucket >= t.upto - %(window)s AND k.bucket < t.upto
    GROUP BY 1, 2
),
l AS (
    SELECT at, service, array_agg(le_ms ORDER BY le_ms) AS bounds,
           array_agg(count ORDER BY le_ms) AS counts
    FROM (
        SELECT t.at, k.service, k.le_ms, sum(k.count)::bigint AS count
        FROM t JOIN kpi_latency_1m AS k
          ON k.bucket >= t.upto - %(window)s AND k.bucket < t.upto
        GROUP BY 1, 2, 3
    ) AS per_bound
    GROUP BY 1, 2
),
g AS (
    SELECT t.at, k.service, sum(k.logs) AS logs,
           sum(k.error_logs) AS error_logs, sum(k.warn_logs) AS warn_logs
    FROM t JOIN kpi_logs_1m AS k
      ON k.bucket >= t.upto - %(window)s AND k.bucket < t.upto
    GROUP BY 1, 2
)
SELECT at, service,
       coalesce(r.requests, 0)::double precision AS requests,
       coalesce(r.errors, 0)::double precision AS errors,
       r.errors::double precision / nullif(r.requests, 0) AS error_rate,
       coalesce(r.requests, 0) / %(window_s)s::double precision AS throughput,
       histogram_quantile(0.50, l.bounds, l.counts, r.min_ms, r.max_ms)
           AS p50_latency,
       histogram_quantile(0.95, l.bounds, l.counts, r.min_ms, r.max_ms)
           AS p95_latency,
       histogram_quantile(0.99, l.bounds, l.counts, r.min_ms, r.max_ms)
           AS p99_latency,
       r.duration_sum_ms / nullif(r.requests, 0) AS mean_latency,
       coalesce(g.logs, 0)::double precision AS logs,
       coalesce(g.error_logs, 0)::double precision AS error_logs,
       coalesce(g.warn_logs, 0)::double precision AS warn_logs
FROM r FULL JOIN g USING (at, service) LEFT JOIN l USING (at, service)
"""

# Which rollup column says a KPI has data, for absence rules.
_PRESENCE = {
    "logs": ("kpi_logs_1m", "logs"),
    "error_logs": ("kpi_logs_1m", "error_logs"),
    "warn_logs": ("kpi_logs_1m", "warn_logs"),
}
_REQUESTS = ("kpi_requests_1m", "requests")

_ABSENT_SQL = """
WITH t AS (
    SELECT at, date_trunc('minute', at) AS upto
    FROM unnest(%(ats)s::timestamptz[]) AS at
),
expected AS (
    SELECT t.at, s.service
    FROM t CROSS JOIN unnest(%(services)s::text[]) AS s(service)
    UNION
    SELECT DISTINCT t.at, k.service
    FROM t JOIN {table} AS k
      ON k.bucket >= t.upto - %(lookback)s AND k.bucket < t.upto - %(window)s
    WHERE cardinality(%(services)s::text[]) = 0 AND k.{column} > 0
)
SELECT e.at, e.service
FROM expected AS e JOIN t USING (at)
WHERE NOT EXISTS (
    SELECT FROM {table} AS k
    WHERE k.service = e.service AND k.{column} > 0
      AND k.bucket >= t.upto - %(window)s AND k.bucket < t.upto
)
"""

# The peak anomalous bucket of each service and KPI in the window, with the
# episode it belongs to for the explanation.
_ANOMALY_SQL = """
WITH t AS (
    SELECT at, date_trunc('minute', at) AS upto
    FROM unnest(%(ats)s::timestamptz[]) AS at
)
SELECT DISTINCT ON (t.at, s.service, s.kpi)
       t.at, s.service, s.kpi, s.score, s.bucket, s.observed, s.expected,
       s.expected_low, s.expected_high,
       (SELECT a.explanation FROM anomalies AS a
        WHERE a.service = s.service AND a.kpi = s.kpi
          AND a.started_at <= s.bucket AND a.ended_at > s.bucket
        ORDER BY a.started_at DESC LIMIT 1) AS explanation
FROM t JOIN kpi_scores AS s
  ON s.bucket >= t.upto - %(window)s AND s.bucket < t.upto
WHERE s.anomalous AND s.score >= %(min_score)s {where}
ORDER BY t.at, s.service, s.kpi, s.score DESC, s.bucket DESC
"""

_LOGS_SQL = """
SELECT t.at, l.service, count(*)::double precision AS value
FROM unnest(%(ats)s::timestamptz[]) AS t(at)
JOIN logs AS l ON l.time > t.at - %(window)s AND l.time <= t.at
WHERE {where}
GROUP BY 1, 2
"""

# Sums are read as per-interval values (the converted delta) for sum,
# count and rate; every other aggregate reads the value as sent.
_METRIC_AGGS = {
    "sum": "sum(coalesce(p.delta, p.value))",
    "rate": "sum(coalesce(p.delta, p.value)) / %(window_s)s::double precision",
    "count": "count(*)::double precision",
    "avg": "avg(p.value)",
    "min": "min(p.value)",
    "max": "max(p.value)",
    "last": "(array_agg(p.value ORDER BY p.time DESC))[1]",
}

_METRIC_SQL = """
SELECT t.at, s.service, {by} AS by_values, {agg} AS value
FROM unnest(%(ats)s::timestamptz[]) AS t(at)
JOIN metric_series AS s ON s.name = %(name)s {where}
JOIN metric_points AS p
  ON p.series_id = s.series_id AND p.time > t.at - %(window)s AND p.time <= t.at
 AND coalesce(p.conversion, '') NOT IN ('raw', 'late')
GROUP BY 1, 2, 3
"""


class RuleQueryError(Exception):
    """A rule's query failed: a ``sql`` rule the database refused, say."""


class QueryCache:
    """Query results shared by the rules of one round: every KPI rule with
    the same window reads one query's rows."""

    def __init__(self) -> None:
        self._kpis: dict[tuple[float, tuple[datetime, ...]], list[dict[str, Any]]] = {}

    async def kpi_rows(
        self, conn: psycopg.AsyncConnection, window_s: float, ats: Sequence[datetime]
    ) -> list[dict[str, Any]]:
        key = (window_s, tuple(ats))
        if key not in self._kpis:
            self._kpis[key] = await _rows(
                conn,
                _KPI_SQL,
                {
                    "ats": list(ats),
                    "window": timedelta(seconds=window_s),
                    "window_s": window_s,
                },
            )
        return self._kpis[key]


async def evaluate(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    ats: Sequence[datetime],
    cache: QueryCache | None = None,
) -> Samples:
    """The series ``rule``'s query returns at each of ``ats``, before the
    rule's threshold is applied.

    Raises:
        RuleQueryError: the database refused the rule's query, or a ``sql``
            rule's query ran too long or returned the wrong columns.
        psycopg.OperationalError: the connection failed.
    """
    found: Samples = {at: [] for at in ats}
    try:
        samples = await _samples(conn, rule, ats, cache or QueryCache())
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        # One rule's query failing (a time out of range, say) is that rule's
        # error; the other rules are evaluated as usual.
        msg = f"the database refused the rule's query: {str(exc).strip()}"
        raise RuleQueryError(msg) from None
    for sample in samples:
        assert sample.at is not None
        found[sample.at].append(sample)
    return found


async def _samples(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    ats: Sequence[datetime],
    cache: QueryCache,
) -> list[Sample]:
    query = rule.query
    if isinstance(query, KpiQuery):
        rows = await cache.kpi_rows(conn, rule.window_s, ats)
        return [
            Sample({"service": r["service"]}, r[query.kpi], at=r["at"])
            for r in rows
            if _wanted(rule, r["service"])
        ]
    if isinstance(query, AbsentQuery):
        return await _absent(conn, rule, query, ats)
    if isinstance(query, AnomalyQuery):
        return await _anomalies(conn, rule, query, ats)
    if isinstance(query, LogQuery):
        return await _logs(conn, rule, query, ats)
    if isinstance(query, MetricQuery):
        return await _metric(conn, rule, query, ats)
    return await _sql(conn, query, ats)


def _wanted(rule: Rule, service: str) -> bool:
    return not rule.services or service in rule.services


async def _absent(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    query: AbsentQuery,
    ats: Sequence[datetime],
) -> list[Sample]:
    table, column = _PRESENCE.get(query.kpi, _REQUESTS)
    statement = sql.SQL(_ABSENT_SQL).format(
        table=sql.Identifier(table), column=sql.Identifier(column)
    )
    params = {
        "ats": list(ats),
        "services": list(rule.services),
        "window": timedelta(seconds=rule.window_s),
        "lookback": timedelta(seconds=query.lookback_s),
    }
    return [
        Sample({"service": r["service"]}, None, at=r["at"])
        for r in await _rows(conn, statement, params)
    ]


async def _anomalies(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    query: AnomalyQuery,
    ats: Sequence[datetime],
) -> list[Sample]:
    where, params = _service_filter(rule, "s.service")
    if query.kpi is not None:
        where = sql.SQL("{} AND s.kpi = %(kpi)s").format(where)
        params["kpi"] = query.kpi
    params |= {
        "ats": list(ats),
        "window": timedelta(seconds=rule.window_s),
        "min_score": query.min_score,
    }
    statement = sql.SQL(_ANOMALY_SQL).format(where=where)
    samples = []
    for row in await _rows(conn, statement, params):
        details = {
            key: row[key]
            for key in (
                "bucket",
                "observed",
                "expected",
                "expected_low",
                "expected_high",
                "explanation",
            )
        }
        labels = {"service": row["service"], "kpi": row["kpi"]}
        samples.append(Sample(labels, row["score"], details, at=row["at"]))
    return samples


def _service_filter(rule: Rule, column: str) -> tuple[sql.Composable, dict[str, Any]]:
    if not rule.services:
        return sql.SQL(""), {}
    where = sql.SQL(" AND {} = ANY(%(services)s)").format(sql.SQL(column))
    return where, {"services": list(rule.services)}


def _like_escaped(text: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", text)


async def _logs(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    query: LogQuery,
    ats: Sequence[datetime],
) -> list[Sample]:
    conditions = [sql.SQL("true")]
    params: dict[str, Any] = {
        "ats": list(ats),
        "window": timedelta(seconds=rule.window_s),
    }
    if rule.services:
        conditions.append(sql.SQL("l.service = ANY(%(services)s)"))
        params["services"] = list(rule.services)
    if query.text:
        conditions.append(sql.SQL("l.body ILIKE %(text)s"))
        params["text"] = f"%{_like_escaped(query.text)}%"
    if query.min_severity is not None:
        conditions.append(sql.SQL("l.severity_number >= %(min_severity)s"))
        params["min_severity"] = query.min_severity
    if query.pattern_id is not None:
        conditions.append(sql.SQL("l.pattern_id = %(pattern_id)s"))
        params["pattern_id"] = query.pattern_id
    if query.tags:
        conditions.append(sql.SQL("l.tags @> %(tags)s::text[]"))
        params["tags"] = list(query.tags)
    if query.attributes:
        conditions.append(sql.SQL("l.attributes @> %(attributes)s::jsonb"))
        params["attributes"] = orjson.dumps(dict(query.attributes)).decode()
    statement = sql.SQL(_LOGS_SQL).format(where=sql.SQL(" AND ").join(conditions))
    return [
        Sample({"service": r["service"]}, r["value"], at=r["at"])
        for r in await _rows(conn, statement, params)
    ]


async def _metric(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    query: MetricQuery,
    ats: Sequence[datetime],
) -> list[Sample]:
    where, params = _service_filter(rule, "s.service")
    if query.where:
        where = sql.SQL("{} AND s.attributes @> %(where)s::jsonb").format(where)
        params["where"] = orjson.dumps(dict(query.where)).decode()
    by = sql.SQL("ARRAY[{}]::text[]").format(
        sql.SQL(", ").join(
            sql.SQL("s.attributes ->> {}").format(sql.Literal(key)) for key in query.by
        )
    )
    statement = sql.SQL(_METRIC_SQL).format(
        by=by, agg=sql.SQL(_METRIC_AGGS[query.agg]), where=where
    )
    params |= {
        "ats": list(ats),
        "name": query.name,
        "window": timedelta(seconds=rule.window_s),
        "window_s": rule.window_s,
    }
    samples = []
    for row in await _rows(conn, statement, params):
        labels = {"service": row["service"]}
        labels.update(zip(query.by, (v or "" for v in row["by_values"]), strict=True))
        samples.append(Sample(labels, row["value"], at=row["at"]))
    return samples


async def _sql(
    conn: psycopg.AsyncConnection, query: SqlQuery, ats: Sequence[datetime]
) -> list[Sample]:
    """Run a ``sql`` rule's query once per time, read-only, with a timeout."""
    samples = []
    for at in ats:
        try:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION READ ONLY")
                await conn.execute(
                    sql.SQL("SET LOCAL statement_timeout = {}").format(
                        sql.Literal(f"{int(query.timeout_s * 1000)}ms")
                    )
                )
                params = {"at": at} if query.replayable else None
                # Prepared, so that the text is one statement: a second one
                # (a COMMIT, say) could end the read-only transaction.
                rows = await _rows(conn, sql.SQL(query.sql), params, prepare=True)
        except psycopg.OperationalError as exc:
            if isinstance(exc, psycopg.errors.QueryCanceled):
                msg = f"the query ran longer than its timeout of {query.timeout_s:g}s"
                raise RuleQueryError(msg) from None
            raise
        except psycopg.Error as exc:
            msg = f"the database refused the query: {str(exc).strip()}"
            raise RuleQueryError(msg) from None
        samples.extend(_sql_samples(rows, at))
    return samples


def _sql_samples(rows: list[dict[str, Any]], at: datetime) -> list[Sample]:
    samples = []
    for row in rows:
        if "value" not in row:
            msg = "the query returned no 'value' column"
            raise RuleQueryError(msg)
        value = row.pop("value")
        labels = {k: "" if v is None else str(v) for k, v in row.items()}
        try:
            number = None if value is None else float(value)
        except (TypeError, ValueError):
            msg = f"the 'value' column holds {value!r}, expected a number"
            raise RuleQueryError(msg) from None
        samples.append(Sample(labels, number, at=at))
    return samples


async def _rows(
    conn: psycopg.AsyncConnection,
    statement: str | sql.Composable,
    params: dict[str, Any] | None,
    *,
    prepare: bool | None = None,
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params, prepare=prepare)  # type: ignore[arg-type]
        return await cur.fetchall()
