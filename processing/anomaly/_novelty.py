"""The novelty detector: how unlike anything seen before is the latest shape.

The last ``length`` values of a series form its current shape. Its surprise
is the distance to the nearest shape among the last ``memory`` buckets
(shapes that overlap the current one are left out, or every shape would
match its own neighbour). A spike, a drop to zero or a plateau of a kind
the series has never shown is far from every past shape; a burst the
series shows every day has a close neighbour. After a level shift the new
level soon has neighbours of its own, so the detector stops firing without
being told that the shift is the new normal.

Distances are in the series' own units; ``StreamingDetector`` calibrates
them into tail probabilities against the series' own past distances.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["NoveltyDetector"]

# Fewer past shapes than this give no distance: a nearest neighbour among a
# handful says nothing.
_MIN_SHAPES = 50


class NoveltyDetector:
    """Nearest-neighbour distance of the latest shape of one series."""

    __slots__ = ("_buffer", "_size", "length", "memory")

    def __init__(self, length: int = 3, memory: int = 2880) -> None:
        if length < 1 or memory < _MIN_SHAPES + length:
            msg = (
                f"a novelty detector needs a shape length of at least 1 and a "
                f"memory of at least {_MIN_SHAPES + length} buckets, got "
                f"{length} and {memory}"
            )
            raise ValueError(msg)
        self.length = length
        self.memory = memory
        self._buffer: NDArray[np.float64] = np.empty(2 * (memory + length))
        self._size = 0

    def surprise(self, value: float) -> float | None:
        """Distance of the shape ending with ``value`` to its nearest past
        shape; ``None`` while too few shapes are known."""
        if math.isnan(value):
            return None
        recent = self._recent(value)
        if recent is None:
            return None
        past = self._buffer[max(0, self._size - self.memory) : self._size]
        # Shapes that start before the current one's first value and end
        # before it begins: those ending in the current shape overlap it.
        usable = len(past) - (self.length - 1) - (self.length - 1)
        if usable < _MIN_SHAPES:
            return None
        windows = np.lib.stride_tricks.sliding_window_view(
            past[: len(past) - (self.length - 1)], self.length
        )
        gaps = windows - recent
        return float(np.sqrt(np.min(np.einsum("ij,ij->i", gaps, gaps))))

    def learn(self, value: float) -> None:
        """Add a value to the memory; NaN (no data) is not learnt."""
        if math.isnan(value):
            return
        if self._size == len(self._buffer):
            keep = self.memory + self.length
            self._buffer[:keep] = self._buffer[self._size - keep : self._size]
            self._size = keep
        self._buffer[self._size] = value
        self._size += 1

    def _recent(self, value: float) -> NDArray[np.float64] | None:
        """The current shape: the last ``length - 1`` values and ``value``."""
        before = self.length - 1
        if self._size < before:
            return None
        shape = np.empty(self.length)
        shape[:before] = self._buffer[self._size - before : self._size]
        shape[before] = value
        return shape
