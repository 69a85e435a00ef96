"""Helpers the tests and the benchmarks in bench/ share: running seedpress, seeds and archives,
a real server, what pandoc and a PDF reader see, the edition fixtures, hypothesis strategies.

Plain functions and constants, no pytest fixtures (those are in tests/conftest.py), so that
bench/ imports them too (it puts tests/ on sys.path).
"""
