"""``flowguard bench nab`` on a few shared NAB files, end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.nab_scoring import load_corpus
from processing.anomaly import DetectorSettings

NAB_ROOT = Path(__file__).parents[3] / "shared" / "data" / "nab"
FILES = [
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialNoAnomaly/art_daily_small_noise.csv",
    "realAWSCloudwatch/ec2_network_in_257a54.csv",
]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowguard", "bench", "nab", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_harness_scores_files_and_writes_nab_results(tmp_path: Path) -> None:
    done = _bench(
        "--data", str(NAB_ROOT), "--files", ",".join(FILES), "--out", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["threshold"] == DetectorSettings().threshold
    assert (
        f"threshold (fixed, the product default)   {summary['threshold']}"
        in done.stdout
    )
    # The files have 5-minute rows: the threshold keeps the minute's rate
    # of false alarms in time.
    five_minutes = DetectorSettings().for_bucket(300).threshold
    assert summary["thresholds"] == {"300": five_minutes}
    assert summary["files"] == 3
    assert set(summary["scores"]) == {
        "standard",
        "reward_low_FP_rate",
        "reward_low_FN_rate",
    }
    assert all(-100 <= s <= 100 for s in summary["scores"].values())

    corpus = load_corpus(NAB_ROOT, FILES)
    for name in FILES:
        category, file_name = name.split("/")
        result = tmp_path / "flowguard" / category / f"flowguard_{file_name}"
        with result.open(newline="") as file:
            rows = list(csv.DictReader(file))
        assert list(rows[0])[:4] == ["timestamp", "value", "anomaly_score", "label"]
        assert len(rows) == len(corpus.series[name].timestamps)
        assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)

    # The jump is found inside its window, and only there.
    jumps = (
        tmp_path
        / "flowguard"
        / "artificialWithAnomaly"
        / "flowguard_art_daily_jumpsup.csv"
    )
    with jumps.open(newline="") as file:
        rows = list(csv.DictReader(file))
    threshold = summary["thresholds"]["300"]
    fired = [r for r in rows if float(r["anomaly_score"]) >= threshold]
    assert fired and all(r["label"] == "1" for r in fired)
    # No anomaly at all on the series without one.
    assert summary["alerts_per_day_without_anomalies"] == 0.0


def test_bad_data_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    done = _bench("--data", str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "flowguard bench nab:" in done.stderr
    assert "Traceback" not in done.stderr
