"""One evaluator at a time among processes sharing a database.

Two alerting parts run on one database, as two FlowGuard processes would:
exactly one evaluates; when it stops, its lock goes with its connection
and the other takes over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from alerting.service import Alerting, AlertingSettings
from flowguard.service import prepare_database
from tests.conftest import Tier


async def _wait_for(
    check: Callable[[], bool], what: str, timeout_s: float = 30.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_one_process_evaluates_and_another_takes_over(
    postgres_tier: Tier, tmp_path: Path
) -> None:
    """The lock's owner evaluates; stopping it hands evaluation over."""
    url = postgres_tier.fresh_database()
    settings = AlertingSettings(
        tmp_path / "rules.yaml", "http://127.0.0.1:8000", tick_s=0.05, retry_s=0.05
    )

    async def run() -> None:
        await prepare_database(url)
        async with AsyncConnectionPool(url, min_size=1, open=False) as pool:
            first, second = Alerting(url, pool, settings), Alerting(url, pool, settings)
            await first.start()
            await _wait_for(lambda: first.owner, "the first to own evaluation")
            await second.start()
            # The second keeps trying for a while without taking the lock.
            for _ in range(20):
                await asyncio.sleep(settings.retry_s)
                assert not second.owner
            await first.stop()
            await _wait_for(lambda: second.owner, "the second to take over")
            await second.stop()

    asyncio.run(run())
