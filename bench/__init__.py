"""Speed measurements: `vcn bench model|http|train|threads` (results and commands in BENCHMARKS.md)."""
