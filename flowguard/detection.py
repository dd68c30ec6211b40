"""The detection loop: score every closed KPI minute of every service.

The process that owns maintenance runs ``Detection.run_once`` after each
rollup refresh. For each service with closed, unscored buckets in
``kpi_1m`` it restores the service's detectors from the database, scores
the new buckets in order (each detector scores a bucket, then learns from
it), and in one transaction stores the bucket scores, the anomalies they
open or extend, and the detectors' new state. A restart, or another
process taking over, continues from the stored state: nothing is scored
twice and nothing is forgotten.

The offline model of a service (an IsolationForest over all its KPIs) is
retrained every ``retrain_every_s`` of data time on the history before the
buckets it then scores.
"""

from __future__ import annotations

import asyncio
import logging
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from processing.anomaly.calibration import combine_scores
from processing.anomaly.offline import OfflineModel, build_features, score_forward
from processing.anomaly.settings import DetectorSettings
from processing.anomaly.streaming import StreamingDetector
from processing.anomaly.verdicts import Verdict
from processing.anomaly.watched import WATCHED_KPIS, WatchedKpi, explain
from storage.anomalies import (
    AnomalyRecord,
    BucketScore,
    SavedState,
    extend_or_open,
    kpi_rows,
    load_model,
    load_states,
    pending_services,
    save_model,
    save_scores,
    save_states,
)

__all__ = ["Detection", "DetectionSettings"]

logger = logging.getLogger(__name__)

# Bumped when the pickled detector or model changes shape; older state is
# then dropped and the series starts again.
STATE_FORMAT = 2
_MINUTE = timedelta(minutes=1)
# A silent stretch longer than this is a gap the detector sees as such,
# not a run of zero buckets.
_MAX_FILLED = 60
# Offline features compare a bucket with the same time a day earlier.
_FEATURE_CONTEXT = timedelta(days=1, hours=2)


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """How detection runs; the detector defaults are in ``detector``.

    ``delay_s`` is how long after a bucket ends it is scored, so that late
    data is in it. ``history_s`` bounds how far back a new series starts.
    ``min_requests`` is the least traffic behind an error rate or latency
    for it to be anomalous.
    """

    detector: DetectorSettings = field(default_factory=DetectorSettings)
    delay_s: float = 30.0
    history_s: float = 7 * 86400.0
    min_requests: float = 20.0
    utc_offset: timedelta = timedelta(0)


@dataclass(slots=True)
class _Series:
    kpi: WatchedKpi
    detector: StreamingDetector
    buckets: int
    tolerance: float


@dataclass(slots=True)
class _Outcome:
    scores: list[BucketScore] = field(default_factory=list)
    anomalies: list[AnomalyRecord] = field(default_factory=list)
    states: list[SavedState] = field(default_factory=list)
    model: tuple[int, bytes, datetime] | None = None
    trained_rows: int = 0


class Detection:
    """Scores closed KPI buckets and records anomalies."""

    def __init__(self, settings: DetectionSettings | None = None) -> None:
        self.settings = settings or DetectionSettings()
        self.scored = 0

    async def run_once(self, conn: psycopg.AsyncConnection, now: datetime) -> int:
        """Score every closed bucket not yet scored; the number scored."""
        s = self.settings
        # Minute arithmetic and the times in explanations need buckets in
        # UTC, whatever TimeZone the server or the database sets.
        await conn.execute("SET TIME ZONE 'UTC'")
        until = _floor(now - timedelta(seconds=s.delay_s))
        floor = _floor(now - timedelta(seconds=s.history_s))
        scored = 0
        for service, after in (await pending_services(conn, floor, until)).items():
            try:
                scored += await self._service(conn, service, after, until)
            except psycopg.Error:
                raise
            except Exception:
                # One service's bad data must not stop the others; its
                # buckets stay pending and are tried again next round.
                logger.exception("scoring the KPIs of %r failed", service)
        self.scored += scored
        return scored

    async def _service(
        self,
        conn: psycopg.AsyncConnection,
        service: str,
        after: datetime,
        until: datetime,
    ) -> int:
        rows = await kpi_rows(conn, service, after, until)
        if not rows:
            return 0
        states = await load_states(conn, service)
        stored_model = await load_model(conn, service)
        first = rows[0]["bucket"]
        span = self._context(stored_model, rows[-1]["bucket"])
        history = await kpi_rows(conn, service, first - span - _MINUTE, first)
        outcome = await asyncio.to_thread(
            self._score, service, after, rows, history, states, stored_model
        )
        async with conn.transaction():
            await save_scores(conn, outcome.scores)
            gap = timedelta(seconds=self.settings.detector.episode_gap_s)
            for record in outcome.anomalies:
                await extend_or_open(conn, record, gap)
            await save_states(conn, service, outcome.states)
            if outcome.model is not None:
                await save_model(conn, service, outcome.model, outcome.trained_rows)
        return len(rows)

    def _context(
        self, stored: tuple[int, bytes, datetime] | None, last: datetime
    ) -> timedelta:
        """How much history before the new rows the offline model needs:
        its training window when it is due for training by ``last``, else
        the context of its features (a day and a bit)."""
        settings = self.settings.detector
        if _due(stored, last, settings):
            return timedelta(seconds=settings.train_window_s)
        return _FEATURE_CONTEXT

    # The CPU-bound part runs in a thread, away from the event loop.

    def _score(
        self,
        service: str,
        after: datetime,
        rows: list[dict[str, Any]],
        history: list[dict[str, Any]],
        states: Mapping[str, SavedState],
        stored_model: tuple[int, bytes, datetime] | None,
    ) -> _Outcome:
        outcome = _Outcome()
        rows = _filled(rows, after if states else None)
        history = _filled(history, None) if history else history
        offline = self._offline(rows, history, stored_model, outcome)
        series = {name: self._restore(name, states.get(name)) for name in WATCHED_KPIS}
        for index, row in enumerate(rows):
            self._bucket(service, row, offline[index], series, outcome)
        last = rows[-1]["bucket"]
        outcome.states = [
            SavedState(
                kpi=name,
                format=STATE_FORMAT,
                state=pickle.dumps(one.detector),
                last_bucket=last,
                buckets_seen=one.buckets,
                warm=one.detector.warm,
                tolerance=one.tolerance,
            )
            for name, one in series.items()
        ]
        return outcome

    def _restore(self, name: str, saved: SavedState | None) -> _Series:
        kpi = WATCHED_KPIS[name]
        settings = self.settings.detector
        if kpi.support is not None:
            settings = replace(settings, min_support=self.settings.min_requests)
        if saved is not None and saved.format == STATE_FORMAT:
            try:
                detector = pickle.loads(saved.state)
            except Exception as exc:  # any unreadable state starts afresh
                logger.warning("dropping unreadable detector of %r: %s", name, exc)
            else:
                detector.adopt(settings)
                return _Series(kpi, detector, saved.buckets_seen, saved.tolerance)
        tolerance = saved.tolerance if saved is not None else 1.0
        return _Series(kpi, StreamingDetector(settings), 0, tolerance)

    def _bucket(
        self,
        service: str,
        row: dict[str, Any],
        offline: float | None,
        series: Mapping[str, _Series],
        outcome: _Outcome,
    ) -> None:
        at: datetime = row["bucket"]
        verdicts: dict[str, Verdict] = {}
        for name, one in series.items():
            support = _support(row, one.kpi)
            verdicts[name] = one.detector.observe(at, _value(row, one.kpi), support)
            one.buckets += 1
        # The offline model scores the service as a whole; its score joins
        # the series the streaming detectors find most unusual.
        lead = max(verdicts, key=lambda n: verdicts[n].streaming_score)
        for name, verdict in verdicts.items():
            one = series[name]
            joined = offline if name == lead else None
            enough = _support(row, one.kpi) >= self.settings.min_requests
            self._judge(service, one, verdict, joined, enough, outcome)

    def _judge(
        self,
        service: str,
        one: _Series,
        verdict: Verdict,
        offline: float | None,
        enough: bool,
        outcome: _Outcome,
    ) -> None:
        settings = one.detector.settings
        score = verdict.score
        detectors = {"streaming": verdict.streaming_score}
        if offline is not None and verdict.warm:
            score = combine_scores(verdict.streaming_score, offline)
            detectors["isolation_forest"] = offline
        anomalous = verdict.warm and verdict.observed is not None
        anomalous = anomalous and score >= settings.threshold
        anomalous = anomalous and (one.kpi.support is None or enough)
        low, high = _widened(verdict, one.tolerance)
        if anomalous and one.tolerance > 1 and low is not None and high is not None:
            assert verdict.observed is not None
            anomalous = not low <= verdict.observed <= high
        outcome.scores.append(
            BucketScore(
                verdict.at,
                service,
                one.kpi.name,
                verdict.observed,
                verdict.expected,
                low,
                high,
                score,
                detectors,
                verdict.warm,
                anomalous,
            )
        )
        if anomalous:
            fired = tuple(
                name for name, value in detectors.items() if value >= settings.threshold
            )
            outcome.anomalies.append(
                AnomalyRecord(
                    service=service,
                    kpi=one.kpi.name,
                    start=verdict.at,
                    end=verdict.at + _MINUTE,
                    score=score,
                    observed=verdict.observed,
                    expected=verdict.expected,
                    low=low,
                    high=high,
                    detectors=fired or tuple(detectors),
                    explanation=explain(
                        one.kpi,
                        verdict.observed,
                        low,
                        high,
                        verdict.at,
                        self.settings.utc_offset,
                    ),
                )
            )

    def _offline(
        self,
        rows: list[dict[str, Any]],
        history: list[dict[str, Any]],
        stored: tuple[int, bytes, datetime] | None,
        outcome: _Outcome,
    ) -> list[float | None]:
        settings = self.settings.detector
        if not settings.offline_enabled:
            return [None] * len(rows)
        every = [*history, *rows]
        features = build_features(
            [r["bucket"] for r in every],
            {name: [_nan(r, k) for r in every] for name, k in WATCHED_KPIS.items()},
        )
        model = _model(stored)
        trained = stored[2].timestamp() if model is not None and stored else None
        forward = score_forward(
            [r["bucket"] for r in every],
            features,
            settings,
            start=len(history),
            model=model,
            trained_until=trained,
        )
        if forward.retrained and forward.model is not None:
            assert forward.trained_until is not None
            until = datetime.fromtimestamp(forward.trained_until, UTC)
            outcome.model = (STATE_FORMAT, pickle.dumps(forward.model), until)
            outcome.trained_rows = forward.trained_rows
        return forward.scores


def _due(
    stored: tuple[int, bytes, datetime] | None,
    last: datetime,
    settings: DetectorSettings,
) -> bool:
    """Whether the offline model must be trained before scoring ``last``."""
    if stored is None or stored[0] != STATE_FORMAT:
        return True
    return stored[2] + timedelta(seconds=settings.retrain_every_s) <= last


def _model(stored: tuple[int, bytes, datetime] | None) -> OfflineModel | None:
    if stored is None or stored[0] != STATE_FORMAT:
        return None
    try:
        model = pickle.loads(stored[1])
    except Exception as exc:  # any unreadable state starts afresh
        logger.warning("dropping unreadable offline model: %s", exc)
        return None
    return model if isinstance(model, OfflineModel) else None


def _widened(verdict: Verdict, tolerance: float) -> tuple[float | None, float | None]:
    if verdict.expected is None or verdict.low is None or verdict.high is None:
        return verdict.low, verdict.high
    centre = verdict.expected
    return (
        centre - (centre - verdict.low) * tolerance,
        centre + (verdict.high - centre) * tolerance,
    )


def _support(row: Mapping[str, Any], kpi: WatchedKpi) -> float:
    if kpi.support is None:
        return math.inf
    return float(row.get(kpi.support) or 0)


def _value(row: Mapping[str, Any], kpi: WatchedKpi) -> float | None:
    value = row.get(kpi.column)
    if value is None:
        return 0.0 if kpi.count else None
    return float(value)


def _nan(row: Mapping[str, Any], kpi: WatchedKpi) -> float:
    value = _value(row, kpi)
    return math.nan if value is None else value


def _filled(
    rows: Sequence[dict[str, Any]], after: datetime | None
) -> list[dict[str, Any]]:
    """The rows with short silent stretches as empty buckets: between rows,
    and after ``after``, the last bucket scored before them."""
    filled: list[dict[str, Any]] = []
    previous = after or rows[0]["bucket"]
    for row in rows:
        missing = int((row["bucket"] - previous) / _MINUTE) - 1
        if 0 < missing <= _MAX_FILLED:
            filled.extend(
                {"bucket": previous + k * _MINUTE} for k in range(1, missing + 1)
            )
        filled.append(row)
        previous = row["bucket"]
    return filled


def _floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
