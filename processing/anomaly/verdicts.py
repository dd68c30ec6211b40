"""Verdicts: what the detectors say about one bucket of one series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The detectors' view of one closed bucket.

    ``score`` is the combined score in [0, 1]: one minus the tail
    probability of the bucket's surprise. ``expected``, ``low`` and
    ``high`` describe what the streaming model expected for this bucket;
    a value outside ``[low, high]`` is about as surprising as the default
    threshold. They are ``None`` before the model has seen enough data.
    ``opens_episode`` marks the first anomalous bucket of an episode;
    later anomalous buckets of the same episode are not new anomalies.
    """

    at: datetime
    observed: float | None
    expected: float | None
    low: float | None
    high: float | None
    score: float
    streaming_score: float
    offline_score: float | None
    warm: bool
    anomalous: bool
    opens_episode: bool
