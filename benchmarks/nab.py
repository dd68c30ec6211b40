"""The NAB benchmark: the production detection stack on labelled series.

Every series of a NAB-format folder (``DIR/data/<category>/<name>.csv``,
``DIR/labels/combined_windows.json``) goes once, in order, through what
FlowGuard runs on a KPI: the streaming detector and the walk-forward
offline model, with the default settings and the default threshold,
chosen before the run. The default threshold is for one-minute buckets;
a series of wider buckets (its median spacing) gets the threshold with
the same rate of false alarms in time (``DetectorSettings.for_bucket``).
A row counts as a detection when it opens an anomaly: later rows of the
same episode are not new alerts.

Results are written in NAB's format, ``OUT/flowguard/<category>/
flowguard_<name>.csv`` with ``timestamp,value,anomaly_score,label``, where
``anomaly_score`` is the score an alert sees (rows inside an episode after
its first are held just below the threshold) and ``raw_score`` the
combined score. The table gives NAB's normalised score for each cost
profile, the alerts per day on series without anomaly windows, and the
points scored per second of CPU time (one core).

Run it as ``flowguard bench nab --data DIR --out DIR``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks._errors import BenchmarkError
from benchmarks.nab_scoring import (
    Corpus,
    Series,
    load_corpus,
    load_profiles,
    normalised_score,
)
from processing.anomaly import DetectorSettings, detect_series

__all__ = ["NabRun", "main", "run_nab"]

logger = logging.getLogger("benchmarks.nab")

_DETECTOR = "flowguard"
_DAY_S = 86400.0
_HEADER = ("timestamp", "value", "anomaly_score", "label", "raw_score")


@dataclass(frozen=True, slots=True)
class _Scored:
    name: str
    raw: list[float]
    alert: list[float]
    detections: list[bool]
    cpu_s: float


@dataclass(frozen=True, slots=True)
class NabRun:
    """What one run measured."""

    threshold: float
    thresholds: dict[float, float]
    files: int
    points: int
    scores: dict[str, float]
    alerts_per_day_without_anomalies: float
    points_per_cpu_s: float
    elapsed_s: float


def _spacing(series: Series) -> float:
    """The series' bucket width: the median time between its rows."""
    steps = [
        (later - earlier).total_seconds()
        for earlier, later in itertools.pairwise(series.timestamps)
    ]
    positive = [s for s in steps if s > 0]
    return statistics.median(positive) if positive else 60.0


def _score_one(series: Series, settings: DetectorSettings) -> _Scored:
    started = time.process_time()
    settings = settings.for_bucket(_spacing(series))
    verdicts = detect_series(series.timestamps, series.values, settings)
    held = math.nextafter(settings.threshold, 0.0)
    raw = [v.score for v in verdicts]
    alert = [v.score if v.opens_episode else min(v.score, held) for v in verdicts]
    detections = [v.opens_episode for v in verdicts]
    return _Scored(series.name, raw, alert, detections, time.process_time() - started)


def _score_all(
    corpus: Corpus, settings: DetectorSettings, workers: int
) -> dict[str, _Scored]:
    names = sorted(corpus.series)
    if workers <= 1:
        return {n: _score_one(corpus.series[n], settings) for n in names}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            n: pool.submit(_score_one, corpus.series[n], settings) for n in names
        }
        return {n: f.result() for n, f in futures.items()}


def _write_results(out: Path, corpus: Corpus, scored: dict[str, _Scored]) -> None:
    for name, result in scored.items():
        series = corpus.series[name]
        category, file_name = name.split("/", 1)
        path = out / _DETECTOR / category / f"{_DETECTOR}_{file_name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(_HEADER)
            for k, at in enumerate(series.timestamps):
                label = int(any(w.start <= at <= w.end for w in series.windows))
                writer.writerow(
                    (
                        at.strftime("%Y-%m-%d %H:%M:%S"),
                        repr(series.values[k]),
                        f"{result.alert[k]:.6f}",
                        label,
                        f"{result.raw[k]:.6f}",
                    )
                )


def _alerts_per_day(corpus: Corpus, scored: dict[str, _Scored]) -> float:
    alerts, days = 0, 0.0
    for name, series in corpus.series.items():
        if series.windows or len(series.timestamps) < 2:
            continue
        alerts += sum(scored[name].detections)
        span = series.timestamps[-1] - series.timestamps[0]
        days += span.total_seconds() / _DAY_S
    return alerts / days if days else math.nan


def run_nab(
    data: Path,
    out: Path,
    files: Sequence[str] | None = None,
    settings: DetectorSettings | None = None,
    workers: int | None = None,
) -> NabRun:
    """Score the corpus, write NAB results, and return the figures.

    Raises:
        BenchmarkError: the folder is not in NAB's format.
    """
    settings = settings or DetectorSettings()
    started = time.perf_counter()
    corpus = load_corpus(data, files)
    if not corpus.series:
        msg = f"no labelled series found under {data}/data"
        raise BenchmarkError(msg)
    profiles = load_profiles(data)
    scored = _score_all(corpus, settings, workers or os.cpu_count() or 1)
    _write_results(out, corpus, scored)
    detections = {name: s.detections for name, s in scored.items()}
    points = sum(len(s.timestamps) for s in corpus.series.values())
    cpu_s = sum(s.cpu_s for s in scored.values())
    return NabRun(
        threshold=settings.threshold,
        thresholds={
            spacing: settings.for_bucket(spacing).threshold
            for spacing in sorted({_spacing(s) for s in corpus.series.values()})
        },
        files=len(corpus.series),
        points=points,
        scores={
            name: normalised_score(corpus, detections, profile)
            for name, profile in profiles.items()
        },
        alerts_per_day_without_anomalies=_alerts_per_day(corpus, scored),
        points_per_cpu_s=points / cpu_s if cpu_s > 0 else math.inf,
        elapsed_s=time.perf_counter() - started,
    )


def _print(run: NabRun) -> None:
    print(f"flowguard nab: {run.files} files, {run.points:,} points")
    print(f"threshold (fixed, the product default)   {run.threshold}")
    for spacing, threshold in run.thresholds.items():
        print(f"  for buckets of {spacing:g} s, at the same rate in time  {threshold}")
    for name, score in run.scores.items():
        print(f"normalised score, {name:<24} {score:6.1f}")
    quiet = run.alerts_per_day_without_anomalies
    print(f"alerts per day on series without anomalies  {quiet:.3f}")
    print(f"points per second per core                {run.points_per_cpu_s:,.0f}")
    print(f"elapsed                                   {run.elapsed_s:.1f} s")
    print(json.dumps({"benchmark": "flowguard-nab", **_as_dict(run)}))


def _as_dict(run: NabRun) -> dict[str, object]:
    return {
        "threshold": run.threshold,
        "thresholds": {f"{k:g}": v for k, v in run.thresholds.items()},
        "files": run.files,
        "points": run.points,
        "scores": {k: round(v, 2) for k, v in run.scores.items()},
        "alerts_per_day_without_anomalies": round(
            run.alerts_per_day_without_anomalies, 4
        ),
        "points_per_cpu_s": round(run.points_per_cpu_s),
        "elapsed_s": round(run.elapsed_s, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run as ``python -m benchmarks.nab``; exit 1 on bad data."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nab")
    parser.add_argument("--data", required=True, help="a NAB-format folder")
    parser.add_argument("--files", help="comma-separated series; default all")
    parser.add_argument("--out", required=True, help="folder for the results")
    return command(parser.parse_args(argv))


def command(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments."""
    files = [f.strip() for f in args.files.split(",")] if args.files else None
    try:
        run = run_nab(Path(args.data), Path(args.out), files)
    except BenchmarkError as exc:
        print(f"flowguard bench nab: {exc}", file=sys.stderr)
        return 1
    _print(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
