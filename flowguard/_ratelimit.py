"""Warnings on hot paths: logged at most once per interval, always counted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedWarning"]


class RateLimitedWarning:
    """One kind of warning that may repeat for every request.

    Every occurrence is counted in ``count``; the first is logged, then at
    most one per ``interval_s``, saying how many were not logged meanwhile.
    """

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._clock = clock
        self._message = message
        self._interval_s = interval_s
        self._next_s = 0.0
        self._unlogged = 0
        self.count = 0

    def __call__(self, *args: object) -> None:
        """Count one occurrence, and log it unless one was logged recently."""
        self.count += 1
        now = self._clock()
        if now < self._next_s:
            self._unlogged += 1
            return
        if self._unlogged:
            message = self._message + " (%d more since the last one logged)"
            self._logger.warning(message, *args, self._unlogged)
        else:
            self._logger.warning(self._message, *args)
        self._unlogged = 0
        self._next_s = now + self._interval_s
