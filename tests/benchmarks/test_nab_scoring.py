"""NAB scoring: hand-computed raw scores, baselines, probation and real files."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.nab_scoring import (
    Corpus,
    NabDataError,
    Profile,
    Series,
    Window,
    load_corpus,
    load_profiles,
    normalised_score,
    normalised_scores,
    probation_rows,
    score_file,
)

NAB_ROOT = Path(__file__).parents[3] / "shared" / "data" / "nab"
STANDARD = Profile(
    "standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0, tn_weight=1.0
)
LOW_FN = Profile(
    "reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0, tn_weight=1.0
)
START = datetime(2024, 1, 1)
ROWS = 40
# Rows 20 to 24 form the window: five rows wide, last row 24.
WINDOW_FIRST, WINDOW_LAST = 20, 24


def _stamp(row: int) -> datetime:
    return START + timedelta(minutes=5 * row)


def _tiny_series(windows: tuple[tuple[int, int], ...] = ((20, 24),)) -> Series:
    return Series(
        name="tiny/one_window.csv",
        timestamps=tuple(_stamp(row) for row in range(ROWS)),
        values=tuple(float(row % 7) for row in range(ROWS)),
        windows=tuple(Window(_stamp(first), _stamp(last)) for first, last in windows),
    )


def _firing_at(*rows: int) -> list[bool]:
    return [row in rows for row in range(ROWS)]


def test_probation_is_fifteen_percent_of_rows_capped_at_750() -> None:
    """Probation is floor(15% of the rows), but never more than 750 rows."""
    assert probation_rows(ROWS) == 6
    assert probation_rows(4032) == 604
    assert probation_rows(15902) == 750


def test_raw_score_matches_the_hand_computed_value() -> None:
    """One detection in the window and two outside add up as NAB defines."""
    # NAB's scaled sigmoid is 2 * sigmoid(-5p) - 1, which equals tanh(-2.5p).
    # Probation is floor(0.15 * 40) = 6 rows, so rows 6 to 39 are scored.
    # Row 22 in the window (rows 20-24, width 5): p = -(24 - 22 + 1) / 5 = -0.6,
    #   reward = tanh(1.5) / tanh(2.5) (scaled so the first row earns 1)
    #          = 0.905148 / 0.986614 = 0.917428.
    # Row 10, before any window: cost -fpWeight = -0.11.
    # Row 30, after the window: p = (30 - 24) / (5 - 1) = 1.5,
    #   cost = 0.11 * tanh(-3.75) = 0.11 * -0.998894 = -0.109878.
    # Raw = 0.917428 - 0.11 - 0.109878 = 0.697550.
    expected = math.tanh(1.5) / math.tanh(2.5) - 0.11 - 0.11 * math.tanh(3.75)

    score = score_file(_tiny_series(), _firing_at(10, 22, 30), STANDARD)

    assert score.raw == pytest.approx(expected, abs=1e-12)
    assert score.raw == pytest.approx(0.697550, abs=1e-6)
    # 34 scored rows: 5 in the window (1 fired), 29 outside it (2 fired).
    assert (score.tp, score.fp, score.fn, score.tn) == (1, 2, 4, 27)
    assert (score.windows_detected, score.windows_scored) == (1, 1)


def test_a_missed_window_costs_fn_weight() -> None:
    """With no detection the only term is -fnWeight per window."""
    assert score_file(_tiny_series(), _firing_at(), STANDARD).raw == -1.0
    assert score_file(_tiny_series(), _firing_at(), LOW_FN).raw == -2.0


def test_detection_at_the_window_start_earns_exactly_tp_weight() -> None:
    """The first row of a window earns tpWeight, the last row a little."""
    first = score_file(_tiny_series(), _firing_at(WINDOW_FIRST), STANDARD)
    last = score_file(_tiny_series(), _firing_at(WINDOW_LAST), STANDARD)

    assert first.raw == pytest.approx(1.0, abs=1e-12)
    # p = -1 / 5 = -0.2: reward = tanh(0.5) / tanh(2.5) = 0.468260.
    assert last.raw == pytest.approx(math.tanh(0.5) / math.tanh(2.5), abs=1e-12)


def test_only_the_first_detection_in_a_window_counts() -> None:
    """Later detections in the same window neither add nor cost anything."""
    once = score_file(_tiny_series(), _firing_at(22), STANDARD)
    many = score_file(_tiny_series(), _firing_at(22, 23, 24), STANDARD)

    assert many.raw == once.raw
    assert many.tp == 3
    assert many.windows_detected == 1


def test_detections_in_probation_are_ignored() -> None:
    """Rows 0-5 are probation: firing there changes neither score nor counts."""
    quiet = score_file(_tiny_series(), _firing_at(), STANDARD)
    early = score_file(_tiny_series(), _firing_at(0, 3, 5), STANDARD)
    just_after = score_file(_tiny_series(), _firing_at(6), STANDARD)

    assert early == quiet
    assert early.fp == 0
    assert just_after.raw == pytest.approx(-1.11, abs=1e-12)


def test_a_window_wholly_in_probation_is_not_scored() -> None:
    """A window ending inside probation neither rewards nor costs."""
    series = _tiny_series(windows=((2, 4), (20, 24)))

    missed = score_file(series, _firing_at(), STANDARD)
    # Row 10 follows the probation window (width 3): p = (10 - 4) / 2 = 3 is
    # not beyond 3, so the cost is 0.11 * tanh(-7.5), not the full 0.11.
    after = score_file(series, _firing_at(10), STANDARD)

    assert missed.raw == -1.0
    assert missed.windows_scored == 1
    assert after.raw == pytest.approx(-1.0 + 0.11 * math.tanh(-7.5), abs=1e-12)


def test_false_positive_just_after_a_window_costs_less_than_a_far_one() -> None:
    """Cost grows with the distance after the window, then is the full weight."""
    near = score_file(_tiny_series(), _firing_at(25), STANDARD).raw + 1.0
    far = score_file(_tiny_series(), _firing_at(38), STANDARD).raw + 1.0

    # Row 25: p = (25 - 24) / 4 = 0.25, cost = 0.11 * tanh(-0.625) = -0.060906.
    assert near == pytest.approx(0.11 * math.tanh(-0.625), abs=1e-12)
    # Row 38: p = 14 / 4 = 3.5 > 3, charged the full fpWeight.
    assert far == pytest.approx(-0.11, abs=1e-12)
    assert far < near < 0


def test_null_scores_zero_and_perfect_scores_one_hundred() -> None:
    """The two baselines map to 0 and 100 under every profile."""
    corpus = Corpus({"tiny/one_window.csv": _tiny_series()})
    profiles = {"standard": STANDARD, "reward_low_FN_rate": LOW_FN}

    null = normalised_scores(corpus, {"tiny/one_window.csv": _firing_at()}, profiles)
    perfect = normalised_scores(
        corpus, {"tiny/one_window.csv": _firing_at(WINDOW_FIRST)}, profiles
    )

    assert null == {"standard": 0.0, "reward_low_FN_rate": 0.0}
    assert perfect == pytest.approx({"standard": 100.0, "reward_low_FN_rate": 100.0})


def test_normalised_score_is_the_raw_score_placed_between_the_baselines() -> None:
    """100 * (raw - null) / (perfect - null), with null -1 and perfect 1."""
    corpus = Corpus({"tiny/one_window.csv": _tiny_series()})
    detections = {"tiny/one_window.csv": _firing_at(10, 22, 30)}
    raw = score_file(_tiny_series(), detections["tiny/one_window.csv"], STANDARD).raw

    score = normalised_score(corpus, detections, STANDARD)

    assert score == pytest.approx(100.0 * (raw + 1.0) / 2.0, abs=1e-9)
    assert score == pytest.approx(84.8775, abs=1e-4)


def test_detections_must_cover_every_file_and_row() -> None:
    """A missing file or a wrong number of flags is refused."""
    corpus = Corpus({"tiny/one_window.csv": _tiny_series()})

    with pytest.raises(ValueError, match="no detections"):
        normalised_score(corpus, {}, STANDARD)
    with pytest.raises(ValueError, match="40 rows but 3 detections"):
        score_file(_tiny_series(), [False] * 3, STANDARD)


def _write_nab(root: Path, windows: list[list[str]]) -> None:
    (root / "data" / "tiny").mkdir(parents=True)
    lines = ["timestamp,value"]
    lines += [f"{_stamp(row)},{row}" for row in range(ROWS)]
    (root / "data" / "tiny" / "one_window.csv").write_text("\n".join(lines) + "\n")
    (root / "labels").mkdir()
    labels = {"tiny/one_window.csv": windows, "tiny/absent.csv": []}
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))


def test_load_corpus_reads_labelled_files_that_exist(tmp_path: Path) -> None:
    """Files missing under data/ are skipped; windows use NAB's format."""
    window = [f"{_stamp(20)}.000000", f"{_stamp(24)}.000000"]
    _write_nab(tmp_path, [window])

    corpus = load_corpus(tmp_path)

    assert list(corpus.series) == ["tiny/one_window.csv"]
    series = corpus.series["tiny/one_window.csv"]
    assert series.timestamps[:2] == (START, _stamp(1))
    assert series.values[-1] == 39.0
    assert series.windows == (Window(_stamp(20), _stamp(24)),)


def test_load_corpus_refuses_window_bounds_off_the_timestamps(tmp_path: Path) -> None:
    """NAB requires window bounds to be timestamps of the file."""
    _write_nab(tmp_path, [[str(_stamp(20) + timedelta(minutes=1)), str(_stamp(24))]])

    with pytest.raises(NabDataError, match="exact matches"):
        load_corpus(tmp_path)
    with pytest.raises(NabDataError, match="does not exist"):
        load_corpus(tmp_path, ["tiny/absent.csv"])


@pytest.mark.skipif(not NAB_ROOT.is_dir(), reason=f"no NAB data at {NAB_ROOT}")
def test_real_nab_files_load_and_score() -> None:
    """Two shared NAB files load with their windows and score as expected."""
    names = [
        "realTweets/Twitter_volume_AAPL.csv",
        "artificialWithAnomaly/art_daily_jumpsup.csv",
    ]
    corpus = load_corpus(NAB_ROOT, names)
    profiles = load_profiles(NAB_ROOT)
    aapl = corpus.series[names[0]]

    assert sorted(profiles) == ["reward_low_FN_rate", "reward_low_FP_rate", "standard"]
    assert profiles["reward_low_FP_rate"].fp_weight == 0.22
    assert len(aapl.timestamps) == 15902
    assert aapl.values[:2] == (104.0, 100.0)
    assert len(aapl.windows) == 4
    assert len(corpus.series[names[1]].windows) == 1

    quiet = {name: [False] * len(s.timestamps) for name, s in corpus.series.items()}
    low_fn = profiles["reward_low_FN_rate"]
    assert score_file(aapl, quiet[names[0]], low_fn).raw == -8.0
    assert normalised_scores(corpus, quiet, profiles) == dict.fromkeys(profiles, 0.0)
