"""Shared fixtures of the acim Python tests (run by ctest's python_tests, or
PYTHONPATH=python:build/<preset>/python .venv/bin/python -m pytest python/tests)."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(os.environ.get("ACIM_SOURCE_DIR", pathlib.Path(__file__).parents[2]))


@pytest.fixture
def root() -> pathlib.Path:
    return ROOT
