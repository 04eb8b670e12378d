"""Benchmarks: speed and memory requirements, measured (not asserted) and written to results.json."""
