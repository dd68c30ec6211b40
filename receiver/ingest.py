"""The path every export takes once decoded: process, write, count, answer.

Both OTLP receivers and the simple JSON API call ``Ingestor``; it turns a
decoded request into a Batch, admits it against the writer's in-flight
bound, runs the processor chain, waits for the commit and records the
outcome in the ledger.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from flowguard.errors import BackpressureError, FlowGuardError, StorageError
from processing._values import UNKNOWN_SERVICE
from processing.batch import Batch
from processing.chain import Chain
from processing.logs import logs_batch
from processing.metrics import SeriesIds, metrics_batch

__all__ = ["IngestResult", "Ingestor", "Sink"]

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Where batches go: the writer, or anything with the same three calls."""

    def admit(self, nbytes: int) -> None: ...

    def release(self, nbytes: int) -> None: ...

    async def write(self, batch: Batch) -> None: ...

    @property
    def known_series(self) -> Container[int]: ...


class Counts(Protocol):
    """The ledger, as the ingest path sees it."""

    def count(
        self, service: str, signal: str, outcome: str, records: int, reason: str = ""
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What to tell the sender: how many records were rejected, and why."""

    accepted: int
    rejected: int
    message: str


def _service_name(resource_attrs: Iterable[KeyValue]) -> str:
    for kv in resource_attrs:
        if kv.key == "service.name" and kv.value.string_value:
            return str(kv.value.string_value)
    return UNKNOWN_SERVICE


def _logs_per_service(request: ExportLogsServiceRequest) -> Counter[str]:
    counts: Counter[str] = Counter()
    for rl in request.resource_logs:
        n = sum(len(sl.log_records) for sl in rl.scope_logs)
        counts[_service_name(rl.resource.attributes)] += n
    return counts


def _points_per_service(request: ExportMetricsServiceRequest) -> Counter[str]:
    counts: Counter[str] = Counter()
    for rm in request.resource_metrics:
        n = 0
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    n += len(getattr(metric, kind).data_points)
        counts[_service_name(rm.resource.attributes)] += n
    return counts


def _refusal(exc: FlowGuardError) -> str:
    # Ledger rows are keyed by reason, so a refusal is filed under a fixed
    # phrase rather than its message, which carries changing numbers.
    if isinstance(exc, BackpressureError):
        return "in-flight byte bound reached"
    return "database unreachable or server stopping"


class Ingestor:
    """Stores decoded export requests through a sink."""

    def __init__(self, sink: Sink, ledger: Counts, chain: Chain | None = None) -> None:
        self._sink = sink
        self._ledger = ledger
        self._chain = chain or Chain()
        self._series_ids = SeriesIds()

    async def logs(
        self, request: ExportLogsServiceRequest, nbytes: int
    ) -> IngestResult:
        """Store a logs export request of ``nbytes`` encoded bytes."""
        self._admit(nbytes, "logs", lambda: _logs_per_service(request))
        try:
            return await self._store(logs_batch(request, nbytes))
        finally:
            self._sink.release(nbytes)

    async def metrics(
        self, request: ExportMetricsServiceRequest, nbytes: int
    ) -> IngestResult:
        """Store a metrics export request of ``nbytes`` encoded bytes."""
        self._admit(nbytes, "metrics", lambda: _points_per_service(request))
        try:
            batch = metrics_batch(
                request, nbytes, self._sink.known_series, self._series_ids
            )
            return await self._store(batch)
        finally:
            self._sink.release(nbytes)

    def check_capacity(self, signal: str) -> None:
        """Refuse at once, before a body is read, when nothing more fits.

        Raises:
            StorageUnavailableError: the database is down.
            BackpressureError: the in-flight bound is already reached.
        """
        try:
            self._sink.admit(0)
        except FlowGuardError as exc:
            # The body is not read, so its records and service are unknown.
            self._ledger.count(UNKNOWN_SERVICE, signal, "refused", 0, _refusal(exc))
            raise

    def _admit(
        self, nbytes: int, signal: str, per_service: Callable[[], Counter[str]]
    ) -> None:
        try:
            self._sink.admit(nbytes)
        except FlowGuardError as exc:
            for service, n in per_service().items():
                self._ledger.count(service, signal, "refused", n, _refusal(exc))
            raise

    async def _store(self, batch: Batch) -> IngestResult:
        try:
            await self._write(batch)
        except StorageError as exc:
            # The database refused every row of this request; retrying the
            # same data would fail again, so report it as rejected.
            for service, n in batch.accepted.items():
                batch.reject_many(service, str(exc), n)
            batch.accepted.clear()
        except FlowGuardError as exc:
            for service, n in batch.accepted.items():
                self._ledger.count(service, batch.signal, "refused", n, _refusal(exc))
            raise
        self._record(batch)
        accepted = sum(batch.accepted.values())
        return IngestResult(accepted, batch.rejected_count, batch.rejection_message())

    async def _write(self, batch: Batch) -> None:
        # Processors hear about every batch they may have seen, also when a
        # later processor failed, so that no state is left waiting for it.
        stored = False
        try:
            await self._chain.run(batch)
            await self._sink.write(batch)
            stored = True
        finally:
            self._chain.committed(batch, stored)

    def _record(self, batch: Batch) -> None:
        for service, n in batch.accepted.items():
            self._ledger.count(service, batch.signal, "accepted", n)
        rejected: Counter[tuple[str, str]] = Counter()
        for rejection in batch.rejections:
            rejected[(rejection.service, rejection.reason)] += rejection.count
        for (service, reason), n in rejected.items():
            self._ledger.count(service, batch.signal, "rejected", n, reason)
