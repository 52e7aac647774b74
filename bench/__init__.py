"""Benchmarks of the exchange: ``python -m bench`` (see ``bench/README.md``)."""
