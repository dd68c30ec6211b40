"""The benchmark's figures, printed as a table and as one JSON line."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.database import TierInfo

__all__ = ["Run", "SignalResult", "problems", "summary", "table"]


@dataclass(frozen=True, slots=True)
class Run:
    """What every phase shared: its length, senders, and the database tier."""

    seconds: float
    senders: int
    workers: int
    records_per_request: int
    copy_rows_per_transaction: int
    tier: TierInfo


@dataclass(frozen=True, slots=True)
class SignalResult:
    """Every figure measured for one signal; rates are per second, MB 10^6 B.

    ``server_cpu_percent`` is the server processes' CPU time over the timed
    wall clock: 100 means one core busy all the time. ``machine_cpu_percent``
    is the busy share of all the machine's CPUs meanwhile.
    """

    signal: str
    records_per_s: float
    rows_in_database: int
    acknowledged_records: int
    acknowledged_mb_per_s: float
    requests: int
    retries_503: int
    rejected: int
    errors: int
    idle_rss_mb: float
    peak_rss_mb: float
    server_cpu_percent: float
    machine_cpu_percent: float
    processing_records_per_s: float
    copy_records_per_s: float
    ratio: float


# The printed rows: label, SignalResult field, format.
_ROWS = (
    ("end-to-end records/s (rows in db)", "records_per_s", "{:,.0f}"),
    ("rows in database", "rows_in_database", "{:,}"),
    ("records acknowledged (senders)", "acknowledged_records", "{:,}"),
    ("OTLP payload acknowledged MB/s", "acknowledged_mb_per_s", "{:,.2f}"),
    ("requests acknowledged", "requests", "{:,}"),
    ("503 responses retried", "retries_503", "{:,}"),
    ("records rejected (partial success)", "rejected", "{:,}"),
    ("failed requests", "errors", "{:,}"),
    ("server RSS before the run MB", "idle_rss_mb", "{:,.1f}"),
    ("server peak RSS MB", "peak_rss_mb", "{:,.1f}"),
    ("server CPU % (100 = one core)", "server_cpu_percent", "{:,.0f}"),
    ("machine CPU % busy (all cores)", "machine_cpu_percent", "{:,.0f}"),
    ("processing only records/s (1 core)", "processing_records_per_s", "{:,.0f}"),
    ("raw COPY records/s", "copy_records_per_s", "{:,.0f}"),
    ("ratio end-to-end / raw COPY", "ratio", "{:.3f}"),
)
_COLUMN = 12


def _heading(run: Run) -> str:
    tier = run.tier
    version = tier.server_version.split()[0]
    timescaledb = tier.timescaledb_version or "absent"
    return (
        f"flowguard ingest: {run.senders} senders, {run.workers} server "
        f"worker(s), {run.seconds:g} s per phase, "
        f"{run.records_per_request} records per request, "
        f"COPY {run.copy_rows_per_transaction} rows per transaction\n"
        f"tier {tier.tier}: PostgreSQL {version}, TimescaleDB {timescaledb}; "
        f"{os.cpu_count()} CPUs shared by senders, server and database"
    )


def table(results: Sequence[SignalResult], run: Run) -> str:
    """The figures as a text table, one column per signal."""
    width = max(len(label) for label, _, _ in _ROWS) + 2
    header = " " * width + "".join(f"{r.signal:>{_COLUMN}}" for r in results)
    lines = [_heading(run), "", header]
    for label, name, form in _ROWS:
        cells = (form.format(getattr(r, name)) for r in results)
        lines.append(f"{label:<{width}}" + "".join(f"{c:>{_COLUMN}}" for c in cells))
    return "\n".join(lines)


def summary(results: Sequence[SignalResult], run: Run) -> dict[str, Any]:
    """The figures as one JSON-ready mapping, floats rounded."""
    out: dict[str, Any] = {
        "benchmark": "flowguard-ingest",
        "seconds": run.seconds,
        "senders": run.senders,
        "workers": run.workers,
        "cpus": os.cpu_count(),
        "records_per_request": run.records_per_request,
        "copy_rows_per_transaction": run.copy_rows_per_transaction,
        "tier": run.tier.tier,
        "postgresql": run.tier.server_version.split()[0],
        "timescaledb": run.tier.timescaledb_version,
    }
    for result in results:
        fields = dataclasses.asdict(result)
        del fields["signal"]
        out[result.signal] = {
            k: round(v, 3) if isinstance(v, float) else v for k, v in fields.items()
        }
    return out


def problems(results: Sequence[SignalResult]) -> list[str]:
    """What makes a run untrustworthy: lost rows or failed requests."""
    found = []
    for r in results:
        stored = r.acknowledged_records - r.rejected
        if r.rows_in_database < stored:
            found.append(
                f"{r.signal}: {stored} records acknowledged as stored, "
                f"only {r.rows_in_database} rows in the database"
            )
        if r.errors:
            found.append(f"{r.signal}: {r.errors} requests failed")
    return found
