"""The benchmark suite of mews-vouchers: ``python -m benchmarks.run`` (see README.md)."""
