"""The columns FlowGuard writes by COPY, in order, with their PostgreSQL types.

The migrations own the tables; this module names the subset of columns the
writer fills, so that processing can build rows in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KPI_LATENCY",
    "KPI_REQUESTS",
    "LOGS",
    "LOG_PATTERNS",
    "METRIC_SERIES",
    "POINT_TABLES",
    "TABLES",
    "Table",
]


@dataclass(frozen=True, slots=True)
class Table:
    """A table the writer fills: its name and (column, type) pairs."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """The column names, in COPY order."""
        return tuple(name for name, _ in self.columns)

    @property
    def types(self) -> tuple[str, ...]:
        """The PostgreSQL type names, in COPY order."""
        return tuple(kind for _, kind in self.columns)


LOGS = Table(
    "logs",
    (
        ("time", "timestamptz"),
        ("observed_time", "timestamptz"),
        ("service", "text"),
        ("severity_number", "int2"),
        ("severity_text", "text"),
        ("body", "text"),
        ("body_value", "jsonb"),
        ("attributes", "jsonb"),
        ("resource", "jsonb"),
        ("scope_name", "text"),
        ("scope_version", "text"),
        ("scope_attributes", "jsonb"),
        ("trace_id", "text"),
        ("span_id", "text"),
        ("flags", "int8"),
        ("dropped_attributes_count", "int8"),
        ("event_name", "text"),
        ("schema_url", "text"),
        ("severity_inferred", "bool"),
        ("pattern_id", "int8"),
        ("tags", "text[]"),
    ),
)

METRIC_SERIES = Table(
    "metric_series",
    (
        ("series_id", "int8"),
        ("name", "text"),
        ("kind", "text"),
        ("unit", "text"),
        ("description", "text"),
        ("temporality", "text"),
        ("is_monotonic", "bool"),
        ("service", "text"),
        ("resource", "jsonb"),
        ("scope_name", "text"),
        ("scope_version", "text"),
        ("scope_attributes", "jsonb"),
        ("attributes", "jsonb"),
        ("metadata", "jsonb"),
        ("schema_url", "text"),
    ),
)

_POINT_HEAD = (
    ("time", "timestamptz"),
    ("series_id", "int8"),
    ("start_time", "timestamptz"),
)

METRIC_POINTS = Table(
    "metric_points",
    (
        *_POINT_HEAD,
        ("value", "float8"),
        ("int_value", "int8"),
        ("flags", "int8"),
        ("exemplars", "jsonb"),
        ("delta", "float8"),
        ("conversion", "text"),
    ),
)

METRIC_HISTOGRAMS = Table(
    "metric_histograms",
    (
        *_POINT_HEAD,
        ("count", "int8"),
        ("sum", "float8"),
        ("min", "float8"),
        ("max", "float8"),
        ("bounds", "float8[]"),
        ("bucket_counts", "int8[]"),
        ("flags", "int8"),
        ("exemplars", "jsonb"),
        ("delta_count", "int8"),
        ("delta_sum", "float8"),
        ("delta_bucket_counts", "int8[]"),
        ("conversion", "text"),
    ),
)

METRIC_EXP_HISTOGRAMS = Table(
    "metric_exp_histograms",
    (
        *_POINT_HEAD,
        ("count", "int8"),
        ("sum", "float8"),
        ("min", "float8"),
        ("max", "float8"),
        ("scale", "int4"),
        ("zero_count", "int8"),
        ("zero_threshold", "float8"),
        ("positive_offset", "int4"),
        ("positive_counts", "int8[]"),
        ("negative_offset", "int4"),
        ("negative_counts", "int8[]"),
        ("flags", "int8"),
        ("exemplars", "jsonb"),
    ),
)

METRIC_SUMMARIES = Table(
    "metric_summaries",
    (
        *_POINT_HEAD,
        ("count", "int8"),
        ("sum", "float8"),
        ("quantiles", "float8[]"),
        ("quantile_values", "float8[]"),
        ("flags", "int8"),
    ),
)

KPI_REQUESTS = Table(
    "kpi_requests",
    (
        ("time", "timestamptz"),
        ("service", "text"),
        ("requests", "int8"),
        ("errors", "int8"),
        ("duration_sum_ms", "float8"),
        ("min_ms", "float8"),
        ("max_ms", "float8"),
    ),
)

KPI_LATENCY = Table(
    "kpi_latency",
    (
        ("time", "timestamptz"),
        ("service", "text"),
        ("le_ms", "float8"),
        ("count", "int8"),
    ),
)

LOG_PATTERNS = Table(
    "log_patterns",
    (
        ("pattern_id", "int8"),
        ("service", "text"),
        ("template", "text"),
        ("lookup_key", "text"),
        ("first_seen", "timestamptz"),
    ),
)

POINT_TABLES = (
    METRIC_POINTS,
    METRIC_HISTOGRAMS,
    METRIC_EXP_HISTOGRAMS,
    METRIC_SUMMARIES,
)

TABLES = {
    table.name: table for table in (LOGS, *POINT_TABLES, KPI_REQUESTS, KPI_LATENCY)
}
