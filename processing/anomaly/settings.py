"""Detector settings: the shipped defaults for every series.

One ``DetectorSettings`` value configures the streaming detector, the
offline model, the calibration, the combination and the episode merging.
The defaults are product defaults: they are the same for every series and
are not tuned per series.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["DetectorSettings"]


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Defaults for the anomaly detectors of one series.

    Durations are in seconds of data time and counts are in buckets. The
    ``threshold`` applies to the combined score of a bucket of ``bucket_s``
    seconds, which is ``1 - p`` for a tail probability ``p``: at 0.9998 a
    one-minute bucket is anomalous when a surprise at least as large is
    expected about once in 5,000 minutes, three and a half days. For
    buckets of another width, ``for_bucket`` keeps that rate in time.
    Merging anomalous buckets into episodes keeps aftershocks from adding
    alerts of their own.
    """

    threshold: float = 0.9998
    bucket_s: float = 60.0

    # Cold start: no score before this many buckets have been seen.
    warmup_buckets: int = 288

    # Seasonality, keyed by the time of day (and week) of each bucket.
    slot_s: int = 1800
    utc_offset_s: int = 0
    season_rate: float = 0.2
    weekly_rate: float = 0.5
    weekly_min_weeks: int = 2

    # The deseasonalised level follows the series with this half-life.
    level_half_life: float = 6.0
    scale_half_life: float = 288.0
    scale_window: int = 288
    clip_z: float = 4.0

    # Novelty: the latest shape of this many buckets against the shapes of
    # the last ``novelty_memory`` buckets.
    novelty_length: int = 3
    novelty_memory: int = 2880

    # Calibration of surprises into tail probabilities.
    calibration_window: int = 5760
    tail_fraction: float = 0.1
    smooth_buckets: int = 6

    # Low traffic: below this support no bucket is anomalous.
    min_support: float | None = None

    # Episodes: anomalous buckets at most this far apart belong to one episode,
    # so the aftershocks of an incident do not open anomalies of their own.
    episode_gap_s: float = 43200.0

    # Offline IsolationForest, retrained on a schedule in data time.
    offline_enabled: bool = True
    retrain_every_s: float = 86400.0
    train_window_s: float = 7 * 86400.0
    min_train_buckets: int = 288
    n_estimators: int = 50
    random_state: int = 0

    def for_bucket(self, bucket_s: float) -> DetectorSettings:
        """These settings for buckets of ``bucket_s`` seconds, with the
        threshold moved so that false alarms stay as rare in time.

        Raises:
            ValueError: ``bucket_s`` is not positive.
        """
        if not bucket_s > 0:
            msg = f"a bucket must last a positive number of seconds, got {bucket_s}"
            raise ValueError(msg)
        tail = (1.0 - self.threshold) * bucket_s / self.bucket_s
        threshold = round(1.0 - min(tail, 1.0), 12)
        return replace(self, threshold=threshold, bucket_s=bucket_s)
