"""Replaying rules over stored history: when each alert would have fired.

The backtest evaluates every rule at every time of its group's interval
grid in the range, with the same queries (``alerting.queries``) and the
same state steps (``alerting.state.advance``) as live evaluation, so a
range evaluated live fires the same alerts. It only reads; nothing is
stored and nothing is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

import psycopg

from alerting.engine import grid_time
from alerting.model import Rule, RuleSet, SqlQuery
from alerting.queries import RuleQueryError, evaluate
from alerting.state import Instance, advance

__all__ = ["Firing", "Replay", "backtest", "print_replay"]

# Evaluation times per query: a week of 30-second rounds is 28 queries.
_CHUNK = 720


@dataclass(frozen=True, slots=True)
class Firing:
    """One alert that would have fired: from ``started_at`` (when it
    started firing) to ``ended_at`` (when it resolved; None if still
    firing at the end of the range), with the worst value seen."""

    rule: str
    group: str
    labels: dict[str, str]
    started_at: datetime
    ended_at: datetime | None
    peak_value: float | None


@dataclass(frozen=True, slots=True)
class Replay:
    """What a backtest found: the firings, in start order, and the rules
    it could not replay with the reason."""

    firings: list[Firing]
    skipped: dict[str, str]
    evaluations: int


def _times(start: datetime, end: datetime, interval_s: float) -> list[datetime]:
    step = timedelta(seconds=interval_s)
    at = grid_time(start, interval_s)
    if at < start:
        at += step
    times = []
    while at <= end:
        times.append(at)
        at += step
    return times


async def backtest(
    conn: psycopg.AsyncConnection, rules: RuleSet, start: datetime, end: datetime
) -> Replay:
    """Evaluate ``rules`` over ``[start, end]`` as live evaluation would."""
    firings: list[Firing] = []
    skipped: dict[str, str] = {}
    evaluations = 0
    for group in rules.groups:
        times = _times(start, end, group.interval_s)
        for rule in group.rules:
            if isinstance(rule.query, SqlQuery) and not rule.query.replayable:
                skipped[rule.name] = "its query does not read %(at)s"
                continue
            try:
                firings += await _replay(conn, rule, times)
            except RuleQueryError as exc:
                skipped[rule.name] = str(exc)
                continue
            evaluations += len(times)
    firings.sort(key=lambda f: (f.started_at, f.rule, sorted(f.labels.items())))
    return Replay(firings, skipped, evaluations)


async def _replay(
    conn: psycopg.AsyncConnection, rule: Rule, times: Sequence[datetime]
) -> list[Firing]:
    opened: dict[str, Instance] = {}
    done: list[Firing] = []
    for first in range(0, len(times), _CHUNK):
        chunk = times[first : first + _CHUNK]
        found = await evaluate(conn, rule, chunk)
        for at in chunk:
            for change in advance(rule, opened, found[at], at):
                if change.event == "resolved":
                    done.append(_firing(change.instance))
    done += (_firing(i) for i in opened.values() if i.state == "firing")
    return done


def _firing(instance: Instance) -> Firing:
    assert instance.fired_at is not None
    return Firing(
        rule=instance.rule,
        group=instance.group,
        labels=dict(instance.labels),
        started_at=instance.fired_at,
        ended_at=instance.resolved_at,
        peak_value=instance.peak_value,
    )


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "still firing"
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def print_replay(replay: Replay, out: TextIO = sys.stdout) -> None:
    """Print one line per firing, then the rules not replayed."""
    for f in replay.firings:
        labels = ",".join(
            f"{k}={v}" for k, v in sorted(f.labels.items()) if k != "alertname"
        )
        peak = "none" if f.peak_value is None else f"{f.peak_value:.4g}"
        print(
            f"{f.rule}\t{labels}\t{_when(f.started_at)}\t{_when(f.ended_at)}"
            f"\tpeak {peak}",
            file=out,
        )
    for name, reason in sorted(replay.skipped.items()):
        print(f"not replayed: {name}: {reason}", file=out)
    print(
        f"{len(replay.firings)} alerts would have fired"
        f" ({replay.evaluations} rule evaluations)",
        file=out,
    )
