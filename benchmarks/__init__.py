"""Benchmarks: throughput and memory, measured, never asserted by tests."""

from __future__ import annotations

__all__: list[str] = []
