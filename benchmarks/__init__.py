"""Benchmarks of reconciler: not tests, not run by CI. See README.md here."""
