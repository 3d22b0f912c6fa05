"""Helpers of the test suite: plain functions and classes, no fixtures (those live in the
conftest.py files)."""
