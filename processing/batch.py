"""The batch: what processing hands to the writer for one export request."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batch", "Rejection", "Row"]

Row = tuple[Any, ...]


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
    catalogue row. ``accepted`` counts stored records per service.
    """

    signal: str
    nbytes: int = 0
    rows: dict[str, list[Row]] = field(default_factory=dict)
    series: dict[int, Row] = field(default_factory=dict)
    accepted: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)

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
        """Rows over all tables."""
        return sum(len(rows) for rows in self.rows.values())

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
