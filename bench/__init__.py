"""Benchmarks (make bench). Speed goals are measured here, never asserted in tests."""
