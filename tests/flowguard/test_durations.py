"""Durations as operators write them, and the longest one accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flowguard.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)),
     ("2w", timedelta(days=14)), ("36500d", timedelta(days=36500))],
)  # fmt: skip
def test_durations_read_and_write_back(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["36501d", "3000000d", "99999999999999d", "5300w"])
def test_a_duration_past_a_hundred_years_is_refused_by_name(text: str) -> None:
    """Not an OverflowError later, in date arithmetic: a ValueError naming
    the limit and the text."""
    with pytest.raises(ValueError, match=r"at most 36500d .*" + text):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "-1m", "1y"])
def test_a_malformed_duration_names_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="such as 15m"):
        parse_duration(text)
