"""Hot-path warnings are counted every time and logged at most per interval."""

from __future__ import annotations

import logging

import pytest

from flowguard._ratelimit import RateLimitedWarning


def test_repeats_are_counted_but_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five occurrences within the interval: all counted, one logged; the
    next one after the interval says how many were not logged."""
    now = [1000.0]
    warning = RateLimitedWarning(
        logging.getLogger("flowguard.test"),
        "refused: %s",
        interval_s=10,
        clock=lambda: now[0],
    )
    with caplog.at_level(logging.WARNING, logger="flowguard.test"):
        for n in range(5):
            warning(n)
            now[0] += 1
        now[0] += 10
        warning("late")
    assert warning.count == 6
    assert [r.getMessage() for r in caplog.records] == [
        "refused: 0",
        "refused: late (4 more since the last one logged)",
    ]
