"""The streaming baseline: daily and weekly profiles plus a deviation.

Once a series spans a day, the expected value of a bucket is the profile
value for its time of day (or of week, once enough weeks are seen) plus a
short-term deviation that follows level changes. The seasonal index is the
bucket's timestamp rather than a position counted in points, so 1-minute
and 5-minute series share one model and gaps do not shift the season.
Before a day is seen the expectation is a plain exponentially weighted
level. A residual is scaled by the rolling median absolute residual, which
spikes do not inflate.

Updates are clipped at ``clip_z`` scales, so a lone spike barely moves the
model; a run of residuals beyond the clip on one side is taken as a level
shift and learnt unclipped, so that the new level soon becomes normal.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from river import base, stats

from processing.anomaly.settings import DetectorSettings

__all__ = ["SeasonalBaseline"]

_DAY_S = 86400
_WEEK_S = 7 * _DAY_S

# Consecutive clipped residuals on one side after which the model learns
# them in full: three buckets is past most single spikes.
_SHIFT_RUN = 3

# The median absolute residual is the scale; for series that mostly repeat
# one value it is zero, so a fraction of the mean absolute residual bounds
# it from below.
_MEAN_FLOOR = 0.2


def fading(half_life: float) -> float:
    """Weight of a new value in an exponentially weighted mean."""
    return 1.0 - float(0.5 ** (1.0 / max(half_life, 1e-9)))


class SeasonalBaseline(base.AnomalyDetector):
    """River anomaly detector scoring ``|residual| / scale`` of one series.

    ``x`` holds ``t`` (seconds since the epoch) and ``value``. Call
    ``score_one`` before ``learn_one`` for each bucket.
    """

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._level: float | None = None
        self._deviation = 0.0
        self._scale = stats.EWMean(fading(self.settings.scale_half_life))
        self._median = stats.RollingQuantile(
            0.5, window_size=self.settings.scale_window
        )
        self._gap = stats.EWMean(fading(50.0))
        self._daily: dict[int, float] = {}
        self._weekly: dict[int, tuple[float, int]] = {}
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._run = 0
        self.seen = 0

    @property
    def seasonal(self) -> bool:
        """Whether the series spans a day, so the daily profile is used."""
        if self._first_t is None or self._last_t is None:
            return False
        return self._last_t - self._first_t >= _DAY_S

    def expect(self, t: float) -> tuple[float, float] | None:
        """Expected value and residual scale at ``t``; ``None`` before data."""
        if self._level is None:
            return None
        return self._centre(t), self.scale()

    def scale(self) -> float:
        """Typical absolute residual, floored so it is never zero."""
        level = abs(self._level or 0.0)
        typical = (self._median.get() or 0.0) if self.seen else 0.0
        mean = self._scale.get() or 0.0
        return max(float(typical), _MEAN_FLOOR * mean, 1e-6 * level, 1e-12)

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """Absolute residual in scales; 0 before any data."""
        expected = self.expect(float(x["t"]))
        if expected is None:
            return 0.0
        centre, scale = expected
        return abs(float(x["value"]) - centre) / scale

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        """Update level, profiles and scale with one bucket."""
        t, value = float(x["t"]), float(x["value"])
        self._track_time(t)
        if self._level is None:
            self._level = value
            return
        residual = value - self._centre(t)
        limit = self.settings.clip_z * self.scale()
        if self.seen < self.settings.warmup_buckets // 2:
            # Early on the scale itself is unknown, so nothing is clipped.
            limit = math.inf
        clipped = self._clip(residual, limit)
        self._scale.update(min(abs(residual), limit))
        self._median.update(abs(residual))
        self._learn_level(t, value, clipped)
        self.seen += 1

    def _centre(self, t: float) -> float:
        profile = self._profile(t) if self.seasonal else None
        if profile is None:
            return self._level or 0.0
        return profile + self._deviation

    def _learn_level(self, t: float, value: float, clipped: float) -> None:
        rate = fading(self.settings.level_half_life)
        assert self._level is not None
        if self.seasonal and self._profile(t) is not None:
            self._learn_profiles(t, value, clipped)
            self._deviation += rate * clipped
            self._level = self._centre(t)
        else:
            self._learn_profiles(t, value, None)
            self._level += rate * clipped

    def _clip(self, residual: float, limit: float) -> float:
        if abs(residual) <= limit:
            self._run = 0
            return residual
        side = 1 if residual > 0 else -1
        self._run = side * (abs(self._run) + 1) if self._run * side > 0 else side
        if abs(self._run) >= _SHIFT_RUN:
            return residual
        return math.copysign(limit, residual)

    def _track_time(self, t: float) -> None:
        if self._first_t is None:
            self._first_t = t
        if self._last_t is not None and t > self._last_t:
            self._gap.update(min(t - self._last_t, float(self.settings.slot_s)))
        self._last_t = t

    def _visits_per_day(self) -> float:
        gap = self._gap.get() or float(self.settings.slot_s)
        return max(1.0, self.settings.slot_s / max(gap, 1.0))

    def _slot(self, t: float, period: int) -> int:
        return int(((t + self.settings.utc_offset_s) % period) // self.settings.slot_s)

    def _profile(self, t: float) -> float | None:
        weekly = self._weekly.get(self._slot(t, _WEEK_S))
        weeks = self.settings.weekly_min_weeks * self._visits_per_day()
        if weekly is not None and weekly[1] >= weeks:
            return weekly[0]
        return self._daily.get(self._slot(t, _DAY_S))

    def _learn_profiles(self, t: float, value: float, clipped: float | None) -> None:
        """Move the profiles towards the bucket's value less the deviation.

        ``clipped`` is the residual after clipping, when the daily profile
        made the expectation; the profiles then move by at most that much.
        A slot seen for the first time starts at the bucket's value. The
        rates are spread over the visits a slot gets, so a slot learns as
        fast in days (or weeks) whatever the bucket width.
        """
        visits = self._visits_per_day()
        daily_slot, weekly_slot = self._slot(t, _DAY_S), self._slot(t, _WEEK_S)
        target = value - self._deviation
        old = self._daily.get(daily_slot)
        rate = _per_visit(self.settings.season_rate, visits)
        self._daily[daily_slot] = _move(old, target, rate, clipped)
        mean, count = self._weekly.get(weekly_slot, (None, 0))
        rate = _per_visit(self.settings.weekly_rate, visits)
        self._weekly[weekly_slot] = (_move(mean, target, rate, clipped), count + 1)


def _per_visit(rate: float, visits: float) -> float:
    """The rate per visit that compounds to ``rate`` over ``visits`` visits."""
    return 1.0 - float((1.0 - rate) ** (1.0 / visits))


def _move(old: float | None, target: float, rate: float, limit: float | None) -> float:
    """One exponentially weighted step, its size bounded by ``|limit|``."""
    if old is None:
        return target
    step = target - old
    if limit is not None:
        step = max(-abs(limit), min(abs(limit), step))
    return old + rate * step
