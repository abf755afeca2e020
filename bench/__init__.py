"""Benchmarks and the load test (see bench/README.md); a package so bench/load/ imports as bench.load."""
