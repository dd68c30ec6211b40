"""Silences, stored: create, list, expire, and the ones active now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting.model import Matcher

__all__ = [
    "Silence",
    "active_silences",
    "create_silence",
    "expire_silence",
    "list_silences",
]

_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at"


@dataclass(frozen=True, slots=True)
class Silence:
    """An active silence: alerts whose labels satisfy every matcher."""

    id: int
    matchers: tuple[Matcher, ...]

    def silences(self, labels: dict[str, str]) -> bool:
        """Whether the silence applies to ``labels``."""
        return all(m.matches(labels) for m in self.matchers)


def _matchers(stored: list[dict[str, str]]) -> tuple[Matcher, ...]:
    return tuple(Matcher(m["name"], m["value"], m["op"]) for m in stored)


async def active_silences(
    conn: psycopg.AsyncConnection, now: datetime
) -> list[Silence]:
    """The silences in force at ``now``."""
    cur = await conn.execute(
        "SELECT id, matchers FROM silences WHERE starts_at <= %s AND ends_at > %s",
        (now, now),
    )
    return [Silence(row[0], _matchers(row[1])) for row in await cur.fetchall()]


def _state(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    if row["ends_at"] <= now:
        state = "expired"
    elif row["starts_at"] > now:
        state = "pending"
    else:
        state = "active"
    return row | {"state": state}


async def create_silence(
    conn: psycopg.AsyncConnection,
    matchers: Sequence[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> dict[str, Any]:
    """Store a silence and return it as the API shows it."""
    stored = [{"name": m.name, "op": m.op, "value": m.value} for m in matchers]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (Jsonb(stored), starts_at, ends_at, created_by, comment),
        )
        row = await cur.fetchone()
    assert row is not None
    return _state(row, now)


async def list_silences(
    conn: psycopg.AsyncConnection, now: datetime, expired_since: datetime
) -> list[dict[str, Any]]:
    """Active and pending silences, and those expired since
    ``expired_since``; the latest to end first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM silences WHERE ends_at >= %s"
            " ORDER BY ends_at DESC, id DESC",
            (expired_since,),
        )
        return [_state(row, now) for row in await cur.fetchall()]


async def expire_silence(
    conn: psycopg.AsyncConnection, silence_id: int, now: datetime
) -> dict[str, Any] | None:
    """End a silence now; one already over keeps its end. None when there
    is no such silence."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE silences SET ends_at = least(ends_at, %(now)s),"
            " starts_at = least(starts_at, %(now)s)"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {"id": silence_id, "now": now},
        )
        row = await cur.fetchone()
    return None if row is None else _state(row, now)
