"""Read queries behind the JSON API: logs, metric series and points, KPIs
and log patterns.

Every query of time-keyed rows is bounded by a time range, so it reads
only the chunks and index ranges of that range, and each filter is written
in the form its index in ``migrations/`` serves: ``@>`` for JSONB and tag
containment, ``ILIKE`` for body text, ``= ANY`` for services. Functions
take a connection or a pool and return plain dicts and lists; times stay
timezone-aware datetimes for the caller to format.

Logs are paged newest first with a keyset cursor; see ``LogCursor``.
"""

from __future__ import annotations

from storage.queries._common import (
    AGGREGATIONS,
    KPI_FIELDS,
    LOG_COLUMNS,
    SERIES_COLUMNS,
    QueryError,
    Source,
    TimeRange,
    attribute_values,
)
from storage.queries._kpis import kpis, pattern_counts
from storage.queries._logs import LogCursor, LogFilter, LogPage, log_page
from storage.queries._metrics import (
    MetricQuery,
    SeriesFilter,
    metric_data,
    search_series,
)

__all__ = [
    "AGGREGATIONS",
    "KPI_FIELDS",
    "LOG_COLUMNS",
    "SERIES_COLUMNS",
    "LogCursor",
    "LogFilter",
    "LogPage",
    "MetricQuery",
    "QueryError",
    "SeriesFilter",
    "Source",
    "TimeRange",
    "attribute_values",
    "kpis",
    "log_page",
    "metric_data",
    "pattern_counts",
    "search_series",
]
