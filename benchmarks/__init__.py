"""Benchmark scripts; numbers go to docs/benchmarks.md with the command that produced them."""
