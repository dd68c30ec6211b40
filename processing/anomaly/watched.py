"""The KPIs watched for anomalies, and how an anomaly on one is explained.

Every service's minute rollup (``kpi_1m``) gives five series. Each names
the view column it reads, the column that says how much traffic stands
behind a value (a p95 of three requests means little), and how its values
read in an explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

__all__ = ["WATCHED_KPIS", "WatchedKpi", "explain", "format_value"]


@dataclass(frozen=True, slots=True)
class WatchedKpi:
    """One KPI series of a service.

    ``support`` names the column counting what the value is computed
    from; below the configured minimum no bucket is anomalous. ``count``
    marks a KPI that is zero in a minute without data, where the others
    have no value then.
    """

    name: str
    column: str
    label: str
    unit: str
    support: str | None
    count: bool


WATCHED_KPIS: Mapping[str, WatchedKpi] = MappingProxyType(
    {
        kpi.name: kpi
        for kpi in (
            WatchedKpi(
                "throughput", "throughput_rps", "throughput", "req/s", None, True
            ),
            WatchedKpi(
                "error_rate", "error_rate", "error rate", "%", "requests", False
            ),
            WatchedKpi("p95_latency", "p95_ms", "p95 latency", "ms", "requests", False),
            WatchedKpi("log_volume", "logs", "log volume", "logs/min", None, True),
            WatchedKpi("error_logs", "error_logs", "error logs", "/min", None, True),
        )
    }
)


def format_value(kpi: WatchedKpi, value: float) -> str:
    """A value as an explanation shows it, with its unit."""
    if kpi.unit == "%" or kpi.unit.startswith("/"):
        return f"{_bare(kpi, value)}{kpi.unit}"
    return f"{_bare(kpi, value)} {kpi.unit}"


def _bare(kpi: WatchedKpi, value: float) -> str:
    return _number(100 * value if kpi.unit == "%" else value)


def _number(value: float) -> str:
    size = abs(value)
    if size >= 100 or value == int(value):
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def explain(
    kpi: WatchedKpi,
    observed: float | None,
    low: float | None,
    high: float | None,
    at: datetime,
    utc_offset: timedelta = timedelta(0),
) -> str:
    """One sentence: the observed value, the expected range and when.

    ``p95 latency 840 ms, expected 120-190 ms for Tuesday 14:00``
    """
    local = at + utc_offset
    when = f"{local:%A %H:%M}"
    if utc_offset == timedelta(0):
        when += " UTC"
    seen = "no data" if observed is None else format_value(kpi, observed)
    if low is None or high is None:
        return f"{kpi.label} {seen} at {when}"
    bottom = _bare(kpi, max(low, 0.0))
    return f"{kpi.label} {seen}, expected {bottom}-{format_value(kpi, high)} for {when}"
