"""Benchmarks of Commune Pulse. `python -m bench.ratings` measures the citizen rating path."""
