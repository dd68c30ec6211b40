"""KPI facts: requests, errors and latency buckets per service.

Each per-interval point of a request-duration histogram becomes one
``kpi_requests`` row and one ``kpi_latency`` row per non-empty bucket, in
milliseconds. The rollups sum these rows, so minute and hour KPIs stay
mergeable. Which metrics count as requests and which points are errors
follow the OTel semantic conventions by default and are configurable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from processing.batch import Batch, Row, SeriesInfo
from processing.chain import ProcessorContext
from storage.schema import KPI_LATENCY, KPI_REQUESTS, METRIC_HISTOGRAMS

__all__ = ["KpiProcessor", "KpiSources"]

_H = {name: i for i, name in enumerate(METRIC_HISTOGRAMS.column_names)}
_COUNTED = frozenset({"delta", "start", "step", "reset"})

# Milliseconds per unit, for the UCUM units the conventions use.
_UNIT_MS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "\u00b5s": 0.001, "ns": 1e-6}

# The unit each conventional metric is defined in, for senders that leave
# the unit empty: the stable HTTP and RPC conventions use seconds, their
# older versions milliseconds.
_DEFAULT_UNITS = {
    "http.server.request.duration": "s",
    "http.server.duration": "ms",
    "rpc.server.call.duration": "s",
    "rpc.server.duration": "ms",
}

# gRPC status codes that mean the server failed rather than the caller:
# UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
_GRPC_SERVER_ERRORS = (2, 4, 12, 13, 14, 15)


@dataclass(frozen=True, slots=True)
class KpiSources:
    """Which histograms count requests, and which of their points are errors."""

    request_metrics: tuple[str, ...] = tuple(_DEFAULT_UNITS)
    status_attributes: tuple[str, ...] = (
        "http.response.status_code",
        "http.status_code",
    )
    error_status_min: int = 500
    error_attributes: tuple[str, ...] = ("error.type",)
    grpc_status_attribute: str = "rpc.grpc.status_code"
    grpc_error_codes: tuple[int, ...] = _GRPC_SERVER_ERRORS

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> KpiSources:
        """Sources from processing options, defaults for what is unset."""
        given = {k: options[f"kpi_{k}"] for k in _FIELDS if f"kpi_{k}" in options}
        return cls(**given)

    def is_error(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a point with these attributes counts failed requests."""
        for name in self.error_attributes:
            if attributes.get(name) not in (None, ""):
                return True
        for name in self.status_attributes:
            status = _integer(attributes.get(name))
            if status is not None:
                return status >= self.error_status_min
        code = _integer(attributes.get(self.grpc_status_attribute))
        return code in self.grpc_error_codes

    def ms_per_unit(self, info: SeriesInfo) -> float:
        """Milliseconds per unit of the series' values."""
        unit = info.unit or _DEFAULT_UNITS.get(info.name, "ms")
        return _UNIT_MS.get(unit, 1.0)


_FIELDS = (
    "request_metrics",
    "status_attributes",
    "error_status_min",
    "error_attributes",
    "grpc_status_attribute",
    "grpc_error_codes",
)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _bound_ms(bound: float, ms_per_unit: float) -> float:
    # Rounded so that, say, 0.005 s and 5 ms land on the same bound.
    return round(bound * ms_per_unit, 9)


class KpiProcessor:
    """Derives KPI facts from per-interval request-duration histograms."""

    def __init__(self, sources: KpiSources | None = None) -> None:
        self._sources = sources or KpiSources()
        self._names = frozenset(self._sources.request_metrics)

    @classmethod
    def from_context(cls, context: ProcessorContext) -> KpiProcessor:
        """The processor with the KPI sources from configuration."""
        return cls(KpiSources.from_options(context.options))

    async def __call__(self, batch: Batch) -> None:
        """Add KPI rows for every counted request-duration point."""
        rows = batch.rows.get(METRIC_HISTOGRAMS.name)
        if not rows:
            return
        errors: dict[int, bool] = {}
        requests: list[Row] = []
        latency: list[Row] = []
        for row in rows:
            info = batch.series_info.get(row[_H["series_id"]])
            if info is None or info.name not in self._names:
                continue
            if row[_H["conversion"]] not in _COUNTED or not row[_H["delta_count"]]:
                continue
            sid = row[_H["series_id"]]
            if sid not in errors:
                errors[sid] = self._sources.is_error(info.attributes)
            self._facts(row, info, errors[sid], requests, latency)
        if requests:
            batch.rows.setdefault(KPI_REQUESTS.name, []).extend(requests)
        if latency:
            batch.rows.setdefault(KPI_LATENCY.name, []).extend(latency)

    def _facts(
        self,
        row: Row,
        info: SeriesInfo,
        is_error: bool,
        requests: list[Row],
        latency: list[Row],
    ) -> None:
        time = row[_H["time"]]
        count = row[_H["delta_count"]]
        ms = self._sources.ms_per_unit(info)
        total, low, high = row[_H["delta_sum"]], row[_H["min"]], row[_H["max"]]
        requests.append(
            (
                time,
                info.service,
                count,
                count if is_error else 0,
                None if total is None else total * ms,
                None if low is None else low * ms,
                None if high is None else high * ms,
            )
        )
        bounds: Sequence[float] = row[_H["bounds"]]
        for i, n in enumerate(row[_H["delta_bucket_counts"]] or ()):
            if n > 0:
                le = _bound_ms(bounds[i], ms) if i < len(bounds) else math.inf
                latency.append((time, info.service, le, n))
