"""Benchmarks: throughput and memory, measured, never asserted by tests."""
