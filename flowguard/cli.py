"""The ``flowguard`` command: serve, migrate, bench, logs, rules."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

import psycopg

from flowguard.config import Settings, load_settings
from flowguard.errors import ConfigError

__all__ = ["main"]

logger = logging.getLogger("flowguard")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _serve(settings: Settings, worker: bool) -> int:
    from flowguard.service import Service
    from flowguard.supervised import signal_ready
    from flowguard.workers import Supervisor

    stop = _stop_on_signals()
    if settings.workers > 1 and not worker:
        return await Supervisor(settings).run(stop)
    service = Service(settings, reuse_port=worker)
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, service.reload_rules)
    try:
        await service.start()
        signal_ready()
        logger.info("worker ready" if worker else "flowguard ready")
        await stop.wait()
        logger.info("stopping: flushing accepted data")
    finally:
        await service.stop()
    return 0


async def _migrate(settings: Settings) -> int:
    from flowguard.service import prepare_database
    from storage.embedded import EmbeddedPostgres

    embedded = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = await embedded.start()
    try:
        tier = await prepare_database(url)
        logger.info("database is up to date; storage tier %s", tier.tier)
    finally:
        if embedded is not None:
            await embedded.stop()
    return 0


async def _backtest(settings: Settings, path: str, since: str) -> int:
    from datetime import UTC, datetime

    from alerting.backtest import backtest, print_replay
    from alerting.rulefile import load_rules
    from flowguard.durations import parse_duration
    from storage.embedded import EmbeddedPostgres

    try:
        span = parse_duration(since)
    except ValueError as exc:
        print(f"flowguard: --since: {exc}", file=sys.stderr)
        return 2
    rules = load_rules(path)
    embedded = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = await embedded.start()
    try:
        end = datetime.now(UTC)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            print_replay(await backtest(conn, rules, end - span, end))
    finally:
        if embedded is not None:
            await embedded.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowguard",
        description="OpenTelemetry backend: OTLP logs and metrics into TimescaleDB.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the receivers, writer and API")
    # Set by the supervisor for the processes it starts (FLOWGUARD_WORKERS).
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    bench = commands.add_parser("bench", help="benchmarks")
    bench_kinds = bench.add_subparsers(dest="bench", required=True)
    ingest = bench_kinds.add_parser(
        "ingest",
        help="OTLP/HTTP ingest throughput of a flowguard serve it starts, "
        "against raw COPY",
    )
    ingest.add_argument("--seconds", type=float, default=20.0)
    ingest.add_argument("--senders", type=int, default=8)
    alerts = bench_kinds.add_parser(
        "alerts", help="rule evaluation rounds: many rules over many services"
    )
    alerts.add_argument("--rules", type=int, default=500)
    alerts.add_argument("--services", type=int, default=200)
    alerts.add_argument("--rounds", type=int, default=10)
    patterns = bench_kinds.add_parser(
        "patterns",
        help="grouping accuracy and throughput of the log template miner",
    )
    patterns.add_argument("--data", help="folder of labelled CSV files")
    nab = bench_kinds.add_parser(
        "nab",
        help="anomaly detection on NAB-format labelled series, scored as NAB does",
    )
    nab.add_argument("--data", required=True, help="a NAB-format folder")
    nab.add_argument(
        "--files",
        help="comma-separated series as named in the labels file "
        "(realTweets/Twitter_volume_AAPL.csv); default all",
    )
    nab.add_argument("--out", required=True, help="folder for the results")
    logs = commands.add_parser("logs", help="log tools that need no server")
    logs_kinds = logs.add_subparsers(dest="logs", required=True)
    analyze = logs_kinds.add_parser(
        "analyze", help="severity, tags and pattern of each line of a file, as CSV"
    )
    analyze.add_argument(
        "file", help="a plain-text log file, one record a line; - for stdin"
    )
    rules = commands.add_parser("rules", help="alert rule file tools")
    rules_kinds = rules.add_subparsers(dest="rules", required=True)
    check = rules_kinds.add_parser(
        "check", help="check a rule file; print its errors with their lines"
    )
    check.add_argument("file", help="the rule file, such as rules.yaml")
    replay = rules_kinds.add_parser(
        "backtest",
        help="replay a rule file over stored data and print the alerts that "
        "would have fired; sends nothing",
    )
    replay.add_argument("file", help="the rule file, such as rules.yaml")
    replay.add_argument(
        "--since", default="7d", help="how far back to replay (default 7d)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowguard`` console script."""
    args = _parser().parse_args(argv)
    # These read local files only and need no settings.
    if args.command == "logs":
        from flowguard.analyze import analyze_command

        return analyze_command(args.file)
    if args.command == "rules" and args.rules == "check":
        from alerting.check import check_command

        return check_command(args.file)
    if args.command == "bench" and args.bench == "patterns":
        from benchmarks.patterns import run_benchmark as run_patterns

        return run_patterns(args.data)
    if args.command == "bench" and args.bench == "nab":
        from benchmarks.nab import command as run_nab

        return run_nab(args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"flowguard: configuration error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    try:
        if args.command == "serve":
            return asyncio.run(_serve(settings, args.worker))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "rules":
            return asyncio.run(_backtest(settings, args.file, args.since))
    except psycopg.OperationalError as exc:
        # Say what failed without a traceback; the message names the host.
        logger.error("cannot use the database: %s", str(exc).strip())
        return 1
    except ConfigError as exc:
        # Settings that are only checked when used, such as processor names.
        print(f"flowguard: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.bench == "alerts":
        from benchmarks.alerting import run_alert_benchmark

        return run_alert_benchmark(settings, args.rules, args.services, args.rounds)
    from benchmarks.ingest import run_benchmark

    return run_benchmark(settings, seconds=args.seconds, senders=args.senders)
