"""Score anomaly detections the way the Numenta Anomaly Benchmark (NAB) does.

The rules are NAB's own (``nab/sweeper.py`` and ``nab/runner.py`` of
numenta/NAB, MIT licence), re-implemented here so that FlowGuard detectors can
be scored without NAB's dependencies:

- The first ``min(floor(0.15 * rows), 750)`` rows of a series are probation:
  detections there are ignored, and a window lying wholly in probation is not
  scored at all.
- In a window only the earliest detection counts. Its reward is ``tpWeight``
  times a sigmoid of its position, scaled to exactly ``tpWeight`` at the
  window's first row and falling towards 0 at its last. A window with no
  detection costs ``fnWeight``.
- Each detection outside every window costs ``fpWeight`` times a sigmoid of
  its distance after the preceding window, measured in that window's widths;
  with no preceding window it costs the full ``fpWeight``.
- Raw scores summed over the files are normalised against a detector that
  never fires (0) and one that fires at the first row of every window (100).
  NAB itself takes ``tpWeight`` per window as the perfect score; the two agree
  unless a window starts inside probation, which none of NAB's windows do.

NAB's ``tnWeight`` is read from the profiles but, as in NAB, never used.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks._errors import BenchmarkError

__all__ = [
    "Corpus",
    "FileScore",
    "NabDataError",
    "Profile",
    "Series",
    "Window",
    "load_corpus",
    "load_profiles",
    "normalised_score",
    "normalised_scores",
    "probation_rows",
    "score_file",
]

_PROBATION_FRACTION = 0.15
_PROBATION_MAX_ROWS = 750
# Past three window widths NAB stops following the sigmoid and charges a
# false positive in full.
_FAR_POSITION = 3.0


class NabDataError(BenchmarkError):
    """The NAB data or labels do not have the shape NAB defines."""


@dataclass(frozen=True, slots=True)
class Window:
    """An anomaly window: its first and last timestamps, both included."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Series:
    """One NAB data file: its rows in order, and its anomaly windows."""

    name: str
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    windows: tuple[Window, ...]


@dataclass(frozen=True, slots=True)
class Corpus:
    """NAB series keyed by their names in the labels file."""

    series: Mapping[str, Series]


@dataclass(frozen=True, slots=True)
class Profile:
    """One NAB cost profile (``config/profiles.json``)."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float


@dataclass(frozen=True, slots=True)
class FileScore:
    """The raw NAB score of one file, with NAB's counts of scored rows.

    ``tp`` and ``fp`` count detections inside and outside windows, ``fn`` and
    ``tn`` rows without a detection inside and outside windows, all after
    probation, as NAB counts them. ``windows_detected`` of the
    ``windows_scored`` windows (those not wholly in probation) had a
    detection.
    """

    raw: float
    tp: int
    fp: int
    fn: int
    tn: int
    windows_detected: int
    windows_scored: int


@dataclass(frozen=True, slots=True)
class _Span:
    """A window as row indices, both included."""

    first: int
    last: int

    @property
    def width(self) -> int:
        return self.last - self.first + 1


def load_corpus(root: Path, files: Sequence[str] | None = None) -> Corpus:
    """Read NAB data files and their windows from a NAB directory.

    Args:
        root: holds ``labels/combined_windows.json`` and ``data/``.
        files: names as in the labels file, such as
            ``"realTweets/Twitter_volume_AAPL.csv"``; by default every
            labelled file present under ``root/data``.

    Raises:
        NabDataError: a named file is not labelled or missing, or a window
            bound is not one of its file's timestamps.
    """
    labels: dict[str, list[list[str]]] = _read_json(
        root / "labels" / "combined_windows.json"
    )
    if files is None:
        files = sorted(name for name in labels if (root / "data" / name).exists())

    series = {name: _load_series(root, name, labels) for name in files}
    return Corpus(series=series)


def _load_series(root: Path, name: str, labels: dict[str, list[list[str]]]) -> Series:
    if name not in labels:
        raise NabDataError(f"{name!r} has no entry in combined_windows.json")
    path = root / "data" / name
    if not path.exists():
        raise NabDataError(f"{name!r} is labelled but {path} does not exist")

    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    try:
        timestamps = tuple(datetime.fromisoformat(row["timestamp"]) for row in rows)
        values = tuple(float(row["value"]) for row in rows)
        windows = tuple(
            Window(datetime.fromisoformat(start), datetime.fromisoformat(end))
            for start, end in labels[name]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NabDataError(
            f"{path}: rows need 'timestamp,value' columns with ISO timestamps "
            f"and numbers, and windows [start, end] pairs ({exc})"
        ) from exc

    loaded = Series(name, timestamps, values, windows)
    _window_spans(loaded)  # NAB refuses bounds that are not timestamps, too.
    return loaded


def load_profiles(root: Path) -> dict[str, Profile]:
    """Read NAB's cost profiles from ``root/config/profiles.json``."""
    raw: dict[str, dict[str, dict[str, float]]] = _read_json(
        root / "config" / "profiles.json"
    )
    try:
        return {
            name: _profile(name, entry["CostMatrix"]) for name, entry in raw.items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise NabDataError(
            f"{root / 'config' / 'profiles.json'}: each profile needs a CostMatrix "
            f"with tpWeight, fpWeight, fnWeight and tnWeight ({exc})"
        ) from exc


def _read_json(path: Path) -> Any:
    """A NAB JSON file, or ``NabDataError`` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NabDataError(
            f"{path} does not exist; a NAB folder holds data/, labels/ and config/"
        ) from None
    except (OSError, ValueError) as exc:
        raise NabDataError(f"{path} cannot be read as JSON: {exc}") from exc


def _profile(name: str, costs: Mapping[str, float]) -> Profile:
    return Profile(
        name=name,
        tp_weight=float(costs["tpWeight"]),
        fp_weight=float(costs["fpWeight"]),
        fn_weight=float(costs["fnWeight"]),
        tn_weight=float(costs["tnWeight"]),
    )


def probation_rows(row_count: int) -> int:
    """Return how many leading rows NAB leaves unscored in a series."""
    return min(math.floor(_PROBATION_FRACTION * row_count), _PROBATION_MAX_ROWS)


def _window_spans(series: Series) -> list[_Span]:
    index = {stamp: row for row, stamp in enumerate(series.timestamps)}
    spans: list[_Span] = []
    for window in series.windows:
        first, last = index.get(window.start), index.get(window.end)
        if first is None or last is None:
            raise NabDataError(
                f"window {window} of {series.name!r} does not start and end "
                "on timestamps of the file; NAB requires exact matches"
            )
        if last < first or (spans and first <= spans[-1].last):
            raise NabDataError(
                f"windows of {series.name!r} must be ordered and disjoint, "
                f"got {window} after {spans[-1] if spans else 'nothing'}"
            )
        spans.append(_Span(first, last))
    return spans


def _scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: about +1 at -1, 0 at 0, about -1 at +1.

    Positions in a window run from -1 (first row) to just below 0 (last
    row); positions after a window count its widths past its last row.
    """
    if position > _FAR_POSITION:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def _true_positive(row: int, span: _Span, profile: Profile) -> float:
    # The same arithmetic as NAB's sweeper, so a detection at a window's
    # first row earns exactly tpWeight.
    position = -(span.last - row + 1) / span.width
    return _scaled_sigmoid(position) * profile.tp_weight / _scaled_sigmoid(-1.0)


def _false_positive(row: int, before: _Span | None, profile: Profile) -> float:
    if before is None:
        return -profile.fp_weight
    if before.width == 1:
        # NAB divides by zero here; a one-row window is too narrow to measure
        # a distance by, so the detection is charged in full.
        return -profile.fp_weight
    position = (row - before.last) / (before.width - 1)
    return _scaled_sigmoid(position) * profile.fp_weight


def score_file(
    series: Series, detections: Sequence[bool], profile: Profile
) -> FileScore:
    """Score one file's detections, one flag per row, under one profile.

    Raises:
        ValueError: ``detections`` has not one flag per row of ``series``.
    """
    if len(detections) != len(series.timestamps):
        raise ValueError(
            f"{series.name!r} has {len(series.timestamps)} rows but "
            f"{len(detections)} detections were given"
        )
    spans = _window_spans(series)
    start = probation_rows(len(detections))
    scored = [span for span in spans if span.last >= start]
    firsts = [span.first for span in spans]

    first_hit: dict[_Span, int] = {}
    raw_fp = 0.0
    tp = fp = fn = tn = 0
    for row in range(start, len(detections)):
        inside, before = _locate(spans, firsts, row)
        fired = bool(detections[row])
        if inside is not None:
            tp, fn = (tp + 1, fn) if fired else (tp, fn + 1)
            if fired:
                first_hit.setdefault(inside, row)
        else:
            fp, tn = (fp + 1, tn) if fired else (fp, tn + 1)
            if fired:
                raw_fp += _false_positive(row, before, profile)

    # Rewards fall across a window, so its earliest detection is its best, as
    # NAB's maximum over the window's detections also finds.
    raw_windows = sum(
        _true_positive(first_hit[span], span, profile)
        if span in first_hit
        else -profile.fn_weight
        for span in scored
    )
    return FileScore(
        raw=raw_fp + raw_windows,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        windows_detected=len(first_hit),
        windows_scored=len(scored),
    )


def _locate(
    spans: Sequence[_Span], firsts: Sequence[int], row: int
) -> tuple[_Span | None, _Span | None]:
    """Return the window holding ``row``, else the last window before it."""
    latest = bisect.bisect_right(firsts, row) - 1
    if latest < 0:
        return None, None
    span = spans[latest]
    if row <= span.last:
        return span, None
    return None, span


def normalised_score(
    corpus: Corpus,
    detections_by_file: Mapping[str, Sequence[bool]],
    profile: Profile,
) -> float:
    """Return NAB's normalised score of detections over a corpus, one profile.

    0 is the score of a detector that never fires, 100 that of one firing at
    the first row of every window.

    Raises:
        ValueError: a file of the corpus has no detections, or a flag count
            differs from its row count, or the corpus has no scored window.
    """
    raw = raw_null = raw_perfect = 0.0
    for name, series in corpus.series.items():
        if name not in detections_by_file:
            raise ValueError(f"no detections were given for {name!r}")
        rows = len(series.timestamps)
        raw += score_file(series, detections_by_file[name], profile).raw
        raw_null += score_file(series, [False] * rows, profile).raw
        raw_perfect += score_file(series, _perfect(series), profile).raw

    if raw_perfect == raw_null:
        raise ValueError("the corpus has no scored window to normalise against")
    return 100.0 * (raw - raw_null) / (raw_perfect - raw_null)


def normalised_scores(
    corpus: Corpus,
    detections_by_file: Mapping[str, Sequence[bool]],
    profiles: Mapping[str, Profile],
) -> dict[str, float]:
    """Return NAB's normalised score under each profile, keyed like ``profiles``.

    NAB's published figures pick a threshold per profile; to reproduce them,
    call :func:`normalised_score` once per profile with that profile's
    detections.
    """
    return {
        name: normalised_score(corpus, detections_by_file, profile)
        for name, profile in profiles.items()
    }


def _perfect(series: Series) -> list[bool]:
    detections = [False] * len(series.timestamps)
    for span in _window_spans(series):
        detections[span.first] = True
    return detections
