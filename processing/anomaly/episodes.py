"""Episodes: runs of anomalous buckets merged into one anomaly.

A spike that lasts five buckets, or a level shift that takes an hour to
become normal, is one anomaly, not many. Anomalous buckets less than
``gap_s`` apart belong to the same episode; only the first bucket of an
episode opens a new anomaly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from processing.anomaly.verdicts import Verdict

__all__ = ["Episode", "EpisodeTracker", "merge_episodes"]


@dataclass(frozen=True, slots=True)
class Episode:
    """One anomaly: its first and last anomalous buckets and its peak."""

    start: datetime
    end: datetime
    peak_at: datetime
    peak_score: float
    buckets: int


class EpisodeTracker:
    """Streaming episode state for one series; picklable."""

    __slots__ = ("_current", "gap_s")

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._current: Episode | None = None

    @property
    def current(self) -> Episode | None:
        """The latest episode, open or closed; ``None`` before the first."""
        return self._current

    def update(self, at: datetime, anomalous: bool, score: float) -> bool:
        """Record one bucket; true when it opens a new episode."""
        if not anomalous:
            return False
        episode = self._current
        if episode is not None and (at - episode.end).total_seconds() <= self.gap_s:
            self._current = self._extend(episode, at, score)
            return False
        self._current = Episode(at, at, at, score, 1)
        return True

    @staticmethod
    def _extend(episode: Episode, at: datetime, score: float) -> Episode:
        peak = score > episode.peak_score
        return Episode(
            start=episode.start,
            end=at,
            peak_at=at if peak else episode.peak_at,
            peak_score=score if peak else episode.peak_score,
            buckets=episode.buckets + 1,
        )


def merge_episodes(verdicts: Iterable[Verdict], gap_s: float) -> list[Episode]:
    """The episodes in a sequence of verdicts, oldest first."""
    tracker = EpisodeTracker(gap_s)
    episodes: list[Episode] = []
    for verdict in verdicts:
        opened = tracker.update(verdict.at, verdict.anomalous, verdict.score)
        current = tracker.current
        if current is None or not verdict.anomalous:
            continue
        if opened:
            episodes.append(current)
        else:
            episodes[-1] = current
    return episodes
