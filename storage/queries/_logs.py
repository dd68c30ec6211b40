"""Log records, newest first, with a stable keyset cursor."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from storage.queries._common import (
    EPOCH,
    LOG_COLUMNS,
    Source,
    TimeRange,
    Where,
    fetch_rows,
    like_pattern,
)

# Records are ordered by time and then by a digest of every other column,
# which orders records of equal time the same way in every query. Times
# enter the digest as epoch numbers so the session's time zone cannot
# change it. Records equal in every column are interchangeable; the cursor
# counts how many of those a page has already returned.
_ROW_KEY = sql.SQL(
    "md5(jsonb_build_array(extract(epoch FROM observed_time), service,"
    " severity_number, severity_text, severity_inferred, body, body_value,"
    " attributes, resource, scope_name, scope_version, scope_attributes,"
    " trace_id, span_id, flags, dropped_attributes_count, event_name,"
    " schema_url, pattern_id, tags)::text)::uuid"
)


@dataclass(frozen=True, slots=True)
class LogCursor:
    """Where a page of logs ended: the last record's time and row key, and
    how many records with exactly that time and key were returned so far.

    A page after the cursor holds the records whose (time, key) is at most
    the cursor's, newest first, skipping ``seen`` of them: those with an
    equal time and key come first in that order and were already returned.
    """

    time: datetime
    key: str
    seen: int = 1

    def encode(self) -> str:
        """The cursor as opaque URL-safe text."""
        micros = (self.time - EPOCH) // timedelta(microseconds=1)
        fields = [micros, uuid.UUID(self.key).hex, self.seen]
        raw = json.dumps(fields, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> LogCursor:
        """The cursor ``encode`` made.

        Raises:
            ValueError: ``text`` is not such a cursor.
        """
        msg = "not a cursor from this API"
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            fields = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError(msg) from None
        if not (
            isinstance(fields, list)
            and [type(f) for f in fields] == [int, str, int]
            and fields[2] >= 1
        ):
            raise ValueError(msg)

        micros, key, seen = fields
        try:
            moment = EPOCH + timedelta(microseconds=micros)
            return cls(moment, str(uuid.UUID(hex=key)), seen)
        except (ValueError, OverflowError):
            raise ValueError(msg) from None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which log records to return; every condition must hold.

    ``attributes`` pairs a key with the value as text (see
    ``attribute_values``); ``text`` is a case-insensitive substring of
    the body.
    """

    range: TimeRange
    services: tuple[str, ...] = ()
    min_severity: int | None = None
    pattern_id: int | None = None
    tags: tuple[str, ...] = ()
    trace_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    text: str | None = None


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of log records, newest first, and the cursor to the next."""

    items: list[dict[str, Any]]
    next_cursor: LogCursor | None


def _log_conditions(where: LogFilter) -> Where:
    found = Where()
    found.add("time >= %s AND time < %s", where.range.start, where.range.end)
    if where.services:
        found.add("service = ANY(%s)", list(where.services))
    if where.min_severity is not None:
        found.add("severity_number >= %s", where.min_severity)
    if where.pattern_id is not None:
        found.add("pattern_id = %s", where.pattern_id)
    if where.tags:
        found.add("tags @> %s::text[]", list(where.tags))
    if where.trace_id is not None:
        found.add("trace_id = %s", where.trace_id)
    for key, text in where.attributes:
        found.contains("attributes", key, text)
    if where.text:
        found.add("body ILIKE %s", like_pattern(where.text))
    return found


def _next_cursor(items: list[dict[str, Any]], after: LogCursor | None) -> LogCursor:
    last = items[-1]
    key = (last["time"], str(last["row_key"]))
    run = 0
    for item in reversed(items):
        if (item["time"], str(item["row_key"])) != key:
            break
        run += 1
    # A page made only of copies of the cursor's record continues its run.
    if after is not None and run == len(items) and (after.time, after.key) == key:
        run += after.seen
    return LogCursor(key[0], key[1], run)


async def log_page(
    source: Source, where: LogFilter, limit: int, after: LogCursor | None = None
) -> LogPage:
    """Up to ``limit`` records matching ``where``, newest first, after the
    cursor when one is given."""
    found = _log_conditions(where)
    if after is not None:
        found.add(
            sql.SQL("time <= %s AND (time < %s OR {} <= %s::uuid)").format(_ROW_KEY),
            after.time,
            after.time,
            after.key,
        )

    query = sql.SQL(
        "SELECT {columns}, {key} AS row_key FROM logs WHERE {where}"
        " ORDER BY time DESC, row_key DESC LIMIT %s OFFSET %s"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS)),
        key=_ROW_KEY,
        where=found.sql(),
    )
    skip = after.seen if after is not None else 0
    rows = await fetch_rows(source, query, [*found.params, limit + 1, skip])

    items = rows[:limit]
    cursor = _next_cursor(items, after) if len(rows) > limit else None
    for item in items:
        del item["row_key"]
        item["tags"] = item["tags"] or []
    return LogPage(items, cursor)
