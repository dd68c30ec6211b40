"""The offline detector: an IsolationForest over several KPIs of a service.

``build_features`` turns one or more aligned KPI series into a 2-D matrix
whose columns expose seasonality and change: the value, its residual
against the same time yesterday, its distance from the recent mean, the
recent mean's distance from the daily mean and the ratio of recent to
daily spread. Every column uses only the past. ``OfflineModel`` is fitted
on a stretch of history and scores later rows as tail probabilities
against its training rows. ``walk_forward`` retrains it on a schedule in
data time and scores each stretch with the model trained before it, as
the production job does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from processing.anomaly.calibration import tail_probabilities
from processing.anomaly.settings import DetectorSettings

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

__all__ = [
    "FEATURES",
    "Forward",
    "OfflineModel",
    "build_features",
    "score_forward",
    "walk_forward",
]

Matrix = NDArray[np.float64]

FEATURES = ("value", "vs_yesterday", "vs_recent", "recent_vs_day", "spread_ratio")

_DAY_S = 86400.0
_RECENT_S = 3600.0
# Windows hold at least this many buckets, so hourly data still has a
# recent mean of several points.
_RECENT_MIN_BUCKETS = 6
_DAY_MIN_BUCKETS = 48
_FLAT_SPREAD = 1e-6


@dataclass(frozen=True, slots=True)
class _Windows:
    """Trailing window lengths in seconds for one series."""

    recent_s: float
    day_s: float
    tolerance_s: float


def _windows(seconds: Matrix) -> _Windows:
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 60.0
    return _Windows(
        recent_s=max(_RECENT_S, _RECENT_MIN_BUCKETS * step),
        day_s=max(_DAY_S, _DAY_MIN_BUCKETS * step),
        tolerance_s=step,
    )


def _epoch(timestamps: Sequence[datetime]) -> Matrix:
    return np.array([t.timestamp() for t in timestamps], dtype=np.float64)


def _trailing(values: Matrix, starts: NDArray[np.intp]) -> tuple[Matrix, Matrix]:
    """Mean and standard deviation of ``values[start:i + 1]`` for each row."""
    sums = np.concatenate(([0.0], np.cumsum(values)))
    squares = np.concatenate(([0.0], np.cumsum(values * values)))
    ends = np.arange(1, len(values) + 1)
    counts = ends - starts
    mean = (sums[ends] - sums[starts]) / counts
    variance = (squares[ends] - squares[starts]) / counts - mean * mean
    # Differences of running sums leave rounding noise where a window is
    # flat, and that noise depends on where the series starts. A spread
    # below a millionth of the level is taken as none, so that features
    # do not change with how much history is loaded.
    flat = variance <= _FLAT_SPREAD**2 * np.maximum(mean * mean, 1e-24)
    return mean, np.sqrt(np.where(flat, 0.0, variance))


def _series_features(seconds: Matrix, values: Matrix) -> Matrix:
    windows = _windows(seconds)
    recent_start = np.searchsorted(seconds, seconds - windows.recent_s, side="right")
    day_start = np.searchsorted(seconds, seconds - windows.day_s, side="right")
    recent_mean, recent_std = _trailing(values, recent_start)
    day_mean, day_std = _trailing(values, day_start)

    # The bucket a day earlier, when there is one close enough in time;
    # otherwise the daily mean stands in for it.
    target = seconds - _DAY_S
    index = np.clip(np.searchsorted(seconds, target), 0, len(seconds) - 1)
    found = np.abs(seconds[index] - target) <= windows.tolerance_s
    yesterday = np.where(found, values[index], day_mean)

    spread = np.log((recent_std + 1e-9) / (day_std + 1e-9))
    return np.column_stack(
        (
            values,
            values - yesterday,
            values - recent_mean,
            recent_mean - day_mean,
            spread,
        )
    )


def build_features(
    timestamps: Sequence[datetime], kpis: Mapping[str, Sequence[float]]
) -> Matrix:
    """Feature matrix for aligned KPI series of one service.

    Each KPI adds the columns named in ``FEATURES``, in the order of
    ``kpis``. Missing values (NaN) are carried forward from the last
    known value of the KPI.
    """
    seconds = _epoch(timestamps)
    blocks = [
        _series_features(seconds, _fill_forward(np.asarray(v, dtype=np.float64)))
        for v in kpis.values()
    ]
    return np.hstack(blocks) if blocks else np.empty((len(seconds), 0))


def _fill_forward(values: Matrix) -> Matrix:
    known = ~np.isnan(values)
    if known.all() or not known.any():
        return np.nan_to_num(values)
    index = np.where(known, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    filled = values[index]
    return np.where(np.isnan(filled), values[known][0], filled)


class OfflineModel:
    """IsolationForest over feature rows, scoring as tail probabilities."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._forest: IsolationForest | None = None
        self._reference: Matrix = np.empty(0)

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has been called."""
        return self._forest is not None

    def fit(self, history: Matrix) -> None:
        """Train on past rows; later scores are relative to these rows."""
        # scikit-learn takes about 100 MB once imported: only a process that
        # trains (or restores a trained model) pays for it.
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(
            n_estimators=self.settings.n_estimators,
            random_state=self.settings.random_state,
        )
        forest.fit(history)
        self._forest = forest
        self._reference = np.sort(-forest.score_samples(history))

    def score(self, rows: Matrix) -> Matrix:
        """Scores in [0, 1] for rows: one minus their tail probability.

        Raises:
            RuntimeError: the model has not been fitted.
        """
        if self._forest is None:
            msg = "offline model scored before fit; call fit with history first"
            raise RuntimeError(msg)
        surprise = -self._forest.score_samples(rows)
        tails = tail_probabilities(
            self._reference, surprise, self.settings.tail_fraction
        )
        return 1.0 - tails


@dataclass(slots=True)
class Forward:
    """What ``score_forward`` did: the scores of the rows it was asked
    for, and the model it ended with, trained up to ``trained_until``
    (seconds since the epoch) on ``trained_rows`` rows."""

    scores: list[float | None]
    model: OfflineModel | None
    trained_until: float | None
    trained_rows: int
    retrained: bool


def score_forward(
    timestamps: Sequence[datetime],
    features: Matrix,
    settings: DetectorSettings,
    start: int = 0,
    model: OfflineModel | None = None,
    trained_until: float | None = None,
) -> Forward:
    """Offline scores for ``features[start:]``, each from a model trained
    only on rows before it.

    A model is (re)trained at a row when there is none yet or when the
    last was trained ``retrain_every_s`` or more before it, on the rows of
    the ``train_window_s`` before it: at least ``min_train_buckets`` of
    them, a day after the first row. Rows that come before the first
    model are ``None``. Retraining follows data time only, so scoring a
    series in one pass or in several gives the same scores.
    """
    seconds = _epoch(timestamps)
    forward = Forward([], model, trained_until, 0, False)
    scores: list[float | None] = [None] * (len(seconds) - start)
    row = start
    while row < len(seconds):
        if _due(forward, seconds[row], settings):
            _train(forward, seconds, features, row, settings)
        if forward.model is None or forward.trained_until is None:
            row += 1
            continue
        next_due = forward.trained_until + settings.retrain_every_s
        end = max(int(np.searchsorted(seconds, next_due)), row + 1)
        scores[row - start : end - start] = forward.model.score(
            features[row:end]
        ).tolist()
        row = end
    forward.scores = scores
    return forward


def _due(forward: Forward, at: float, settings: DetectorSettings) -> bool:
    if forward.model is None or forward.trained_until is None:
        return True
    return forward.trained_until + settings.retrain_every_s <= at


def _train(
    forward: Forward,
    seconds: Matrix,
    features: Matrix,
    row: int,
    settings: DetectorSettings,
) -> None:
    """Train a model at ``row`` when the rows before it allow one."""
    first = int(np.searchsorted(seconds, seconds[row] - settings.train_window_s))
    enough = row - first >= settings.min_train_buckets
    if not enough or seconds[row] - seconds[0] < _DAY_S:
        return
    model = OfflineModel(settings)
    model.fit(features[first:row])
    forward.model = model
    forward.trained_until = float(seconds[row])
    forward.trained_rows = row - first
    forward.retrained = True


def walk_forward(
    timestamps: Sequence[datetime], features: Matrix, settings: DetectorSettings
) -> list[float | None]:
    """Offline scores for every row of a series, each from a model trained
    only before it (see ``score_forward``)."""
    return score_forward(timestamps, features, settings).scores
