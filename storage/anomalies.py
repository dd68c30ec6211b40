"""Storage of anomaly detection: KPI buckets to score, detector state,
bucket scores, anomalies and feedback.

The detection loop reads closed buckets from ``kpi_1m`` and writes through
one connection in one transaction per service, so a crash never leaves
scores stored without the state that produced them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from processing.anomaly.watched import WATCHED_KPIS

__all__ = [
    "AnomalyRecord",
    "BucketScore",
    "SavedState",
    "detector_status",
    "extend_or_open",
    "get_anomaly",
    "kpi_rows",
    "list_anomalies",
    "load_model",
    "load_states",
    "pending_services",
    "record_feedback",
    "save_model",
    "save_scores",
    "save_states",
]

_COLUMNS = sorted(
    {k.column for k in WATCHED_KPIS.values()}
    | {k.support for k in WATCHED_KPIS.values() if k.support}
)


@dataclass(frozen=True, slots=True)
class SavedState:
    """The stored detector of one series."""

    kpi: str
    format: int
    state: bytes
    last_bucket: datetime
    buckets_seen: int
    warm: bool
    tolerance: float


@dataclass(frozen=True, slots=True)
class BucketScore:
    """The score row of one bucket of one series."""

    bucket: datetime
    service: str
    kpi: str
    observed: float | None
    expected: float | None
    low: float | None
    high: float | None
    score: float
    detectors: dict[str, float]
    warm: bool
    anomalous: bool


@dataclass(frozen=True, slots=True)
class AnomalyRecord:
    """An anomalous bucket, as it opens or extends an anomaly."""

    service: str
    kpi: str
    start: datetime
    end: datetime
    score: float
    observed: float | None
    expected: float | None
    low: float | None
    high: float | None
    detectors: tuple[str, ...]
    explanation: str


# A service that falls silent has no new bucket, so it is not pending until
# data returns: an ``absent`` alert rule is what notices the silence.
async def pending_services(
    conn: psycopg.AsyncConnection, floor: datetime, until: datetime
) -> dict[str, datetime]:
    """Services with closed buckets (``floor <= bucket < until``) not yet
    scored, each with the last bucket scored (or one before ``floor``)."""
    cur = await conn.execute(
        "SELECT k.service, d.done"
        " FROM (SELECT service, max(bucket) AS newest FROM kpi_requests_1m"
        "       WHERE bucket >= %(floor)s AND bucket < %(until)s GROUP BY service"
        "       UNION ALL"
        "       SELECT service, max(bucket) FROM kpi_logs_1m"
        "       WHERE bucket >= %(floor)s AND bucket < %(until)s GROUP BY service"
        " ) AS k"
        " LEFT JOIN (SELECT service, min(last_bucket) AS done"
        "            FROM detector_state GROUP BY service) AS d USING (service)"
        " GROUP BY k.service, d.done"
        " HAVING max(k.newest) > coalesce(d.done, '-infinity')",
        {"floor": floor, "until": until},
    )
    before = floor - timedelta(minutes=1)
    return {
        service: before if done is None else max(done, before)
        for service, done in await cur.fetchall()
    }


async def kpi_rows(
    conn: psycopg.AsyncConnection, service: str, after: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Minute rows of one service with ``after < bucket < until``, oldest
    first, with the columns the watched KPIs read."""
    query = sql.SQL(
        "SELECT bucket, {} FROM kpi_1m"
        " WHERE service = %s AND bucket > %s AND bucket < %s ORDER BY bucket"
    ).format(sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (service, after, until))
        return await cur.fetchall()


async def load_states(
    conn: psycopg.AsyncConnection, service: str
) -> dict[str, SavedState]:
    """The stored detectors of a service's series, by KPI."""
    cur = await conn.execute(
        "SELECT kpi, format, state, last_bucket, buckets_seen, warm, tolerance"
        " FROM detector_state WHERE service = %s",
        (service,),
    )
    return {row[0]: SavedState(*row) for row in await cur.fetchall()}


async def save_states(
    conn: psycopg.AsyncConnection, service: str, states: Sequence[SavedState]
) -> None:
    """Store detectors; the tolerance set by feedback is kept as stored."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO detector_state AS d (service, kpi, format, state,"
            " last_bucket, buckets_seen, warm, tolerance)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (service, kpi) DO UPDATE SET format = EXCLUDED.format,"
            " state = EXCLUDED.state, last_bucket = EXCLUDED.last_bucket,"
            " buckets_seen = EXCLUDED.buckets_seen, warm = EXCLUDED.warm,"
            " updated_at = now()",
            [
                (
                    service,
                    s.kpi,
                    s.format,
                    s.state,
                    s.last_bucket,
                    s.buckets_seen,
                    s.warm,
                    s.tolerance,
                )
                for s in states
            ],
        )


async def save_scores(
    conn: psycopg.AsyncConnection, scores: Sequence[BucketScore]
) -> None:
    """Store bucket scores; a bucket scored again replaces its row."""
    if not scores:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO kpi_scores (bucket, service, kpi, observed, expected,"
            " expected_low, expected_high, score, detectors, warm, anomalous)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (service, kpi, bucket) DO UPDATE SET"
            " observed = EXCLUDED.observed, expected = EXCLUDED.expected,"
            " expected_low = EXCLUDED.expected_low,"
            " expected_high = EXCLUDED.expected_high, score = EXCLUDED.score,"
            " detectors = EXCLUDED.detectors, warm = EXCLUDED.warm,"
            " anomalous = EXCLUDED.anomalous",
            [
                (
                    s.bucket,
                    s.service,
                    s.kpi,
                    s.observed,
                    s.expected,
                    s.low,
                    s.high,
                    s.score,
                    orjson.dumps(s.detectors).decode(),
                    s.warm,
                    s.anomalous,
                )
                for s in scores
            ],
        )


async def extend_or_open(
    conn: psycopg.AsyncConnection, record: AnomalyRecord, gap: timedelta
) -> int:
    """Add an anomalous bucket to its series' anomaly whose last bucket
    began at most ``gap`` before it (``ended_at`` is that bucket's end), or
    open a new one. Returns the anomaly's id.

    The peak's values and explanation follow the highest score; detectors
    accumulate.
    """
    cur = await conn.execute(
        "SELECT id FROM anomalies WHERE service = %s AND kpi = %s"
        " AND ended_at + %s > %s ORDER BY ended_at DESC LIMIT 1 FOR UPDATE",
        (record.service, record.kpi, gap, record.start),
    )
    row = await cur.fetchone()
    values = (
        record.score,
        record.observed,
        record.expected,
        record.low,
        record.high,
        record.explanation,
    )
    if row is None:
        cur = await conn.execute(
            "INSERT INTO anomalies (service, kpi, started_at, ended_at, peak_at,"
            " peak_score, observed, expected, expected_low, expected_high,"
            " explanation, detectors) VALUES (%s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                record.service,
                record.kpi,
                record.start,
                record.end,
                record.start,
                *values,
                list(record.detectors),
            ),
        )
        created = await cur.fetchone()
        assert created is not None
        return int(created[0])
    await conn.execute(
        "UPDATE anomalies SET ended_at = greatest(ended_at, %s),"
        " detectors = ARRAY(SELECT DISTINCT unnest(detectors || %s::text[])"
        " ORDER BY 1), updated_at = now() WHERE id = %s",
        (record.end, list(record.detectors), row[0]),
    )
    await conn.execute(
        "UPDATE anomalies SET peak_at = %s, peak_score = %s, observed = %s,"
        " expected = %s, expected_low = %s, expected_high = %s, explanation = %s"
        " WHERE id = %s AND peak_score < %s",
        (record.start, *values, row[0], record.score),
    )
    return int(row[0])


async def load_model(
    conn: psycopg.AsyncConnection, service: str
) -> tuple[int, bytes, datetime] | None:
    """The stored offline model of a service: format, bytes and the data
    time it was trained up to."""
    cur = await conn.execute(
        "SELECT format, model, trained_until FROM offline_models WHERE service = %s",
        (service,),
    )
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1], row[2])


async def save_model(
    conn: psycopg.AsyncConnection,
    service: str,
    stored: tuple[int, bytes, datetime],
    rows: int,
) -> None:
    """Store a service's offline model, replacing the previous one."""
    await conn.execute(
        "INSERT INTO offline_models (service, format, model, trained_until,"
        " trained_rows) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (service) DO UPDATE SET format = EXCLUDED.format,"
        " model = EXCLUDED.model, trained_until = EXCLUDED.trained_until,"
        " trained_rows = EXCLUDED.trained_rows, updated_at = now()",
        (service, *stored, rows),
    )


_ANOMALY_FIELDS = (
    "id, service, kpi, started_at, ended_at, peak_at, peak_score, observed,"
    " expected, expected_low, expected_high, detectors, explanation, feedback,"
    " feedback_at"
)


async def list_anomalies(
    conn: psycopg.AsyncConnection,
    start: datetime,
    end: datetime,
    services: Sequence[str] = (),
    kpis: Sequence[str] = (),
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Anomalies overlapping ``[start, end)``, the latest first."""
    where = ["started_at < %s", "ended_at > %s"]
    params: list[Any] = [end, start]
    if services:
        where.append("service = ANY(%s)")
        params.append(list(services))
    if kpis:
        where.append("kpi = ANY(%s)")
        params.append(list(kpis))
    query = (
        f"SELECT {_ANOMALY_FIELDS} FROM anomalies WHERE {' AND '.join(where)}"
        " ORDER BY started_at DESC, id DESC LIMIT %s"
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*params, limit])
        return await cur.fetchall()


async def get_anomaly(
    conn: psycopg.AsyncConnection, anomaly_id: int
) -> dict[str, Any] | None:
    """One anomaly by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_ANOMALY_FIELDS} FROM anomalies WHERE id = %s", (anomaly_id,)
        )
        return await cur.fetchone()


async def detector_status(
    conn: psycopg.AsyncConnection, services: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per series: whether its detector scores yet, how many buckets it has
    seen, the last one, and the tolerance feedback has set."""
    query = (
        "SELECT service, kpi, warm, buckets_seen, last_bucket, tolerance"
        " FROM detector_state"
    )
    params: list[Any] = []
    if services:
        query += " WHERE service = ANY(%s)"
        params.append(list(services))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query + " ORDER BY service, kpi", params)
        return await cur.fetchall()


# A false positive widens the expected range at least this much, and enough
# that the value it was raised for lies inside, with this margin.
_WIDEN_STEP = 1.25
_WIDEN_MARGIN = 1.1


async def record_feedback(
    conn: psycopg.AsyncConnection, anomaly_id: int, feedback: str
) -> dict[str, Any] | None:
    """Record ``false_positive`` or ``confirmed`` on an anomaly; a false
    positive also widens its series' expected range from now on. Returns
    the anomaly, or None when there is none with that id. Saying
    ``false_positive`` again about the same anomaly widens nothing more."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT feedback FROM anomalies WHERE id = %s FOR UPDATE", (anomaly_id,)
        )
        before = await cur.fetchone()
        if before is None:
            return None
        cur = await conn.execute(
            "UPDATE anomalies SET feedback = %s, feedback_at = now(),"
            " updated_at = now() WHERE id = %s"
            " RETURNING service, kpi, observed, expected, expected_low,"
            " expected_high",
            (feedback, anomaly_id),
        )
        row = await cur.fetchone()
        assert row is not None  # locked above
        if feedback == "false_positive" and before[0] != "false_positive":
            service, kpi, observed, expected, low, high = row
            await conn.execute(
                "UPDATE detector_state SET tolerance = tolerance * greatest(%s, %s)"
                " WHERE service = %s AND kpi = %s",
                (_WIDEN_STEP, _needed(observed, expected, low, high), service, kpi),
            )
    return await get_anomaly(conn, anomaly_id)


def _needed(
    observed: float | None,
    expected: float | None,
    low: float | None,
    high: float | None,
) -> float:
    """The factor on the tolerance that puts ``observed`` inside the range
    stored with the anomaly (already widened by the tolerance then)."""
    if observed is None or expected is None or low is None or high is None:
        return 1.0
    bound = high if observed >= expected else low
    if bound == expected:
        return 1.0
    return _WIDEN_MARGIN * abs(observed - expected) / abs(bound - expected)
