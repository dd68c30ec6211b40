"""What every query module shares: ranges, conditions, fetching."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from flowguard.errors import FlowGuardError
from storage.schema import LOGS, METRIC_SERIES

Source = psycopg.AsyncConnection | AsyncConnectionPool

# Every column of ``logs`` and of ``metric_series``: the writer fills all
# but the series' first_seen, which the database sets.
LOG_COLUMNS = LOGS.column_names
SERIES_COLUMNS = (*METRIC_SERIES.column_names, "first_seen")

# The KPI view columns the API returns per bucket.
KPI_FIELDS = (
    "requests",
    "errors",
    "error_rate",
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "mean_ms",
    "logs",
    "error_logs",
    "warn_logs",
    "new_patterns",
)

AGGREGATIONS = ("sum", "avg", "min", "max", "rate", "quantile")

# Combining more series than this in one request is refused: such a query
# belongs in a rollup or in SQL, not in a chart.
MAX_SERIES = 5000
MAX_RAW_POINTS = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTEGER = re.compile(r"-?(0|[1-9]\d*)")
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


class QueryError(FlowGuardError):
    """A query asks for something the stored data cannot answer as asked."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The half-open range ``start <= time < end``."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        """How long the range is."""
        return self.end - self.start


@dataclass(slots=True)
class Where:
    """Conditions joined by AND, with their bound parameters in order."""

    parts: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str | sql.Composable, *params: Any) -> None:
        """Add a condition and the parameters it binds."""
        self.parts.append(sql.SQL(clause) if isinstance(clause, str) else clause)
        self.params.extend(params)

    def contains(self, column: str, key: str, text: str) -> None:
        """Require JSONB ``column`` to hold ``key`` with the value ``text``
        in any of the types it may be stored as."""
        # One containment test per reading of the text, so each one can
        # use the GIN index and the bitmap scans are OR-ed.
        values = attribute_values(text)
        tests = [sql.SQL("{} @> %s").format(sql.Identifier(column)) for _ in values]
        self.add(sql.SQL("({})").format(sql.SQL(" OR ").join(tests)))
        self.params.extend(Jsonb({key: value}) for value in values)

    def sql(self) -> sql.Composable:
        """The conditions joined by AND (true when there are none)."""
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("true")


def attribute_values(text: str) -> list[Any]:
    """The JSON values an attribute given as text may be stored as.

    A URL carries text only: ``42`` matches the string "42" and the number
    42 (JSONB compares numbers by value, so 42.0 too), and ``true`` the
    string and the boolean.
    """
    values: list[Any] = [text]
    if text in ("true", "false"):
        values.append(text == "true")
    elif _INTEGER.fullmatch(text):
        values.append(int(text))
    elif _NUMBER.fullmatch(text) and math.isfinite(float(text)):
        values.append(float(text))
    return values


def like_pattern(text: str) -> str:
    """``text`` as a substring pattern for LIKE, its metacharacters escaped."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


async def fetch_rows(
    source: Source, query: sql.Composed | sql.SQL, params: Sequence[Any]
) -> list[dict[str, Any]]:
    """The rows of ``query`` as dicts, from a connection or the pool."""
    if isinstance(source, AsyncConnectionPool):
        async with source.connection() as conn:
            return await fetch_rows(conn, query, params)
    async with source.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()
