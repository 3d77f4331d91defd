"""LeadLoop's benchmarks: `make bench` (or `python -m bench.run`) runs them side by side."""
