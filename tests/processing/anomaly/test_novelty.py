"""The novelty detector: distance of the latest shape to the shapes seen."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from processing.anomaly._novelty import NoveltyDetector


def _fed(values: list[float], length: int = 3, memory: int = 500) -> NoveltyDetector:
    detector = NoveltyDetector(length, memory)
    for value in values:
        detector.learn(value)
    return detector


def _brute_force(history: list[float], value: float, length: int) -> float:
    """The nearest past shape entirely before the current one, by hand."""
    shape = np.array([*history[len(history) - length + 1 :], value])
    last_start = len(history) - length + 1 - length
    return min(
        float(np.linalg.norm(np.array(history[s : s + length]) - shape))
        for s in range(last_start + 1)
    )


def test_a_shape_never_seen_is_far_and_a_repeated_one_is_near() -> None:
    """A spike in a sine wave is far from every past shape; the next
    ordinary value of the wave has a close neighbour."""
    wave = [math.sin(2 * math.pi * k / 24) for k in range(400)]
    detector = _fed(wave)
    ordinary = detector.surprise(math.sin(2 * math.pi * 400 / 24))
    spike = detector.surprise(5.0)
    assert ordinary is not None and spike is not None
    assert ordinary < 1e-9
    assert spike > 3.9


def test_distances_match_a_brute_force_search() -> None:
    """The distance is the nearest non-overlapping past shape's, for
    several shape lengths."""
    rng = np.random.default_rng(7)
    history = rng.normal(0, 1, 120).tolist()
    for length in (1, 3, 5):
        detector = _fed(history, length)
        found = detector.surprise(0.25)
        assert found == pytest.approx(_brute_force(history, 0.25, length))


def test_a_new_level_soon_has_neighbours_of_its_own() -> None:
    """After a level shift the distance falls back once the new level has
    lasted longer than a shape."""
    detector = _fed([0.0] * 200)
    distances = []
    for _ in range(8):
        found = detector.surprise(10.0)
        assert found is not None
        distances.append(found)
        detector.learn(10.0)
    assert distances[0] == pytest.approx(10.0)
    assert distances[-1] == pytest.approx(0.0)


def test_no_distance_before_enough_shapes_and_none_for_gaps() -> None:
    """Too short a history and a bucket without data give no distance."""
    detector = _fed([1.0] * 20)
    assert detector.surprise(1.0) is None
    detector = _fed([1.0] * 100)
    assert detector.surprise(math.nan) is None
    detector.learn(math.nan)
    assert detector.surprise(1.0) == 0.0


def test_memory_is_bounded_and_forgets_the_oldest_shapes() -> None:
    """Past the memory the oldest values are forgotten: a spike seen long
    ago is novel again, and the buffer stays its fixed size."""
    detector = _fed([9.0, 9.0, 9.0] + [0.0] * 600, length=3, memory=100)
    assert detector.surprise(9.0) == pytest.approx(9.0)
    assert len(detector._buffer) == 2 * (100 + 3)
    recent = _fed([0.0] * 200 + [9.0, 9.0, 9.0] + [0.0] * 50, length=3, memory=100)
    assert recent.surprise(9.0) == pytest.approx(0.0)


def test_a_restored_detector_gives_the_same_distances() -> None:
    """A pickled copy continues exactly as the original."""
    rng = np.random.default_rng(3)
    detector = _fed(rng.normal(0, 1, 300).tolist(), memory=120)
    copy: NoveltyDetector = pickle.loads(pickle.dumps(detector))
    for value in rng.normal(0, 1, 50):
        assert copy.surprise(float(value)) == detector.surprise(float(value))
        copy.learn(float(value))
        detector.learn(float(value))


def test_bad_sizes_are_refused_with_the_limits() -> None:
    with pytest.raises(ValueError, match="shape length of at least 1"):
        NoveltyDetector(0, 500)
    with pytest.raises(ValueError, match="memory of at least 53"):
        NoveltyDetector(3, 20)
