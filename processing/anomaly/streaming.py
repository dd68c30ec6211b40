"""The streaming detector: one per series, one call per closed bucket.

``StreamingDetector.observe`` scores a bucket against the seasonal
baseline, then learns from it. Three surprises are calibrated against
the series' own history: the bucket's absolute residual in scales, which
catches spikes and the onset of shifts; its mean over the last few
buckets, which catches smaller sustained departures; and the distance of
the latest few buckets' shape to the nearest shape the series has shown
(``_novelty``), which catches what the series has never done, whatever
its seasonal model expects. The detector's own score is their combined
tail probability; an offline score for the same
bucket, when there is one, joins the combination. The whole detector is
picklable, and a restored copy continues exactly as the original would.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from datetime import datetime

from processing.anomaly._baseline import SeasonalBaseline
from processing.anomaly._novelty import NoveltyDetector
from processing.anomaly.calibration import (
    STREAMING_TAILS,
    TailCalibrator,
    combine_scores,
    combine_tails,
)
from processing.anomaly.episodes import EpisodeTracker
from processing.anomaly.settings import DetectorSettings
from processing.anomaly.verdicts import Verdict

__all__ = ["StreamingDetector"]


class StreamingDetector:
    """Scores each closed bucket of one series, then learns from it."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._baseline = SeasonalBaseline(self.settings)
        window, fraction = self.settings.calibration_window, self.settings.tail_fraction
        self._point = TailCalibrator(window, fraction)
        self._mean = TailCalibrator(window, fraction)
        self._novelty = NoveltyDetector(
            self.settings.novelty_length, self.settings.novelty_memory
        )
        self._novel = TailCalibrator(window, fraction)
        self._recent: deque[float] = deque(maxlen=self.settings.smooth_buckets)
        self._episodes = EpisodeTracker(self.settings.episode_gap_s)
        self._buckets = 0

    def adopt(self, settings: DetectorSettings) -> None:
        """Take the threshold, the low-traffic limit and the episode gap of
        ``settings``, such as those configured when a saved detector is
        restored; what the detector has learnt, and the sizes it learnt
        with, stay as they are."""
        self.settings = replace(
            self.settings,
            threshold=settings.threshold,
            bucket_s=settings.bucket_s,
            min_support=settings.min_support,
            episode_gap_s=settings.episode_gap_s,
        )
        self._episodes.gap_s = settings.episode_gap_s

    @property
    def warm(self) -> bool:
        """Whether enough buckets have been seen to score."""
        settings = self.settings
        enough = len(self._point) >= settings.warmup_buckets // 2
        return enough and self._buckets >= settings.warmup_buckets

    def observe(
        self,
        at: datetime,
        value: float | None,
        support: float | None = None,
        offline_score: float | None = None,
    ) -> Verdict:
        """Score the bucket closed at ``at``, then learn from it.

        ``value`` is ``None`` for a bucket with no data: it is reported and
        not learnt. ``support`` (such as the request count behind an error
        rate) below ``min_support`` keeps the bucket from being anomalous.
        ``offline_score`` is the offline model's score for this bucket.
        """
        t = at.timestamp()
        expected = self._range(t)
        if value is None or math.isnan(value):
            return self._verdict(at, None, expected, 0.0, None, support)
        surprise = self._baseline.score_one({"t": t, "value": value})
        novelty = self._novelty.surprise(value)
        streaming = self._score(surprise, novelty)
        self._learn(t, value, surprise, novelty)
        return self._verdict(at, value, expected, streaming, offline_score, support)

    def _score(self, surprise: float, novelty: float | None) -> float:
        """Streaming score of the surprises of a bucket, before learning them."""
        if not self.warm:
            return 0.0
        recent = [*self._recent, surprise][-self.settings.smooth_buckets :]
        tails = [self._point.tail(surprise), self._mean.tail(sum(recent) / len(recent))]
        tails.append(1.0 if novelty is None else self._novel.tail(novelty))
        return 1.0 - combine_tails(tails)

    def _learn(
        self, t: float, value: float, surprise: float, novelty: float | None
    ) -> None:
        self._buckets += 1
        self._novelty.learn(value)
        if novelty is not None:
            self._novel.update(novelty)
        # Surprises are calibrated once the model has its final shape (a
        # day of data, so the daily profile is in use): the larger surprises
        # of a model still learning would make later ones look normal.
        if self._baseline.seasonal:
            self._recent.append(surprise)
            self._point.update(surprise)
            if len(self._recent) == self._recent.maxlen:
                self._mean.update(sum(self._recent) / len(self._recent))
        self._baseline.learn_one({"t": t, "value": value})

    def _verdict(
        self,
        at: datetime,
        value: float | None,
        expected: tuple[float | None, float | None, float | None],
        streaming: float,
        offline: float | None,
        support: float | None,
    ) -> Verdict:
        score = self._combine(streaming, offline)
        anomalous = self.warm and score >= self.settings.threshold
        if support is not None and self.settings.min_support is not None:
            anomalous = anomalous and support >= self.settings.min_support
        anomalous = anomalous and value is not None
        opens = self._episodes.update(at, anomalous, score)
        return Verdict(
            at=at,
            observed=value,
            expected=expected[0],
            low=expected[1],
            high=expected[2],
            score=score,
            streaming_score=streaming,
            offline_score=offline,
            warm=self.warm,
            anomalous=anomalous,
            opens_episode=opens,
        )

    def _combine(self, streaming: float, offline: float | None) -> float:
        if not self.warm:
            return 0.0
        return combine_scores(streaming, offline)

    def _range(self, t: float) -> tuple[float | None, float | None, float | None]:
        """Expected value and the range a bucket may take before it alarms."""
        expected = self._baseline.expect(t)
        if expected is None or not self.warm:
            return None, None, None
        centre, scale = expected
        tail = (1.0 - self.settings.threshold) / (STREAMING_TAILS + 1)
        width = self._point.quantile(tail) * scale
        return centre, centre - width, centre + width
