"""Detection over a whole stored series, as the production loop runs it.

``detect_series`` feeds a series through the streaming detector bucket by
bucket and joins the walk-forward offline score of each bucket, so a
series read back from storage (or a benchmark file) is judged exactly as
if its buckets had arrived one at a time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime

from processing.anomaly.offline import build_features, walk_forward
from processing.anomaly.settings import DetectorSettings
from processing.anomaly.streaming import StreamingDetector
from processing.anomaly.verdicts import Verdict

__all__ = ["detect_series"]


def detect_series(
    timestamps: Sequence[datetime],
    values: Sequence[float | None],
    settings: DetectorSettings | None = None,
    support: Sequence[float | None] | None = None,
) -> list[Verdict]:
    """One verdict per bucket of a series, oldest first.

    ``timestamps`` must not go back (a repeated one is kept). ``values``
    may hold ``None`` (or NaN) for buckets without data. ``support``
    gives the traffic behind each bucket when the series is a rate or a
    latency.

    Raises:
        ValueError: the sequences differ in length or the timestamps go
            back.
    """
    settings = settings or DetectorSettings()
    if len(values) != len(timestamps) or (
        support is not None and len(support) != len(timestamps)
    ):
        msg = (
            f"a series needs one value per timestamp: {len(timestamps)} timestamps, "
            f"{len(values)} values"
            + ("" if support is None else f", {len(support)} support values")
        )
        raise ValueError(msg)
    for earlier, later in itertools.pairwise(timestamps):
        if later < earlier:
            msg = (
                f"timestamps must not go back: {later.isoformat()} "
                f"follows {earlier.isoformat()}"
            )
            raise ValueError(msg)
    offline: list[float | None] = [None] * len(values)
    if settings.offline_enabled and timestamps:
        numbers = [math.nan if v is None else float(v) for v in values]
        features = build_features(timestamps, {"value": numbers})
        offline = walk_forward(timestamps, features, settings)
    detector = StreamingDetector(settings)
    return [
        detector.observe(
            at,
            values[k],
            None if support is None else support[k],
            offline[k],
        )
        for k, at in enumerate(timestamps)
    ]
