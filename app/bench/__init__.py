"""Benchmarks: the overhead table (native vs mirrored), measured side by side."""
