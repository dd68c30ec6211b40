"""Calibration: raw surprises into tail probabilities.

A detector's raw surprise has no common unit: a z-score of 6 is rare for
one series and routine for another. ``TailCalibrator`` keeps a sliding
window of the series' own past surprises and answers how often a surprise
at least as large has been seen. Inside the window the answer is the
empirical frequency; beyond its upper ``tail_fraction`` the tail is
extrapolated as an exponential fitted to the mean excess (a
peaks-over-threshold estimate), so that very rare surprises still get
distinct, small probabilities.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque

import numpy as np
from numpy.typing import NDArray

__all__ = ["TailCalibrator", "combine_scores", "combine_tails", "tail_probabilities"]

# A tail probability is never reported below this, so that scores stay
# strictly below 1 and remain comparable across detectors.
_MIN_TAIL = 1e-12

# Surprises the streaming detector calibrates itself: the point, the mean
# of the last few buckets, and the novelty of the latest shape.
STREAMING_TAILS = 3


class TailCalibrator:
    """Tail probability of a surprise against a window of past surprises."""

    __slots__ = ("_order", "_sorted", "tail_fraction", "window")

    def __init__(self, window: int, tail_fraction: float = 0.1) -> None:
        if window < 10:
            msg = f"calibration window must hold at least 10 surprises, got {window}"
            raise ValueError(msg)
        self.window = window
        self.tail_fraction = tail_fraction
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def tail(self, surprise: float) -> float:
        """Estimated probability of a surprise at least this large.

        With no history yet the answer is 1: nothing is surprising.
        """
        n = len(self._sorted)
        if n == 0:
            return 1.0
        cut = self.cut()
        if surprise <= cut:
            above = n - bisect_left(self._sorted, surprise)
            return min(1.0, (above + 1) / (n + 1))
        return max(_MIN_TAIL, self._upper_fraction() * self._decay(surprise, cut))

    def quantile(self, tail: float) -> float:
        """The surprise whose tail probability is ``tail``; inverse of ``tail``."""
        n = len(self._sorted)
        if n == 0:
            return math.inf
        fraction = self._upper_fraction()
        if tail >= fraction:
            index = min(n - 1, max(0, math.ceil((1.0 - tail) * (n + 1)) - 1))
            return self._sorted[index]
        return self.cut() + self._mean_excess() * math.log(fraction / tail)

    def update(self, surprise: float) -> None:
        """Add a surprise, dropping the oldest when the window is full."""
        if math.isnan(surprise):
            return
        self._order.append(surprise)
        insort(self._sorted, surprise)
        if len(self._order) > self.window:
            oldest = self._order.popleft()
            del self._sorted[bisect_left(self._sorted, oldest)]

    def cut(self) -> float:
        """The surprise above which the tail is extrapolated."""
        n = len(self._sorted)
        return self._sorted[min(n - 1, int(n * (1.0 - self.tail_fraction)))]

    def _upper_fraction(self) -> float:
        n = len(self._sorted)
        above = n - bisect_left(self._sorted, self.cut())
        return max(above, 1) / (n + 1)

    def _mean_excess(self) -> float:
        n = len(self._sorted)
        start = min(n - 1, int(n * (1.0 - self.tail_fraction)))
        upper = self._sorted[start:]
        cut = upper[0]
        excess = sum(upper) / len(upper) - cut
        # A flat history has no excess; fall back to a tiny positive one so
        # that anything above it is very surprising rather than a division
        # by zero.
        return max(excess, 1e-9 * max(1.0, abs(cut)))

    def _decay(self, surprise: float, cut: float) -> float:
        return math.exp(-(surprise - cut) / self._mean_excess())


def combine_tails(tails: list[float]) -> float:
    """One tail probability from several detectors' tail probabilities.

    The smallest tail wins, corrected for having looked at several
    (Bonferroni): with ``k`` detectors each wrong once in ``n`` buckets,
    the combination is wrong at most ``k`` times in ``n`` buckets.
    """
    if not tails:
        return 1.0
    return min(1.0, len(tails) * min(tails))


def combine_scores(streaming: float, offline: float | None) -> float:
    """The combined score of a bucket from its detectors' scores.

    The streaming score already combines ``STREAMING_TAILS`` tails, so its
    correction is undone and the offline tail is weighed as one more.
    """
    tails = [(1.0 - streaming) / STREAMING_TAILS] * STREAMING_TAILS
    if offline is not None:
        tails.append(1.0 - offline)
    return 1.0 - combine_tails(tails)


def tail_probabilities(
    reference: NDArray[np.float64], surprises: NDArray[np.float64], tail_fraction: float
) -> NDArray[np.float64]:
    """Tail probabilities of surprises against sorted reference surprises.

    The batch form of ``TailCalibrator.tail``: empirical inside the
    reference, exponential beyond its upper ``tail_fraction``.
    """
    n = len(reference)
    if n == 0:
        return np.ones(len(surprises))
    start = min(n - 1, int(n * (1.0 - tail_fraction)))
    cut = float(reference[start])
    upper = reference[start:]
    excess = max(float(upper.mean()) - cut, 1e-9 * max(1.0, abs(cut)))
    above_cut = n - int(np.searchsorted(reference, cut, side="left"))
    fraction = max(above_cut, 1) / (n + 1)

    above = n - np.searchsorted(reference, surprises, side="left")
    empirical = np.minimum(1.0, (above + 1) / (n + 1))
    extrapolated = fraction * np.exp(-(surprises - cut) / excess)
    tails = np.where(surprises <= cut, empirical, extrapolated)
    return np.maximum(tails, _MIN_TAIL)
