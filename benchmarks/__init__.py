"""The benchmark (`make bench`): see benchmarks/run.py and docs/performance.md."""
