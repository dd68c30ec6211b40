"""The processors FlowGuard ships, by the names configuration uses.

Each name stands for an import path, so that a processor's module is only
loaded when a chain names it.
"""

from __future__ import annotations

__all__ = ["BUILTIN_PROCESSORS"]

BUILTIN_PROCESSORS: dict[str, str] = {
    "severity": "processing.log_processors:SeverityProcessor",
    "tags": "processing.log_processors:TagProcessor",
    "patterns": "processing.log_processors:PatternProcessor",
    "temporality": "processing.temporality:TemporalityProcessor",
    "kpis": "processing.kpis:KpiProcessor",
}
