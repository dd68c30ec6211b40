"""Sender processes that post pre-encoded OTLP/HTTP requests at full speed.

Each sender is a separate process with one keep-alive connection. Senders
connect, report ready, and all start on one event, so that spawning them
and encoding payloads stay outside the timed window.
"""

from __future__ import annotations

import http.client
import multiprocessing
import queue
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from benchmarks._errors import BenchmarkError
from benchmarks._payloads import RECORDS_PER_REQUEST, SIGNALS, Signal
from benchmarks._sampler import ProcessSampler

__all__ = ["SendReport", "SenderTotals", "run_senders"]

_HEADERS = {"Content-Type": "application/x-protobuf"}
_REQUEST_TIMEOUT_S = 30.0
_START_TIMEOUT_S = 60.0
_MAX_FAILURES_IN_A_ROW = 10
_FAILURE_PAUSE_S = 0.1
_ACKED, _RETRY, _FAILED = "acked", "retry", "failed"


@dataclass(slots=True)
class SenderTotals:
    """What senders saw; ``finished_at`` is the monotonic time of the last reply."""

    requests: int = 0
    records: int = 0
    payload_bytes: int = 0
    retries: int = 0
    rejected: int = 0
    errors: int = 0
    first_error: str = ""
    finished_at: float = 0.0

    def acknowledge(self, nbytes: int, rejected: int) -> None:
        """Count one request answered with 200."""
        self.requests += 1
        self.records += RECORDS_PER_REQUEST
        self.payload_bytes += nbytes
        self.rejected += rejected

    def fail(self, message: str) -> None:
        """Count one request that failed for good; keep the first message."""
        self.errors += 1
        self.first_error = self.first_error or message

    def add(self, other: SenderTotals) -> None:
        """Add another sender's totals to these."""
        self.requests += other.requests
        self.records += other.records
        self.payload_bytes += other.payload_bytes
        self.retries += other.retries
        self.rejected += other.rejected
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.finished_at = max(self.finished_at, other.finished_at)


@dataclass(frozen=True, slots=True)
class SendReport:
    """Senders' totals, the timed wall clock, server RSS and CPU, machine CPU."""

    totals: SenderTotals
    elapsed_s: float
    idle_rss_bytes: int
    peak_rss_bytes: int
    server_cpu_s: float
    machine_busy: float


@dataclass(frozen=True, slots=True)
class _Job:
    signal: str
    port: int
    seconds: float
    payloads: tuple[bytes, ...]


def _pause(seconds: float, deadline: float) -> None:
    time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))


def _retry_after_s(header: str | None) -> float:
    # Retry-After may also be an HTTP date; FlowGuard sends seconds, and
    # one second is its default for anything else.
    try:
        return max(0.0, float(header or 1))
    except ValueError:
        return 1.0


def _send_one(
    conn: http.client.HTTPConnection,
    spec: Signal,
    payload: bytes,
    totals: SenderTotals,
    deadline: float,
) -> str:
    try:
        conn.request("POST", spec.path, body=payload, headers=_HEADERS)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        totals.fail(f"POST {spec.path}: {exc!r}")
        _pause(_FAILURE_PAUSE_S, deadline)
        return _FAILED
    if response.status == 200:
        totals.acknowledge(len(payload), spec.rejected(body))
        return _ACKED
    if response.status == 503:
        # Retryable by the OTLP/HTTP spec: wait as told, send the same again.
        totals.retries += 1
        _pause(_retry_after_s(response.getheader("Retry-After")), deadline)
        return _RETRY
    totals.fail(f"POST {spec.path}: HTTP {response.status}: {body[:200]!r}")
    return _FAILED


def _send_until(
    conn: http.client.HTTPConnection, job: _Job, deadline: float
) -> SenderTotals:
    spec = SIGNALS[job.signal]
    totals = SenderTotals()
    index = failures = 0
    while time.monotonic() < deadline and failures < _MAX_FAILURES_IN_A_ROW:
        payload = job.payloads[index % len(job.payloads)]
        outcome = _send_one(conn, spec, payload, totals, deadline)
        if outcome == _RETRY:
            continue
        failures = failures + 1 if outcome == _FAILED else 0
        index += 1
    totals.finished_at = time.monotonic()
    return totals


def _sender_main(job: _Job, ready: Any, start: Event, results: Any) -> None:
    """The body of one sender process."""
    # A Ctrl-C in the terminal reaches every process of the group; the
    # parent stops the senders itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=_REQUEST_TIMEOUT_S)
    totals = SenderTotals()
    try:
        conn.connect()
    except OSError as exc:
        totals.fail(f"cannot connect to port {job.port}: {exc!r}")
    ready.put(True)
    try:
        if not totals.errors and start.wait(_START_TIMEOUT_S):
            totals = _send_until(conn, job, time.monotonic() + job.seconds)
    finally:
        conn.close()
        totals.finished_at = totals.finished_at or time.monotonic()
        results.put(totals)


def _collect(source: Any, count: int, timeout_s: float, what: str) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    items = []
    for _ in range(count):
        try:
            items.append(source.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            msg = f"{what} within {timeout_s:.0f} s"
            raise BenchmarkError(msg) from None
    return items


def _stop(processes: Sequence[BaseProcess]) -> None:
    for process in processes:
        if process.pid is None:
            continue
        process.join(5.0)
        if process.is_alive():
            process.terminate()
            process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join()


def run_senders(
    signal_name: str,
    port: int,
    payloads: Sequence[Sequence[bytes]],
    seconds: float,
    server_pid: int,
) -> SendReport:
    """Run one sender process per entry of ``payloads`` for ``seconds``.

    Each sender posts ``signal_name`` requests, cycling through its own
    payloads. The server's RSS and CPU time are sampled from the start
    signal until the last sender reports.

    Raises:
        BenchmarkError: senders did not start or finish in time.
    """
    ctx = multiprocessing.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    processes = [
        ctx.Process(
            target=_sender_main,
            args=(_Job(signal_name, port, seconds, tuple(own)), ready, start, results),
            name=f"bench-sender-{index}",
            daemon=True,
        )
        for index, own in enumerate(payloads)
    ]
    try:
        for process in processes:
            process.start()
        _collect(ready, len(processes), _START_TIMEOUT_S, "senders did not start")
        with ProcessSampler(server_pid) as server:
            started = time.monotonic()
            start.set()
            finish_s = seconds + _REQUEST_TIMEOUT_S + _START_TIMEOUT_S
            reports = _collect(results, len(processes), finish_s, "no end of senders")
    finally:
        _stop(processes)
    totals = SenderTotals()
    for report in reports:
        totals.add(report)
    elapsed_s = max(totals.finished_at - started, 1e-6)
    return SendReport(
        totals,
        elapsed_s,
        server.first_rss_bytes,
        server.peak_rss_bytes,
        server.cpu_s,
        server.machine_busy,
    )
