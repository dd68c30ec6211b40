"""The batch: what processing hands to the writer for one export request."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processing._values import to_json

__all__ = ["Batch", "LogEntry", "Rejection", "Row", "SeriesInfo"]

Row = tuple[Any, ...]


@dataclass(slots=True)
class LogEntry:
    """One log record on its way through the processors.

    Processors read and set fields here; ``row`` turns the entry into a
    ``logs`` row once every processor has run.
    """

    time: datetime
    observed_time: datetime | None
    service: str
    severity_number: int
    severity_text: str
    body: str | None
    body_value: bytes | None
    attributes: dict[str, Any]
    context: Row
    trace_id: str | None
    span_id: str | None
    flags: int
    dropped_attributes_count: int
    event_name: str
    severity_inferred: bool = False
    pattern_id: int | None = None
    tags: tuple[str, ...] = ()

    def row(self) -> Row:
        """The ``logs`` row, in ``storage.schema.LOGS`` column order."""
        resource, scope_name, scope_version, scope_attrs, schema_url = self.context
        return (
            self.time,
            self.observed_time,
            self.service,
            self.severity_number,
            self.severity_text,
            self.body,
            self.body_value,
            to_json(self.attributes),
            resource,
            scope_name,
            scope_version,
            scope_attrs,
            self.trace_id,
            self.span_id,
            self.flags,
            self.dropped_attributes_count,
            self.event_name,
            schema_url,
            self.severity_inferred,
            self.pattern_id,
            list(self.tags) if self.tags else None,
        )


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What processors need to know about the series of a point."""

    name: str
    kind: str
    unit: str
    temporality: str | None
    is_monotonic: bool | None
    service: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Records of one service that cannot be stored, and why."""

    service: str
    reason: str
    count: int = 1


@dataclass(slots=True)
class Batch:
    """Rows decoded from one export request, grouped by target table.

    ``rows`` maps a table name from ``storage.schema.TABLES`` to rows in that
    table's column order; ``series`` maps a metric series id to its
    catalogue row and ``series_info`` describes the series of every point.
    Log records wait in ``logs`` until ``seal`` turns them into rows, after
    the processors. ``patterns`` holds log pattern rows to create or update.
    ``accepted`` counts stored records per service.
    """

    signal: str
    nbytes: int = 0
    rows: dict[str, list[Row]] = field(default_factory=dict)
    series: dict[int, Row] = field(default_factory=dict)
    series_info: dict[int, SeriesInfo] = field(default_factory=dict)
    logs: list[LogEntry] = field(default_factory=list)
    patterns: dict[int, Row] = field(default_factory=dict)
    accepted: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)

    def add_log(self, entry: LogEntry) -> None:
        """Add one log record, counted as accepted for its service."""
        self.logs.append(entry)
        self.accepted[entry.service] += 1

    def seal(self) -> Batch:
        """Turn the log entries into ``logs`` rows; returns the batch."""
        if self.logs:
            self.rows.setdefault("logs", []).extend(e.row() for e in self.logs)
            self.logs = []
        return self

    def add(self, table: str, row: Row, service: str) -> None:
        """Add one row for ``table``, counted as accepted for ``service``."""
        self.rows.setdefault(table, []).append(row)
        self.accepted[service] += 1

    def reject(self, service: str, reason: str) -> None:
        """Count one record of ``service`` that cannot be stored."""
        self.rejections.append(Rejection(service, reason))

    def reject_many(self, service: str, reason: str, count: int) -> None:
        """Count ``count`` records of ``service`` that cannot be stored."""
        self.rejections.append(Rejection(service, reason, count))

    @property
    def row_count(self) -> int:
        """Rows over all tables, log entries not yet sealed included."""
        return sum(len(rows) for rows in self.rows.values()) + len(self.logs)

    @property
    def rejected_count(self) -> int:
        """Records that cannot be stored."""
        return sum(r.count for r in self.rejections)

    def rejection_message(self) -> str:
        """A short summary of why records were rejected, for partial_success."""
        reasons = Counter[str]()
        for rejection in self.rejections:
            reasons[rejection.reason] += rejection.count
        parts = [f"{count} rejected: {reason}" for reason, count in reasons.items()]
        return "; ".join(parts)
