"""The alerting benchmark: evaluation rounds of many rules over many services.

Two hours of KPI facts, logs and a gauge for ``--services`` services are
written to a fresh database and rolled up, then ``--rules`` rules of every
kind (KPI thresholds over several windows, log counts, absences, metric
aggregates, anomaly scores) are evaluated in rounds by the evaluator's own
engine, each round at the next 30-second evaluation time, so every rule
runs in every round. Reported per round: wall time, the CPU time of the
database backend serving the evaluator (the load it causes), transactions
(one per statement, in autocommit) and rows read. Notifications are not
sent: routes have no channels.

Run it as ``flowguard bench alerts``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psutil
import psycopg
from psycopg.types.json import Jsonb

from alerting.engine import AlertEngine, grid_time
from alerting.model import (
    AbsentQuery,
    AnomalyQuery,
    KpiQuery,
    LogQuery,
    MetricQuery,
    Rule,
    RuleGroup,
    RuleSet,
)
from benchmarks._postgres import postgres_server
from flowguard.config import Settings
from flowguard.service import prepare_database
from storage.rollups import refresh_rollups

__all__ = ["AlertBenchmark", "run_alert_benchmark"]

_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class AlertBenchmark:
    """What the benchmark measured, per evaluation round."""

    rules: int
    services: int
    rounds: int
    wall_s: list[float]
    db_cpu_s: list[float]
    transactions: float
    rows_read: float
    firing: int


def _rules(count: int, services: int, rng: random.Random) -> RuleSet:
    kinds: list[Callable[[int], Rule]] = [
        lambda i: Rule(
            f"ErrorRate{i}", "bench", KpiQuery("error_rate"), window_s=300, above=0.05
        ),
        lambda i: Rule(
            f"Latency{i}", "bench", KpiQuery("p95_latency"), window_s=900, above=400
        ),
        lambda i: Rule(
            f"Traffic{i}", "bench", KpiQuery("throughput"), window_s=60, below=0.5
        ),
        lambda i: Rule(
            f"Timeouts{i}",
            "bench",
            LogQuery(text="timeout", min_severity=13),
            services=(f"svc-{rng.randrange(services)}",),
            above=3,
        ),
        lambda i: Rule(f"Silent{i}", "bench", AbsentQuery("throughput"), for_s=300),
        lambda i: Rule(
            f"Queue{i}", "bench", MetricQuery("queue.depth", agg="max"), above=500
        ),
        lambda i: Rule(f"Anomaly{i}", "bench", AnomalyQuery(min_score=0.99)),
    ]
    # Mostly KPI rules, as in practice; every kind is present.
    weights = [5, 3, 2, 4, 1, 2, 1]
    chosen = rng.choices(kinds, weights, k=count)
    rules = tuple(make(i) for i, make in enumerate(chosen))
    return RuleSet(groups=(RuleGroup("bench", _INTERVAL_S, rules),))


async def _seed(conn: psycopg.AsyncConnection, services: int, now: datetime) -> None:
    rng = random.Random(7)
    start = now - timedelta(hours=2)
    requests, latency, logs, points = [], [], [], []
    for s in range(services):
        name = f"svc-{s}"
        for k in range(120):
            at = start + timedelta(minutes=k, seconds=5)
            count = rng.randint(50, 150)
            errors = rng.randint(0, count // 10)
            requests.append((at, name, count, errors, 80.0 * count, 5.0, 900.0))
            latency += [(at, name, 100.0, count - 5), (at, name, 500.0, 5)]
            for _ in range(rng.randint(0, 4)):
                body = rng.choice(("request served", "upstream timeout after 5s"))
                logs.append((at, name, rng.choice((9, 13, 17)), body))
            points.append((at, s, float(rng.randint(0, 1000))))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO kpi_requests (time, service, requests, errors,"
            " duration_sum_ms, min_ms, max_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            requests,
        )
        await cur.executemany(
            "INSERT INTO kpi_latency (time, service, le_ms, count)"
            " VALUES (%s, %s, %s, %s)",
            latency,
        )
        await cur.executemany(
            "INSERT INTO logs (time, service, severity_number, body)"
            " VALUES (%s, %s, %s, %s)",
            logs,
        )
        await cur.executemany(
            "INSERT INTO metric_series (series_id, name, kind, service, attributes)"
            " VALUES (%s, 'queue.depth', 'gauge', %s, %s)",
            [(s, f"svc-{s}", Jsonb({"queue": "orders"})) for s in range(services)],
        )
        await cur.executemany(
            "INSERT INTO metric_points (time, series_id, value) VALUES (%s, %s, %s)",
            points,
        )
    await refresh_rollups(conn, now, {}, lookback=timedelta(hours=3))


async def _stat(conn: psycopg.AsyncConnection) -> tuple[int, int]:
    cur = await conn.execute(
        "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched"
        " FROM pg_stat_database WHERE datname = current_database()"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def _measure(url: str, rules: int, services: int, rounds: int) -> AlertBenchmark:
    now = grid_time(datetime.now(UTC), _INTERVAL_S)
    await prepare_database(url)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await _seed(conn, services, now)
    ruleset = _rules(rules, services, random.Random(11))
    engine = AlertEngine(ruleset)
    wall, cpu = [], []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        backend = psutil.Process(int(row[0]))
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as stat:
            before = await _stat(stat)
            for k in range(rounds):
                at = now + timedelta(seconds=_INTERVAL_S * (k + 1))
                cpu_before, started = backend.cpu_times(), time.perf_counter()
                evaluated = await engine.run_once(conn, at)
                wall.append(time.perf_counter() - started)
                cpu_after = backend.cpu_times()
                cpu.append(
                    cpu_after.user
                    + cpu_after.system
                    - cpu_before.user
                    - cpu_before.system
                )
                assert evaluated == rules, evaluated
            after = await _stat(stat)
        cur = await conn.execute("SELECT count(*) FROM alerts WHERE state = 'firing'")
        firing = await cur.fetchone()
    return AlertBenchmark(
        rules=rules,
        services=services,
        rounds=rounds,
        wall_s=wall,
        db_cpu_s=cpu,
        transactions=(after[0] - before[0]) / rounds,
        rows_read=(after[1] - before[1]) / rounds,
        firing=int(firing[0]) if firing else 0,
    )


def run_alert_benchmark(
    settings: Settings, rules: int = 500, services: int = 200, rounds: int = 10
) -> int:
    """Run the benchmark and print its table; the exit status."""
    with postgres_server(settings) as server, server.database() as url:
        found = asyncio.run(_measure(url, rules, services, rounds))
    first, rest = found.wall_s[0], found.wall_s[1:] or found.wall_s
    print(f"{found.rules} rules over {found.services} services, {found.rounds} rounds")
    print(f"first round (loads state)   {first:8.3f} s")
    print(f"round, median               {statistics.median(rest):8.3f} s")
    print(f"round, slowest              {max(rest):8.3f} s")
    print(f"database CPU per round      {statistics.median(found.db_cpu_s):8.3f} s")
    print(f"transactions per round      {found.transactions:8.0f}")
    print(f"rows read per round         {found.rows_read:8.0f}")
    print(f"alerts firing at the end    {found.firing:8d}")
    return 0
