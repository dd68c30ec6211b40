"""What each kind of alert rule reads, on every tier.

An hour of two services' KPI facts, logs, a gauge and detector scores is
written, the rollups are brought up to date, and each rule kind is
evaluated at known times. Evaluating many times in one query must equal
evaluating them one by one, since the backtest relies on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from alerting.model import (
    AbsentQuery,
    AnomalyQuery,
    KpiQuery,
    LogQuery,
    MetricQuery,
    Query,
    Rule,
    Sample,
    SqlQuery,
)
from alerting.queries import RuleQueryError, evaluate
from flowguard.service import prepare_database
from storage.rollups import ROLLUPS, refresh_rollups
from tests.conftest import Tier

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=1)
# checkout fails 20% of its requests from 30 to 20 minutes ago; payments
# stops sending 10 minutes ago.
INCIDENT = (NOW - timedelta(minutes=30), NOW - timedelta(minutes=20))
PAYMENTS_END = NOW - timedelta(minutes=10)


def _minutes() -> list[datetime]:
    return [START + timedelta(minutes=k) for k in range(60)]


async def _seed(conn: psycopg.AsyncConnection) -> None:
    requests, latency, logs, points = [], [], [], []
    for at in _minutes():
        failing = INCIDENT[0] <= at < INCIDENT[1]
        fact = at + timedelta(seconds=10)
        requests.append((fact, "checkout", 100, 20 if failing else 2, 5000.0, 5, 900))
        latency += [(fact, "checkout", 100.0, 90), (fact, "checkout", 500.0, 10)]
        if at < PAYMENTS_END:
            requests.append((fact, "payments", 50, 0, 1000.0, 5, 50))
            latency.append((fact, "payments", 50.0, 50))
        body = "upstream timeout after 5s" if failing else "request served"
        logs.append((fact, "checkout", 13 if failing else 9, body))
        points.append((fact, 1, 900.0 if failing else 10.0))
        points.append((fact, 2, 5.0))
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
            "INSERT INTO logs (time, service, severity_number, body, tags)"
            " VALUES (%s, %s, %s, %s, '{}')",
            logs,
        )
        await cur.executemany(
            "INSERT INTO metric_series (series_id, name, kind, service, attributes)"
            " VALUES (%s, 'queue.depth', 'gauge', 'orders', %s)",
            [(1, Jsonb({"queue": "orders"})), (2, Jsonb({"queue": "refunds"}))],
        )
        await cur.executemany(
            "INSERT INTO metric_points (time, series_id, value) VALUES (%s, %s, %s)",
            points,
        )
        await cur.execute(
            "INSERT INTO kpi_scores (bucket, service, kpi, observed, expected,"
            " expected_low, expected_high, score, warm, anomalous) VALUES"
            " (%(at)s, 'checkout', 'p95_latency', 840, 150, 120, 190, 0.99995,"
            " true, true),"
            " (%(at)s + interval '1 minute', 'checkout', 'p95_latency', 500, 150,"
            " 120, 190, 0.9999, true, true),"
            " (%(at)s, 'checkout', 'throughput', 3, 3, 2, 4, 0.5, true, false)",
            {"at": INCIDENT[0]},
        )
        await cur.execute(
            "INSERT INTO anomalies (service, kpi, started_at, ended_at, peak_at,"
            " peak_score, detectors, explanation) VALUES ('checkout',"
            " 'p95_latency', %(at)s, %(at)s + interval '2 minutes', %(at)s, 0.99995,"
            " '{streaming}', 'p95 latency 840 ms, expected 120-190 ms')",
            {"at": INCIDENT[0]},
        )


async def _prepare(url: str, tier: str) -> None:
    await prepare_database(url)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await _seed(conn)
        if tier == "timescale":
            for rollup in ROLLUPS:
                await conn.execute(
                    "CALL refresh_continuous_aggregate(%s, %s, %s)",
                    (rollup.name, START - timedelta(hours=1), NOW + timedelta(hours=1)),
                )
        else:
            await refresh_rollups(
                conn, NOW + timedelta(minutes=1), {}, lookback=timedelta(hours=2)
            )


@pytest.fixture
def seeded(tier: Tier) -> str:
    url = tier.fresh_database()
    asyncio.run(_prepare(url, tier.name))
    return url


def _rule(query: Query, **fields: Any) -> Rule:
    return Rule("R", "g", query, **fields)


def _at(url: str, rule: Rule, *ats: datetime) -> dict[datetime, list[Sample]]:
    async def run() -> dict[datetime, list[Sample]]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await evaluate(conn, rule, ats)

    return asyncio.run(run())


def _values(samples: Sequence[Sample]) -> dict[str, float | None]:
    return {",".join(sorted(s.labels.values())): s.value for s in samples}


def test_kpi_rules_read_the_window_from_summed_parts(seeded: str) -> None:
    """Error rate, throughput and p95 over five closed minutes."""
    at = INCIDENT[1] + timedelta(seconds=20)
    for kpi, expected in [
        ("error_rate", {"checkout": 0.2, "payments": 0.0}),
        ("throughput", {"checkout": 500 / 300, "payments": 250 / 300}),
        ("requests", {"checkout": 500.0, "payments": 250.0}),
        ("logs", {"checkout": 5.0}),
    ]:
        found = _values(_at(seeded, _rule(KpiQuery(kpi)), at)[at])
        assert found.keys() >= expected.keys(), kpi
        for service, value in expected.items():
            assert found[service] == pytest.approx(value), (kpi, service)
    p95 = _values(_at(seeded, _rule(KpiQuery("p95_latency")), at)[at])
    # 90 of 100 requests within 100 ms, the rest within 500 ms.
    assert 100 < (p95["checkout"] or 0) <= 500
    assert (p95["payments"] or 0) <= 50


def test_a_kpi_rule_naming_services_reads_only_those(seeded: str) -> None:
    """services narrows the series a rule returns."""
    rule = _rule(KpiQuery("requests"), services=("payments",))
    at = PAYMENTS_END
    assert list(_values(_at(seeded, rule, at)[at])) == ["payments"]


def test_an_absence_rule_names_silent_services(seeded: str) -> None:
    """A service that sent before the window but not in it is absent, and so
    is a named service that never sent."""
    rule = _rule(AbsentQuery("throughput"))
    assert _values(_at(seeded, rule, NOW)[NOW]) == {"payments": None}
    early = PAYMENTS_END - timedelta(minutes=1)
    assert _at(seeded, rule, early)[early] == []
    named = _rule(AbsentQuery("throughput"), services=("checkout", "ghost"))
    assert _values(_at(seeded, named, NOW)[NOW]) == {"ghost": None}


def test_log_rules_count_matching_records(seeded: str) -> None:
    """Text, severity and service filters over (at - window, at]."""
    rule = _rule(LogQuery(text="TIMEOUT", min_severity=13), window_s=300)
    at = INCIDENT[0] + timedelta(minutes=5, seconds=10)
    assert _values(_at(seeded, rule, at)[at]) == {"checkout": 5.0}
    quiet = _rule(LogQuery(text="timeout", min_severity=17))
    assert _at(seeded, quiet, at)[at] == []
    literal = _rule(LogQuery(text="time%out"))
    assert _at(seeded, literal, at)[at] == []


def test_metric_rules_aggregate_points_per_attribute(seeded: str) -> None:
    """max of a gauge in the window, one series per queue; the window
    holds two quiet minutes and three of the incident."""
    rule = _rule(MetricQuery("queue.depth", agg="max", by=("queue",)))
    at = INCIDENT[0] + timedelta(minutes=3)
    assert _values(_at(seeded, rule, at)[at]) == {
        "orders,orders": 900.0,
        "orders,refunds": 5.0,
    }
    one = _rule(MetricQuery("queue.depth", where=(("queue", "orders"),), agg="avg"))
    assert _values(_at(seeded, one, at)[at]) == {
        "orders": pytest.approx((900 * 3 + 10 * 2) / 5)
    }


def test_anomaly_rules_give_the_peak_score_and_its_explanation(seeded: str) -> None:
    """Only anomalous buckets count; the explanation comes with the peak."""
    rule = _rule(AnomalyQuery(kpi=None, min_score=0.9))
    at = INCIDENT[0] + timedelta(minutes=3)
    (sample,) = _at(seeded, rule, at)[at]
    assert sample.labels == {"service": "checkout", "kpi": "p95_latency"}
    assert sample.value == pytest.approx(0.99995)
    assert sample.details["explanation"] == "p95 latency 840 ms, expected 120-190 ms"
    assert sample.details["observed"] == 840
    strict = _rule(AnomalyQuery(min_score=0.999999))
    assert _at(seeded, strict, at)[at] == []


def test_sql_rules_run_read_only_with_a_timeout(seeded: str) -> None:
    """Label columns and value come back; writes and slow queries fail."""
    rule = _rule(
        SqlQuery(
            "SELECT service, count(*) AS value FROM logs"
            " WHERE time <= %(at)s GROUP BY service"
        )
    )
    assert _values(_at(seeded, rule, NOW)[NOW]) == {"checkout": 60.0}
    writes = _rule(
        SqlQuery("WITH gone AS (DELETE FROM logs RETURNING 1) SELECT 1 AS value")
    )
    with pytest.raises(RuleQueryError, match="read-only"):
        _at(seeded, writes, NOW)
    slow = _rule(SqlQuery("SELECT 1 AS value FROM pg_sleep(5)", timeout_s=0.2))
    with pytest.raises(RuleQueryError, match="timeout"):
        _at(seeded, slow, NOW)
    # A COMMIT would end the read-only transaction, and the timeout with it:
    # the text must be one statement, whatever a string literal hides.
    smuggled = _rule(
        SqlQuery(
            "SELECT E'\\'' AS label, 1 AS value; COMMIT;"
            " CREATE TABLE smuggled AS SELECT 1 AS x; --'"
        )
    )
    with pytest.raises(RuleQueryError, match="multiple commands"):
        _at(seeded, smuggled, NOW)
    with psycopg.connect(seeded) as conn:
        assert conn.execute("SELECT to_regclass('smuggled')").fetchone() == (None,)
    trailing = _rule(SqlQuery("SELECT 'x' AS label, 2 AS value;"))
    assert [s.value for s in _at(seeded, trailing, NOW)[NOW]] == [2.0]
    unnamed = _rule(SqlQuery("SELECT 1 AS n"))
    with pytest.raises(RuleQueryError, match="'value' column"):
        _at(seeded, unnamed, NOW)
    with psycopg.connect(seeded) as conn:
        (count,) = conn.execute("SELECT count(*) FROM logs").fetchone() or (0,)
    assert count == 60


@pytest.mark.parametrize(
    "query",
    [
        KpiQuery("error_rate"),
        AbsentQuery("throughput"),
        LogQuery(text="timeout"),
        MetricQuery("queue.depth", by=("queue",)),
        AnomalyQuery(),
    ],
    ids=["kpi", "absent", "logs", "metric", "anomaly"],
)
def test_many_times_at_once_equal_one_at_a_time(seeded: str, query: Query) -> None:
    """The backtest's batched evaluation gives what live evaluation gives."""
    rule = _rule(query)
    times = [START + timedelta(minutes=k, seconds=30) for k in range(0, 61, 3)]
    together = _at(seeded, rule, *times)
    for at in times:
        alone = _at(seeded, rule, at)[at]
        assert _values(together[at]) == _values(alone), at
