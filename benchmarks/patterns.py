"""The pattern benchmark: grouping accuracy on labelled logs, and throughput.

1. Accuracy. For every system of the fixture folder (one CSV of labelled
   lines each, see ``processing._evaluate``), three methods group the lines:
   the template miner as configured by default, the miner with its
   improvements switched off (closest to classic Drain), and a baseline
   that masks every token holding a digit. The table shows grouping
   accuracy (GA) and group F1 per system, then pooled over the systems the
   miner was tuned on, over the held-out systems, and over all.
2. Throughput on one core, as records per second of this process's CPU
   time, the median of three runs that each start with empty caches. Every
   fixture line is repeated with fresh numbers: each run of digits that
   follows no letter gets new digits of the same length, so the
   exact-message cache does not answer, while the caches keyed by the shape
   of a line's digits do, as they would on a live stream. Measured: the
   miner alone; severity, tags and miner together; the same with every
   cache off, which is the cost of a line never seen in any shape; and the
   same lines a second time, where the exact-message cache answers.

Run it as ``flowguard bench patterns`` or ``python -m benchmarks.patterns``.
It prints a table, then the same figures as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from processing import _evaluate, severity, tags
from processing._evaluate import Scores
from processing.patterns import TemplateMiner

__all__ = ["main", "run_benchmark"]

logger = logging.getLogger(__name__)

_METHODS = ("miner", "classic", "digits")
_REPEATS = 8
_RUNS = 3
# The digit-shape memos of severity and tags are module state, private to
# them; this benchmark empties them before each run so that every run starts
# cold, and turns them off to show the cost of lines never seen.
_MEMOS = (severity._BODY_MEMO, tags._BODY_MEMO)
# Digits that follow a letter (ssh2, I0601) or a source file (x.go:12) are
# names and places, not values: they stay.
_NUMBER = re.compile(r"(?<![A-Za-z\d])(?<!\.go:)(?<!\.py:)(?<!\.java:)(?<!\.scala:)\d+")


def _systems(data: Path) -> list[str]:
    return sorted(path.stem for path in data.glob("*.csv"))


def _half(name: str) -> str:
    if name in _evaluate.DEVELOPMENT:
        return "dev"
    return "held-out" if name in _evaluate.HELD_OUT else "other"


def _accuracy(data: Path, names: list[str]) -> dict[str, dict[str, Scores]]:
    """Scores by method, then by system."""
    return {method: _evaluate.score_systems(data, names, method) for method in _METHODS}


def _accuracy_rows(names: list[str], scores: dict[str, dict[str, Scores]]) -> list[str]:
    head = f"{'system':<12}{'half':<10}{'lines':>6}{'groups':>7}"
    columns = "".join(f"{method + ' GA':>12}{'F1':>6}" for method in _METHODS)
    rows = [head + columns]
    pools = [(name, [name]) for name in names] + [
        ("dev", [n for n in names if _half(n) == "dev"]),
        ("held-out", [n for n in names if _half(n) == "held-out"]),
        ("all", names),
    ]
    for label, members in pools:
        if not members:
            continue
        first = _evaluate.pooled(scores["miner"][n] for n in members)
        half = _half(label) if len(members) == 1 else "pooled"
        line = f"{label:<12}{half:<10}{first.messages:>6}{first.true_groups:>7}"
        for method in _METHODS:
            pool = _evaluate.pooled(scores[method][n] for n in members)
            line += f"{pool.grouping_accuracy:>12.3f}{pool.f1:>6.3f}"
        rows.append(line)
    return rows


def _fresh_lines(data: Path, names: list[str]) -> list[str]:
    rng = random.Random(7)

    def redraw(number: re.Match[str]) -> str:
        return "".join(rng.choice("0123456789") for _ in number.group())

    lines = [
        line
        for name in names
        for line in _evaluate.load_system(data / f"{name}.csv")[0]
    ]
    return [_NUMBER.sub(redraw, line) for _ in range(_REPEATS) for line in lines]


def _rate(lines: Sequence[str], make: Callable[[], Callable[[str], object]]) -> float:
    """The median rate of three runs, each with a new handler and so new
    caches: a shared machine's noise hits one run, not the median."""
    rates = []
    for _ in range(_RUNS):
        handle = make()
        started = time.process_time()
        for line in lines:
            handle(line)
        spent = time.process_time() - started
        rates.append(len(lines) / spent if spent > 0 else float("inf"))
    return statistics.median(rates)


def _pipeline(cache_size: int = 100_000) -> Callable[[str], object]:
    """Severity, tags and a new miner, every cache empty."""
    for memo in _MEMOS:
        memo.clear()
    miner = TemplateMiner(cache_size=cache_size)

    def handle(line: str) -> object:
        found = severity.infer_severity(0, "", line, {})
        tags.tags_for(found.number, line, {})
        return miner.add("", line)

    return handle


def _miner_alone() -> Callable[[str], object]:
    miner = TemplateMiner()
    return lambda line: miner.add("", line)


def _twice(lines: Sequence[str]) -> Callable[[], Callable[[str], object]]:
    """A pipeline that has seen the lines once already."""

    def make() -> Callable[[str], object]:
        handle = _pipeline()
        for line in lines:
            handle(line)
        return handle

    return make


@contextlib.contextmanager
def _memos_off() -> Iterator[None]:
    sizes = [memo.size for memo in _MEMOS]
    for memo in _MEMOS:
        memo.size = 0
    try:
        yield
    finally:
        for memo, size in zip(_MEMOS, sizes, strict=True):
            memo.size = size


def _throughput(lines: list[str]) -> dict[str, float]:
    """Records per CPU second, by what was measured."""
    rates = {
        "miner, fresh numbers": _rate(lines, _miner_alone),
        "severity+tags+miner, fresh numbers": _rate(lines, _pipeline),
    }
    with _memos_off():
        cold = _rate(lines, lambda: _pipeline(cache_size=0))
    rates["severity+tags+miner, every cache off"] = cold
    rates["severity+tags+miner, repeated lines"] = _rate(lines, _twice(lines))
    return rates


def run_benchmark(data: str | None = None) -> int:
    """Print the accuracy table, the throughput and the JSON line; return an
    exit code: 0 when done, 2 when the folder holds no CSV file."""
    folder = Path(data) if data else _evaluate.DATA_DIR
    names = _systems(folder)
    if not names:
        logger.error("no labelled csv files in %r", str(folder))
        return 2
    scores = _accuracy(folder, names)
    for row in _accuracy_rows(names, scores):
        print(row)
    lines = _fresh_lines(folder, names)
    rates = _throughput(lines)
    print(f"\nthroughput on one core, {len(lines):,} records, records per CPU second")
    for label, rate in rates.items():
        print(f"{label:<40}{rate:>12,.0f}")
    print(json.dumps(_summary(names, scores, rates)))
    return 0


def _summary(
    names: list[str], scores: dict[str, dict[str, Scores]], rates: dict[str, float]
) -> dict[str, object]:
    accuracy = {
        method: {
            "grouping_accuracy": round(pool.grouping_accuracy, 4),
            "f1": round(pool.f1, 4),
        }
        for method in _METHODS
        for pool in [_evaluate.pooled(scores[method][n] for n in names)]
    }
    return {
        "benchmark": "patterns",
        "systems": len(names),
        "accuracy": accuracy,
        "records_per_cpu_second": {key: round(rate) for key, rate in rates.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.patterns``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.patterns",
        description="Grouping accuracy and throughput of the log template miner.",
    )
    parser.add_argument("--data", help="folder of labelled CSV files")
    return run_benchmark(parser.parse_args(argv).data)


if __name__ == "__main__":
    sys.exit(main())
