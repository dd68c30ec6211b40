"""The ingest benchmark: OTLP/HTTP end to end against raw COPY of the same rows.

For logs, then for gauge and sum metric points:

1. End to end: ``flowguard serve`` runs as a subprocess on a fresh database
   and ``senders`` separate processes post pre-encoded OTLP/HTTP protobuf
   export requests of 500 records at full speed for ``seconds``. Records
   per second come from counting the rows in the database afterwards. The
   server process's RSS (without children) is sampled every 100 ms.
2. Raw COPY: the rows that processing makes of the same requests are copied
   into another fresh database over one connection, ``batch_max_rows`` rows
   per transaction, for the same number of seconds.
3. The ratio of the two rates.

Run it as ``flowguard bench ingest`` or ``python -m benchmarks.ingest``.
It prints a table, then the same figures as one JSON line. The senders,
the server and PostgreSQL share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from benchmarks import _report
from benchmarks._copy import CopyReport, copy_rows
from benchmarks._errors import BenchmarkError
from benchmarks._payloads import RECORDS_PER_REQUEST, SIGNALS, build_payloads, process
from benchmarks._postgres import Postgres, count_rows, postgres_server
from benchmarks._senders import SendReport, run_senders
from benchmarks._server import ServeProcess
from flowguard.config import Settings, load_settings
from flowguard.errors import ConfigError
from flowguard.service import prepare_database
from processing.batch import Row
from storage.database import TierInfo

__all__ = ["main", "run_benchmark"]

# A fixed name: run as ``python -m``, __name__ would be "__main__".
logger = logging.getLogger("benchmarks.ingest")

_PAYLOADS_PER_SENDER = 8
_MB = 1_000_000


def _end_to_end(
    postgres: Postgres,
    settings: Settings,
    signal_name: str,
    payloads: list[list[bytes]],
    seconds: float,
) -> tuple[SendReport, int]:
    with postgres.database() as url, ServeProcess(settings, url) as server:
        logger.info("%s end to end: %d senders", signal_name, len(payloads))
        report = run_senders(
            signal_name, server.otlp_http_port, payloads, seconds, server.pid
        )
        return report, count_rows(url, SIGNALS[signal_name].table.name)


def _raw_copy(
    postgres: Postgres, signal_name: str, rows: list[Row], run: _report.Run
) -> tuple[CopyReport, int]:
    table = SIGNALS[signal_name].table
    with postgres.database() as url:
        asyncio.run(prepare_database(url))
        logger.info("%s raw copy: %d distinct rows", signal_name, len(rows))
        report = asyncio.run(
            copy_rows(url, table, rows, run.copy_rows_per_transaction, run.seconds)
        )
        stored = count_rows(url, table.name)
    if stored != report.rows:
        msg = f"COPY sent {report.rows} {table.name} rows but {stored} are stored"
        raise BenchmarkError(msg)
    return report, stored


def _result(
    signal_name: str,
    sent: SendReport,
    stored: int,
    processing_rate: float,
    copy_rate: float,
) -> _report.SignalResult:
    e2e_rate = stored / sent.elapsed_s
    return _report.SignalResult(
        signal=signal_name,
        records_per_s=e2e_rate,
        rows_in_database=stored,
        acknowledged_records=sent.totals.records,
        acknowledged_mb_per_s=sent.totals.payload_bytes / _MB / sent.elapsed_s,
        requests=sent.totals.requests,
        retries_503=sent.totals.retries,
        rejected=sent.totals.rejected,
        errors=sent.totals.errors,
        idle_rss_mb=sent.idle_rss_bytes / _MB,
        peak_rss_mb=sent.peak_rss_bytes / _MB,
        server_cpu_percent=100 * sent.server_cpu_s / sent.elapsed_s,
        machine_cpu_percent=100 * sent.machine_busy,
        processing_records_per_s=processing_rate,
        copy_records_per_s=copy_rate,
        ratio=e2e_rate / copy_rate,
    )


def _measure(
    postgres: Postgres, settings: Settings, signal_name: str, run: _report.Run
) -> _report.SignalResult:
    every = build_payloads(SIGNALS[signal_name], run.senders * _PAYLOADS_PER_SENDER)
    per_sender = [every[i :: run.senders] for i in range(run.senders)]
    sent, stored = _end_to_end(postgres, settings, signal_name, per_sender, run.seconds)
    if sent.totals.first_error:
        first = sent.totals.first_error
        logger.warning("%s senders had failed requests, first: %s", signal_name, first)

    rows, processing_s = process(SIGNALS[signal_name], every)
    copied, copied_rows = _raw_copy(postgres, signal_name, rows, run)
    return _result(
        signal_name,
        sent,
        stored,
        len(rows) / processing_s if processing_s > 0 else math.inf,
        copied_rows / copied.elapsed_s,
    )


def _tier(postgres: Postgres) -> TierInfo:
    with postgres.database() as url:
        return asyncio.run(prepare_database(url))


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    # A benchmark stopped by SIGTERM (a CI timeout, say) must still stop
    # its server and destroy its cluster, so SIGTERM unwinds like Ctrl-C.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_all(
    settings: Settings, seconds: float, senders: int
) -> tuple[list[_report.SignalResult], _report.Run]:
    with postgres_server(settings) as postgres:
        tier = _tier(postgres)
        rows_per_transaction = settings.batch_max_rows
        run = _report.Run(
            seconds,
            senders,
            settings.workers,
            RECORDS_PER_REQUEST,
            rows_per_transaction,
            tier,
        )
        results = [_measure(postgres, settings, name, run) for name in SIGNALS]
    return results, run


def run_benchmark(
    settings: Settings, *, seconds: float = 20.0, senders: int = 8
) -> int:
    """Run every phase, print the table and the JSON line; return an exit code.

    0: done and consistent. 1: a phase failed, rows were missing or requests
    failed. 2: bad arguments. 130: interrupted (Ctrl-C or SIGTERM).
    """
    if not (math.isfinite(seconds) and seconds > 0) or senders < 1:
        logger.error(
            "--seconds must be a positive number and --senders at least 1,"
            " got %r and %r",
            seconds,
            senders,
        )
        return 2
    try:
        with _sigterm_as_interrupt():
            results, run = _run_all(settings, seconds, senders)
    except BenchmarkError as exc:
        logger.error("ingest benchmark failed: %s", exc)
        return 1
    except KeyboardInterrupt:
        logger.error("ingest benchmark interrupted; its servers are stopped")
        return 130
    print(_report.table(results, run))
    print(json.dumps(_report.summary(results, run)))
    problems = _report.problems(results)
    for problem in problems:
        logger.error("inconsistent result: %s", problem)
    return 1 if problems else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest",
        description="OTLP/HTTP ingest end to end against raw COPY of the same rows.",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--senders", type=int, default=8, help="sender processes")
    parser.add_argument(
        "--database-url",
        help="admin URL of a PostgreSQL server (CREATEDB needed); default: "
        "FLOWGUARD_DATABASE_URL, else a private cluster",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.ingest``."""
    parser = _parser()
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if args.database_url:
        environ["FLOWGUARD_DATABASE_URL"] = args.database_url
    try:
        settings = load_settings(environ)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: configuration error: {exc}\n")
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run_benchmark(settings, seconds=args.seconds, senders=args.senders)


if __name__ == "__main__":
    sys.exit(main())
