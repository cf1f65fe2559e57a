"""nodkit's benchmark: synthetic data at municipal scale through the real
source adapters, the real export, and a bare reportlab canvas loop as the
floor. Run with `python -m bench` or `make bench` (docs/performance.md)."""
