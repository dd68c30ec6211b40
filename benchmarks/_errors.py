"""The benchmark's own error."""

from __future__ import annotations

__all__ = ["BenchmarkError"]


class BenchmarkError(RuntimeError):
    """A benchmark could not be run to the end, so it has no result."""
