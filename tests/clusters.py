"""The private clusters the tests start; shared with the benchmarks."""

from __future__ import annotations

from benchmarks.cluster import PG15_BIN, Cluster, free_port, timescaledb_installed

__all__ = ["PG15_BIN", "Cluster", "free_port", "timescaledb_installed"]
