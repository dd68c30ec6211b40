"""Polling with a deadline, instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def until(check: Callable[[], T], timeout_s: float = 30.0, what: str = "") -> T:
    """Call ``check`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def copies_waiting_on_a_lock(conn: Any) -> int:
    """How many COPY statements into ``logs`` wait for a lock right now."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND query LIKE 'COPY \"logs\"%%'"
    ).fetchone()
    return int(row[0])
