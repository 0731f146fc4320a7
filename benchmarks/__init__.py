"""Benchmark scripts (run from the repository root: ``python benchmarks/<script>.py``); see docs/benchmarks.md."""
