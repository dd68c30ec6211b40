"""Anomaly detection on KPI series: streaming, offline, calibrated, merged.

Each watched KPI series has a ``StreamingDetector`` that scores every
closed bucket against a seasonal baseline and then learns from it; an
``OfflineModel`` (an IsolationForest over several KPIs of a service) is
retrained on a schedule and scores buckets in batch. Both give tail
probabilities, which ``combine_scores`` turns into one score in [0, 1];
``DetectorSettings.threshold`` makes it an anomaly, and anomalous buckets
close in time are one episode. ``detect_series`` runs the whole stack
over a stored series.
"""

from processing.anomaly.calibration import combine_scores
from processing.anomaly.episodes import Episode, merge_episodes
from processing.anomaly.offline import OfflineModel, build_features, walk_forward
from processing.anomaly.series import detect_series
from processing.anomaly.settings import DetectorSettings
from processing.anomaly.streaming import StreamingDetector
from processing.anomaly.verdicts import Verdict

__all__ = [
    "DetectorSettings",
    "Episode",
    "OfflineModel",
    "StreamingDetector",
    "Verdict",
    "build_features",
    "combine_scores",
    "detect_series",
    "merge_episodes",
    "walk_forward",
]
