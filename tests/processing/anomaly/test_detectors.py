"""The detectors on synthetic KPI series with known, injected events."""

from __future__ import annotations

import itertools
import math
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from processing.anomaly import (
    DetectorSettings,
    StreamingDetector,
    Verdict,
    build_features,
    combine_scores,
    detect_series,
    merge_episodes,
    walk_forward,
)
from processing.anomaly.calibration import STREAMING_TAILS, TailCalibrator

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
NOISE = 4.0


def seasonal(
    days: float, step_s: int = 300, seed: int = 7
) -> tuple[list[datetime], np.ndarray]:
    """Requests per second with a daily peak at 14:00 and gentle noise."""
    rng = np.random.default_rng(seed)
    count = int(days * 86400 / step_s)
    times = [START + timedelta(seconds=k * step_s) for k in range(count)]
    hours = np.array([(t.hour * 3600 + t.minute * 60) / 3600 for t in times])
    # Quiet at night, a broad peak of +60 around 14:00 every day.
    daily = 100 + 60 * np.exp(-(((hours - 14) / 3) ** 2))
    return times, daily + rng.normal(0, NOISE, count)


def index_at(times: list[datetime], day: int, hour: int, minute: int = 0) -> int:
    moment = START + timedelta(days=day, hours=hour, minutes=minute)
    return times.index(moment)


def openings(verdicts: list[Verdict]) -> list[int]:
    return [k for k, v in enumerate(verdicts) if v.opens_episode]


def test_a_spike_is_detected_at_once_and_the_seasonal_peak_is_not() -> None:
    times, values = seasonal(5)
    spike = index_at(times, 4, 3)
    values[spike] += 25 * NOISE
    verdicts = detect_series(times, values.tolist())

    assert openings(verdicts) == [spike]
    found = verdicts[spike]
    assert found.anomalous and found.score >= DetectorSettings().threshold
    assert found.expected is not None and found.low is not None
    assert found.high is not None and found.low < found.expected < found.high
    assert not found.low <= found.observed <= found.high
    # The daily peak, twelve times the noise above the night, is expected.
    peaks = [index_at(times, day, 14) for day in (2, 3, 4)]
    assert not any(verdicts[k].anomalous for k in peaks)
    assert all(verdicts[k].low <= values[k] <= verdicts[k].high for k in peaks)


def test_a_level_shift_is_detected_within_a_few_buckets_then_becomes_normal() -> None:
    times, values = seasonal(7)
    shift = index_at(times, 4, 2)
    values[shift:] += 15 * NOISE
    verdicts = detect_series(times, values.tolist())

    opened = openings(verdicts)
    assert opened, "the shift was not detected"
    assert shift <= opened[0] <= shift + 3
    # One anomaly for the shift, and the new level is normal a day later.
    later = index_at(times, 5, 6)
    assert all(o < later for o in opened)
    assert not any(v.anomalous for v in verdicts[later:])


def test_a_slow_drift_is_learnt_without_anomalies() -> None:
    times, values = seasonal(6)
    # Ten times the noise over four days: well under one noise per hour.
    values += np.linspace(0, 10 * NOISE, len(values))
    verdicts = detect_series(times, values.tolist())
    assert any(v.warm for v in verdicts)
    assert openings(verdicts) == []


def test_one_minute_buckets_work_as_five_minute_buckets_do() -> None:
    times, values = seasonal(3, step_s=60)
    spike = index_at(times, 2, 9, 17)
    values[spike] += 25 * NOISE
    verdicts = detect_series(times, values.tolist())
    assert openings(verdicts) == [spike]


def test_cold_start_gives_no_scores_and_no_expected_range() -> None:
    times, values = seasonal(0.5)
    values[-10] += 50 * NOISE
    verdicts = detect_series(times, values.tolist())
    assert not any(v.warm or v.anomalous for v in verdicts)
    assert all(v.score == 0.0 and v.expected is None for v in verdicts)


def test_a_restart_in_the_middle_changes_nothing() -> None:
    times, values = seasonal(5)
    values[index_at(times, 4, 3)] += 25 * NOISE
    settings = DetectorSettings(offline_enabled=False)
    straight = detect_series(times, values.tolist(), settings)

    detector = StreamingDetector(settings)
    half = len(times) // 2 + 17
    first = [
        detector.observe(t, float(v))
        for t, v in zip(times[:half], values, strict=False)
    ]
    restored: StreamingDetector = pickle.loads(pickle.dumps(detector))
    second = [
        restored.observe(t, float(v))
        for t, v in zip(times[half:], values[half:], strict=True)
    ]
    assert first + second == straight


def test_low_traffic_is_never_anomalous() -> None:
    times, values = seasonal(4)
    rates = np.clip(values / 1000, 0, None)
    last = len(times) - 5
    rates[last] = 1.0  # every request failed...
    support = [500.0] * len(times)
    support[last] = 3.0  # ...but there were three of them
    settings = DetectorSettings(min_support=20)
    quiet = detect_series(times, rates.tolist(), settings, support)
    assert quiet[last].score >= settings.threshold
    assert not quiet[last].anomalous

    support[last] = 400.0
    busy = detect_series(times, rates.tolist(), settings, support)
    assert busy[last].anomalous


def test_gaps_are_reported_and_not_learnt() -> None:
    times, values = seasonal(4)
    gappy: list[float | None] = values.tolist()
    for k in range(len(gappy) - 40, len(gappy) - 20):
        gappy[k] = None
    verdicts = detect_series(times, gappy)
    assert all(v.observed is None and not v.anomalous for v in verdicts[-40:-20])
    assert openings(verdicts) == []


def test_timestamps_that_go_back_are_refused() -> None:
    times, values = seasonal(0.1)
    with pytest.raises(ValueError, match="must not go back"):
        detect_series([*times[:5], times[2]], values[:6].tolist())
    with pytest.raises(ValueError, match="one value per timestamp"):
        detect_series(times, values[:-1].tolist())


def test_the_offline_model_scores_with_the_past_only() -> None:
    times, values = seasonal(4)
    settings = DetectorSettings()
    before = walk_forward(
        times, build_features(times, {"v": values.tolist()}), settings
    )
    changed = values.copy()
    changed[-50:] += 1000
    after = walk_forward(
        times, build_features(times, {"v": changed.tolist()}), settings
    )
    assert before[: len(times) - 50] == after[: len(times) - 50]
    assert before[0] is None
    scored = [s for s in before if s is not None]
    assert scored and all(0.0 <= s <= 1.0 for s in scored)
    assert min(s for s in after[-50:] if s is not None) > 0.99


def test_tail_probabilities_fall_as_surprise_grows() -> None:
    calibrator = TailCalibrator(window=500)
    rng = np.random.default_rng(1)
    for value in np.abs(rng.normal(0, 1, 600)):
        calibrator.update(float(value))
    assert len(calibrator) == 500
    tails = [calibrator.tail(x) for x in (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)]
    assert tails[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(tails))
    assert 0.0 < tails[-1] < 1e-4
    assert calibrator.tail(calibrator.quantile(1e-3)) == pytest.approx(1e-3)


def test_combined_scores_stay_calibrated() -> None:
    """The offline tail joins the streaming tails as one more, corrected
    for the number of tails looked at."""
    k = STREAMING_TAILS
    assert combine_scores(0.5, None) == 0.5
    assert combine_scores(0.99, 0.0) == pytest.approx(1 - (k + 1) * 0.01 / k)
    assert combine_scores(0.0, 0.9999) == pytest.approx(1 - (k + 1) * 0.0001)
    assert 0.0 <= combine_scores(0.0, 0.0) <= 1.0


def test_episodes_merge_detections_close_in_time() -> None:
    times, values = seasonal(6)
    first = index_at(times, 4, 3)
    values[first] += 25 * NOISE
    values[first + 4] += 25 * NOISE  # twenty minutes later: the same episode
    near = index_at(times, 4, 9)
    values[near] += 25 * NOISE  # six hours later: still the same episode
    far = index_at(times, 5, 3)
    values[far] += 25 * NOISE  # a day later: another one
    verdicts = detect_series(times, values.tolist())
    episodes = merge_episodes(verdicts, DetectorSettings().episode_gap_s)
    assert len(episodes) == 2
    assert episodes[0].start == times[first]
    # The third spike ends the episode; the recent mean may stay high a
    # bucket or two longer.
    assert times[near] <= episodes[0].end <= times[near + 2]
    assert episodes[1].start == times[far]
    assert openings(verdicts) == [first, far]
    assert all(math.isfinite(v.score) for v in verdicts)


def test_wider_buckets_keep_the_rate_of_false_alarms_in_time() -> None:
    """A threshold is a rate of false alarms: five-minute buckets may each
    be five times as surprising as one-minute ones."""
    minute = DetectorSettings()
    assert minute.bucket_s == 60
    assert minute.for_bucket(60) == minute
    five = minute.for_bucket(300)
    assert (five.bucket_s, five.threshold) == (300, 0.999)
    assert five.for_bucket(60).threshold == minute.threshold
    assert minute.for_bucket(10**9).threshold == 0.0
    with pytest.raises(ValueError, match="positive number of seconds"):
        minute.for_bucket(0)


def test_a_restored_detector_takes_the_configured_threshold() -> None:
    """Settings an operator changes apply to a saved detector on restart;
    what it has learnt is kept."""
    times, values = seasonal(3)
    detector = StreamingDetector()
    for at, value in zip(times, values, strict=True):
        detector.observe(at, float(value))
    restored = pickle.loads(pickle.dumps(detector))
    # A threshold of 0 makes every scored bucket anomalous.
    changed = replace(
        DetectorSettings(), threshold=0.0, min_support=5.0, episode_gap_s=60.0
    )
    restored.adopt(changed)
    assert restored.settings.min_support == 5.0
    assert restored.settings.episode_gap_s == 60.0
    assert detector.warm and restored.warm
    at = times[-1] + timedelta(minutes=5)
    before = detector.observe(at, float(values[-1]))
    after = restored.observe(at, float(values[-1]))
    assert after.score == before.score
    assert (before.anomalous, after.anomalous) == (False, True)
