"""Benchmarks (run each as a script; see docs/benchmarks.md)."""
