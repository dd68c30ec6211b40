"""KPIs from the rollup views, and log patterns with their counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from storage.queries._common import (
    KPI_FIELDS,
    Source,
    TimeRange,
    Where,
    fetch_rows,
)
from storage.rollups import KPI_VIEWS


async def kpis(
    source: Source, view: str, span: TimeRange, services: Sequence[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """KPI rows of ``view`` (``kpi_1m`` or ``kpi_1h``) per service, oldest
    bucket first; the bucket holding ``span.start`` is included."""
    bucket = KPI_VIEWS[view]
    found = Where()
    found.add("bucket >= time_bucket(%s, %s::timestamptz)", bucket, span.start)
    found.add("bucket < %s", span.end)
    if services:
        found.add("service = ANY(%s)", list(services))

    query = sql.SQL(
        "SELECT bucket, service, {} FROM {} WHERE {} ORDER BY service, bucket"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, KPI_FIELDS)),
        sql.Identifier(view),
        found.sql(),
    )
    per_service: dict[str, list[dict[str, Any]]] = {}
    for row in await fetch_rows(source, query, found.params):
        per_service.setdefault(row.pop("service"), []).append(row)
    return per_service


async def pattern_counts(
    source: Source, span: TimeRange, services: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Log patterns with records in ``span``, the most frequent first: each
    with its record count, its last record's time and whether it was first
    seen in ``span``."""
    found = Where()
    found.add("time >= %s AND time < %s", span.start, span.end)
    found.add("pattern_id IS NOT NULL")
    if services:
        found.add("service = ANY(%s)", list(services))

    query = sql.SQL(
        "SELECT p.pattern_id, p.service, p.template, p.first_seen, c.count,"
        " c.last_seen, (p.first_seen >= %s AND p.first_seen < %s) AS new"
        " FROM (SELECT pattern_id, count(*) AS count, max(time) AS last_seen"
        " FROM logs WHERE {} GROUP BY pattern_id) AS c"
        " JOIN log_patterns AS p USING (pattern_id)"
        " ORDER BY c.count DESC, p.pattern_id LIMIT %s"
    ).format(found.sql())
    params = [span.start, span.end, *found.params, limit]
    return await fetch_rows(source, query, params)
