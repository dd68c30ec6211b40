"""Durations written the way operators write them: ``90s``, ``15m``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Longer than any retention or look-back, and short enough that a time that
# far from now is still a date both Python and PostgreSQL hold.
_LONGEST_S = 36_500 * 86400


def parse_duration(text: str) -> timedelta:
    """A duration such as ``90s``, ``15m``, ``1h``, ``7d`` or ``2w``.

    Raises:
        ValueError: naming the text and the expected form; also for a
            duration longer than 36500d (100 years).
    """
    match = _DURATION.match(text.strip())
    if match is None:
        msg = f"expected a duration such as 15m, 1h or 7d, got {text!r}"
        raise ValueError(msg)
    seconds = int(match[1]) * _UNIT_S[match[2]]
    if seconds > _LONGEST_S:
        msg = f"expected a duration of at most 36500d (100 years), got {text!r}"
        raise ValueError(msg)
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """The shortest exact form of ``duration`` that ``parse_duration`` reads."""
    seconds = int(duration.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"
