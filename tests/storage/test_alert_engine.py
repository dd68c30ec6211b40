"""The evaluation rounds of the alert engine on a real database: a reload
that lands during a round, and a rule whose query the database refuses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg

from alerting.engine import AlertEngine
from alerting.rulefile import parse_rules
from flowguard.service import prepare_database
from tests.conftest import Tier

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
SLOW = (
    "      - alert: Slow\n"
    "        sql: \"SELECT 'slow' AS service, 1 AS value FROM pg_sleep(0.5)\"\n"
)
REMOVED = (
    "      - alert: Removed\n        sql: \"SELECT 'gone' AS service, 1 AS value\"\n"
)
LOGS = "      - alert: Errors\n        logs: {min_severity: ERROR}\n        above: -1\n"


def _rules(*rules: str) -> str:
    return "groups:\n  - name: g\n    interval: 1s\n    rules:\n" + "".join(rules)


async def _states(conn: psycopg.AsyncConnection) -> dict[str, str]:
    cur = await conn.execute("SELECT rule, state FROM alerts ORDER BY id")
    return {rule: state for rule, state in await cur.fetchall()}


def test_a_reload_during_a_round_resolves_a_removed_rule_next_round(
    postgres_tier: Tier,
) -> None:
    """A reload that arrives while a round waits on the database takes
    effect at the next round, where the removed rule's alert resolves
    (it is not evaluated again under the old rules, nor left firing)."""
    url = postgres_tier.fresh_database()

    async def run() -> None:
        await prepare_database(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            engine = AlertEngine(parse_rules(_rules(SLOW, REMOVED)))
            await engine.run_once(conn, T0)
            assert await _states(conn) == {"Slow": "firing", "Removed": "firing"}
            later = T0 + timedelta(seconds=1)
            round_ = asyncio.create_task(engine.run_once(conn, later))
            await asyncio.sleep(0.2)  # inside the Slow rule's pg_sleep
            engine.reload(parse_rules(_rules(SLOW)))
            await round_
            await engine.run_once(conn, T0 + timedelta(seconds=2))
            await engine.run_once(conn, T0 + timedelta(seconds=3))
            assert await _states(conn) == {"Slow": "firing", "Removed": "resolved"}
            assert set(engine.status) == {("g", "Slow")}

    asyncio.run(run())


def test_a_rule_the_database_refuses_leaves_the_others_evaluated(
    postgres_tier: Tier,
) -> None:
    """Evaluating as a role that may not read the logs table: the logs rule
    records its error, and the rule after it still fires."""
    url = postgres_tier.fresh_database()
    info = psycopg.conninfo.conninfo_to_dict(url)

    async def run() -> None:
        await prepare_database(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles"
                " WHERE rolname = 'fg_no_logs') THEN CREATE ROLE fg_no_logs LOGIN;"
                " END IF; END $$"
            )
            await admin.execute("GRANT USAGE ON SCHEMA public TO fg_no_logs")
            await admin.execute(
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO fg_no_logs"
            )
            await admin.execute(
                "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO fg_no_logs"
            )
            await admin.execute("REVOKE ALL ON logs FROM fg_no_logs")
        limited = psycopg.conninfo.make_conninfo(**(info | {"user": "fg_no_logs"}))
        async with await psycopg.AsyncConnection.connect(
            limited, autocommit=True
        ) as conn:
            engine = AlertEngine(parse_rules(_rules(LOGS, REMOVED)))
            assert await engine.run_once(conn, T0) == 1
            assert await _states(conn) == {"Removed": "firing"}
            error = engine.status[("g", "Errors")].error
            assert error is not None and "permission denied" in error, error

    asyncio.run(run())
